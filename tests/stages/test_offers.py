"""Offers: volumes joined to prices and registration; what cannot be joined is reported."""

from __future__ import annotations

import polars as pl

from bidstack.stages.offers import build_offers

from pipeline_frames import FIRST, day_bid, registration, volume_bids


def test_offers_join_and_report() -> None:
    volumes = pl.DataFrame(
        volume_bids("GEN1", 3)
        + volume_bids("NOPRICE", 2)
        + volume_bids("GHOST", 2)
        + volume_bids("PUMP", 2, direction="LOAD")
        + volume_bids("PUMP", 2)
    )
    prices = pl.DataFrame(
        [day_bid("GEN1"), day_bid("GHOST"), day_bid("PUMP"), day_bid("PUMP", direction="LOAD")]
    )
    units = pl.concat([registration("GEN1", "NOPRICE", "PUMP")])
    book = build_offers(volumes, prices, units)
    assert book.offers.get_column("duid").to_list() == ["GEN1"] * 3 + ["PUMP"] * 2
    first = book.offers.row(0, named=True)
    assert first["interval_datetime"] == FIRST and first["priceband10"] == 15000.0
    assert first["regionid"] == "SA1" and first["participantid"] == "P_GEN1"
    kinds = book.problems.group_by("kind", "duid").len().sort("kind").rows()
    assert kinds == [
        ("load_not_modelled", "PUMP", 2),
        ("no_price_bands", "NOPRICE", 2),
        ("no_registration", "GHOST", 2),
    ]
    assert volumes.height == book.offers.height + book.problems.height


def test_bids_before_version_3_have_no_direction() -> None:
    volumes = pl.DataFrame(volume_bids("GEN1", 2)).drop("direction")
    prices = pl.DataFrame([day_bid("GEN1")]).drop("direction")
    book = build_offers(volumes, prices, registration("GEN1"))
    assert book.offers.height == 2 and book.problems.height == 0
