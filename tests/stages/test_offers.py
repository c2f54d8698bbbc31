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
    assert book.offers.get_column("duid").to_list() == ["GEN1", "PUMP"] * 2 + ["GEN1"]
    assert book.offers.equals(book.offers.sort("interval_datetime", "duid"))  # time, then unit
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


def test_offers_carry_the_registered_loss_factors(sample_ingest) -> None:
    """Real TLF x DLF of the samples' units, as dispatch divides their band prices by them."""
    from bidstack.market_data import load_offers

    store, _ = sample_ingest
    for start, expected in (
        ("2024-09-01 04:00", {"AGLHAL": 0.9565, "HDWF2": 0.9423}),
        ("2019-12-01 04:00", {"AGLHAL": 0.9748, "HDWF2": 0.9698}),
    ):
        end = str(pl.Series([start]).str.to_datetime()[0].replace(hour=5))
        book = load_offers(store, start, end)
        mlf = book.offers.group_by("duid").agg(pl.col("mlf").unique()).rows()
        assert dict((duid, values) for duid, values in mlf) == {
            duid: [value] for duid, value in expected.items()
        }
