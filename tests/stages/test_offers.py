"""Offers: volumes joined to prices and registration; what cannot be joined is reported."""

from __future__ import annotations

import polars as pl
import pytest

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


def test_1_july_intervals_before_4am_are_offered_at_the_new_loss_factors(sample_ingest) -> None:
    """OAKLAND1's loss factors change on 2024-07-01 (nempy snapshot: TLF 0.9993 x DLF 0.893,
    from 1.0). Its bids for the trading day of 30 June run to 04:00 on 1 July; the intervals
    ending after midnight are referred at the new factor, as settlement settles them; the one
    ending at midnight, on 30 June, at the old."""
    from datetime import date, datetime

    from bidstack.io import read
    from bidstack.stages.offers import offer_dates, registration

    store, _ = sample_ingest
    trading_day = datetime(2024, 6, 30)
    ends = [datetime(2024, 7, 1, 0, 0), datetime(2024, 7, 1, 0, 5), datetime(2024, 7, 1, 4, 0)]
    volumes = pl.DataFrame(
        [row | {"settlementdate": trading_day, "interval_datetime": end}
         for row, end in zip(volume_bids("OAKLAND1", 3), ends, strict=True)]
    )  # fmt: skip
    prices = pl.DataFrame([day_bid("OAKLAND1") | {"settlementdate": trading_day}])
    assert offer_dates(volumes) == [date(2024, 6, 30), date(2024, 7, 1)]
    summary, detail = (read(store, table).collect() for table in ("DUDETAILSUMMARY", "DUDETAIL"))
    book = build_offers(volumes, prices, registration(summary, detail, offer_dates(volumes)))
    assert book.problems.is_empty()
    offered = book.offers.sort("interval_datetime")
    assert offered["trading_day"].to_list() == [trading_day.date()] * 3
    new = 0.9993 * 0.893
    assert offered["mlf"].to_list() == pytest.approx([1.0, new, new], abs=1e-12)
