"""Read-back semantics: windows, pricing run, latest bids, trading days, zero-filled local
prices, registration rows in force."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bidstack.errors import InputError, StoreError
from bidstack.io import (
    Store,
    effective_on,
    market_time,
    read,
    read_effective,
    read_local_price,
    trading_day,
    write_table,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        ("2024-09-01 04:00", date(2024, 8, 31)),
        ("2024-09-01 04:05", date(2024, 9, 1)),
        ("2024-09-01 23:55", date(2024, 9, 1)),
        ("2024-09-02 00:00", date(2024, 9, 1)),
        ("2024-09-02 04:00", date(2024, 9, 1)),
        ("2024-09-02 04:00:01", date(2024, 9, 2)),
    ],
)
def test_trading_day_runs_0400_to_0400_period_ending(moment: str, day: date):
    assert trading_day(moment) == day
    assert trading_day(at(moment)) == day
    frame = pl.DataFrame({"t": [at(moment)]})
    assert frame.select(trading_day(pl.col("t")))["t"].to_list() == [day]


def test_market_time_converts_aware_times_to_aest():
    assert market_time(datetime(2024, 9, 1, 0, 0, tzinfo=UTC)) == datetime(2024, 9, 1, 10, 0)
    assert market_time(date(2024, 9, 1)) == datetime(2024, 9, 1)
    with pytest.raises(InputError, match="not an ISO date"):
        market_time("1 Sept")


@pytest.fixture
def price_store(tmp_path):
    store = tmp_path / "store"
    times = [at("2024-09-01 00:05"), at("2024-09-01 00:10"), at("2024-09-01 00:15")]
    write_table(
        store,
        "DISPATCHPRICE",
        pl.DataFrame(
            {
                "settlementdate": [*times, times[1]],
                "runno": [1, 1, 1, 1],
                "regionid": ["NSW1"] * 4,
                "dispatchinterval": [1, 2, 3, 2],
                "intervention": [0, 0, 0, 1],
                "rrp": [50.0, 60.0, 70.0, 999.0],
            }
        ),
    )
    return store


def test_window_is_start_exclusive_end_inclusive(price_store):
    frame = read(price_store, "DISPATCHPRICE", "2024-09-01 00:05", "2024-09-01 00:15").collect()
    assert frame["settlementdate"].to_list() == [at("2024-09-01 00:10"), at("2024-09-01 00:15")]


def test_prices_keep_the_pricing_run_only(price_store):
    assert read(price_store, "DISPATCHPRICE").collect()["rrp"].to_list() == [50.0, 60.0, 70.0]
    raw = read(price_store, "DISPATCHPRICE", raw=True).collect()
    assert sorted(raw["rrp"].to_list()) == [50.0, 60.0, 70.0, 999.0]


def test_rows_stored_twice_are_read_once_latest_change_first(price_store):
    duplicate = {
        "settlementdate": [at("2024-09-01 00:05")],
        "runno": [1],
        "regionid": ["NSW1"],
        "dispatchinterval": [1],
        "intervention": [0],
        "rrp": [55.0],
        "lastchanged": [at("2024-09-01 00:06")],
    }
    write_table(price_store, "DISPATCHPRICE", pl.DataFrame(duplicate), source="revision")
    assert read(price_store, "DISPATCHPRICE").collect()["rrp"].to_list() == [55.0, 60.0, 70.0]


def test_read_errors(price_store, tmp_path):
    with pytest.raises(InputError, match="end 2024-09-01 00:00:00 is before start"):
        read(price_store, "DISPATCHPRICE", "2024-09-02", "2024-09-01")
    with pytest.raises(InputError, match="DISPATCHPRICE has no DUID column"):
        read(price_store, "DISPATCHPRICE", duids=["AGLHAL"])
    with pytest.raises(InputError, match="unknown table"):
        read(price_store, "NOT_A_TABLE")
    with pytest.raises(StoreError, match="no such store"):
        read(tmp_path / "missing", "DISPATCHPRICE")


def test_a_table_not_stored_reads_empty_with_its_schema(price_store):
    frame = read(price_store, "DISPATCHLOAD").collect()
    assert frame.height == 0
    assert frame.schema["totalcleared"] == pl.Float64 and "month" not in frame.schema


def test_dispatchload_pricing_run_and_duids(tmp_path):
    write_table(
        tmp_path,
        "DISPATCHLOAD",
        pl.DataFrame(
            {
                "settlementdate": [at("2024-09-01 00:05")] * 3,
                "runno": [1, 1, 1],
                "duid": ["AGLHAL", "AGLHAL", "HDWF2"],
                "intervention": [0, 1, 0],
                "totalcleared": [100.0, 90.0, 50.0],
            }
        ),
    )
    frame = read(tmp_path, "DISPATCHLOAD", duids=["AGLHAL"]).collect()
    assert frame.select("duid", "intervention", "totalcleared").rows() == [("AGLHAL", 0, 100.0)]


def day_offers(*rows):
    columns = ("settlementdate", "duid", "bidtype", "versionno", "offerdate", "priceband1")
    return pl.DataFrame([dict(zip(columns, row, strict=True)) for row in rows])


@pytest.fixture
def bid_store(tmp_path):
    store = tmp_path / "store"
    d1, d2 = at("2024-09-01"), at("2024-09-02")
    write_table(
        store,
        "BIDDAYOFFER_D",
        day_offers(
            (d1, "AGLHAL", "ENERGY", 1, at("2024-08-30 10:00"), -1000.0),
            (d1, "AGLHAL", "ENERGY", 2, at("2024-08-30 09:00"), 10.0),
            (d1, "AGLHAL", "ENERGY", 2, at("2024-08-31 12:00"), 20.0),
            (d1, "AGLHAL", "RAISEREG", 1, at("2024-08-30 10:00"), 5.0),
            (d2, "AGLHAL", "ENERGY", 1, at("2024-09-01 10:00"), 30.0),
        ),
    )
    return store


def test_bids_are_the_latest_per_key_by_versionno_then_offerdate(bid_store):
    frame = read(bid_store, "BIDDAYOFFER_D").collect()
    assert frame.select("settlementdate", "bidtype", "versionno", "priceband1").rows() == [
        (at("2024-09-01"), "ENERGY", 2, 20.0),
        (at("2024-09-02"), "ENERGY", 1, 30.0),
    ]


def test_other_bid_types_on_request(bid_store):
    every = read(bid_store, "BIDDAYOFFER_D", bidtype=None).collect()
    assert sorted(every["bidtype"].to_list()) == ["ENERGY", "ENERGY", "RAISEREG"]
    raise_reg = read(bid_store, "BIDDAYOFFER_D", bidtype="RAISEREG").collect()
    assert raise_reg["priceband1"].to_list() == [5.0]


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        ("2024-09-01 04:00", "2024-09-02 04:00", [at("2024-09-01")]),
        ("2024-09-01 03:00", "2024-09-01 05:00", [at("2024-09-01")]),
        ("2024-09-01 04:00", "2024-09-02 04:05", [at("2024-09-01"), at("2024-09-02")]),
        ("2024-09-02 00:00", "2024-09-02 01:00", [at("2024-09-01")]),
        ("2024-09-02 05:00", "2024-09-03 01:00", [at("2024-09-02")]),
    ],
)
def test_daily_bids_are_selected_by_trading_day(bid_store, start, end, days):
    frame = read(bid_store, "BIDDAYOFFER_D", start, end).collect()
    assert frame["settlementdate"].to_list() == days


def test_per_interval_bids_are_latest_per_interval(tmp_path):
    interval = at("2024-09-01 04:05")
    columns = ("settlementdate", "duid", "bidtype", "interval_datetime", "versionno", "offerdate")
    rows = [
        (at("2024-09-01"), "AGLHAL", "ENERGY", interval, 1, at("2024-08-30"), 100.0),
        (at("2024-09-01"), "AGLHAL", "ENERGY", interval, 3, at("2024-08-31"), 150.0),
    ]
    write_table(
        tmp_path,
        "BIDPEROFFER_D",
        pl.DataFrame([dict(zip((*columns, "maxavail"), row, strict=True)) for row in rows]),
    )
    frame = read(tmp_path, "BIDPEROFFER_D", "2024-09-01 04:00", "2024-09-01 04:05").collect()
    assert frame.select("versionno", "maxavail").rows() == [(3, 150.0)]


def test_local_price_missing_rows_mean_zero(tmp_path):
    write_table(
        tmp_path,
        "DISPATCH_LOCAL_PRICE",
        pl.DataFrame(
            {
                "settlementdate": [at("2024-09-01 00:10")],
                "duid": ["BHB1"],
                "local_price_adjustment": [-16.81],
                "locally_constrained": [1],
            }
        ),
    )
    dense = read_local_price(tmp_path, "2024-09-01 00:00", "2024-09-01 00:15", ["AGLHAL", "BHB1"])
    assert dense.collect().rows() == [
        (at("2024-09-01 00:05"), "AGLHAL", 0.0, 0),
        (at("2024-09-01 00:05"), "BHB1", 0.0, 0),
        (at("2024-09-01 00:10"), "AGLHAL", 0.0, 0),
        (at("2024-09-01 00:10"), "BHB1", -16.81, 1),
        (at("2024-09-01 00:15"), "AGLHAL", 0.0, 0),
        (at("2024-09-01 00:15"), "BHB1", 0.0, 0),
    ]
    chosen = read_local_price(
        tmp_path, "2024-09-01", "2024-09-02", ["BHB1"], intervals=["2024-09-01 00:10"]
    )
    assert chosen.collect()["local_price_adjustment"].to_list() == [-16.81]


@pytest.fixture
def unit_store(tmp_path):
    rows = [
        ("AGLHAL", at("2020-01-01"), 1, 200.0),
        ("AGLHAL", at("2020-01-01"), 2, 210.0),
        ("AGLHAL", at("2021-01-01"), 1, 220.0),
        ("HDWF2", at("2017-12-01"), 1, 102.0),
    ]
    columns = ("duid", "effectivedate", "versionno", "maxcapacity")
    frame = pl.DataFrame([dict(zip(columns, row, strict=True)) for row in rows])
    write_table(tmp_path, "DUDETAIL", frame)
    return tmp_path


def test_registration_row_in_force_on_each_date(unit_store):
    frame = read_effective(unit_store, "DUDETAIL", ["2019-06-01", "2020-06-01", "2021-06-01"])
    assert frame.collect().select("date", "duid", "versionno", "maxcapacity").sort(
        "date", "duid"
    ).rows() == [
        (at("2019-06-01"), "HDWF2", 1, 102.0),
        (at("2020-06-01"), "AGLHAL", 2, 210.0),
        (at("2020-06-01"), "HDWF2", 1, 102.0),
        (at("2021-06-01"), "AGLHAL", 1, 220.0),
        (at("2021-06-01"), "HDWF2", 1, 102.0),
    ]


def test_effective_on_works_on_any_frame():
    frame = pl.DataFrame(
        {
            "duid": ["A", "A"],
            "start_date": [at("2020-07-01"), at("2021-07-01")],
            "transmissionlossfactor": [0.97, 0.96],
        }
    )
    on = effective_on(frame, "DUDETAILSUMMARY", "2021-01-01").collect()
    assert on["transmissionlossfactor"].to_list() == [0.97]
    with pytest.raises(InputError, match="not an effective-dated"):
        effective_on(frame, "DISPATCHPRICE", "2021-01-01")


@pytest.mark.parametrize(
    ("start", "end", "capacities"),
    [
        ("2020-06-01", "2020-12-31", [210.0]),
        ("2020-06-01", "2021-06-01", [210.0, 220.0]),
        ("2019-01-01", "2019-12-31", []),
        (None, None, [210.0, 220.0]),
    ],
)
def test_registration_rows_in_force_during_the_window(unit_store, start, end, capacities):
    frame = read(unit_store, "DUDETAIL", start, end, ["AGLHAL"]).collect()
    assert frame["maxcapacity"].to_list() == capacities


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_trading_day_contains_the_moment(moment: datetime):
    day = trading_day(moment)
    opens = datetime.combine(day, datetime.min.time()) + timedelta(hours=4)
    assert opens < moment <= opens + timedelta(days=1)


def test_pricing_run_rows_stored_without_intervention_are_an_error_not_nothing(tmp_path):
    # a store written before write_table refused them: DISPATCHLOAD rows with a null INTERVENTION
    frame = pl.DataFrame({"settlementdate": [at("2024-07-10 12:05")] * 2, "duid": ["A", "B"]})
    write_table(tmp_path, "DISPATCHLOAD", frame, intervention=0, source="nempy.db")
    [path] = (tmp_path / "dispatchload").rglob("*.parquet")
    table = pq.read_table(path)
    nulls = pa.nulls(table.num_rows, pa.int64())
    table = table.set_column(table.schema.get_field_index("intervention"), "intervention", nulls)
    pq.write_table(table, path)
    with pytest.raises(
        StoreError,
        match=r"DISPATCHLOAD: 2 stored row\(s\) asked for have no INTERVENTION value, so the "
        r"pricing run \(INTERVENTION = 0\) cannot be told from intervention runs \(from nempy.db\)",
    ):
        read(tmp_path, "DISPATCHLOAD", "2024-07-10 12:00", "2024-07-10 12:05").collect()
    assert read(tmp_path, "DISPATCHLOAD", raw=True).collect().height == 2
    assert (
        read(tmp_path, "DISPATCHLOAD", "2024-07-10 12:05", "2024-07-10 13:00").collect().height == 0
    )
    assert read(tmp_path, "DISPATCHLOAD", "2024-06-01", "2024-06-02").collect().height == 0


def test_interconnector_results_keep_the_pricing_run(tmp_path):
    flows = pl.DataFrame(
        {
            "settlementdate": [at("2024-07-10 12:05")] * 3,
            "runno": [1, 1, 1],
            "interconnectorid": ["VIC1-NSW1", "VIC1-NSW1", "V-SA"],
            "dispatchinterval": [1, 1, 1],
            "intervention": [0, 1, 0],
            "mwflow": [100.0, 90.0, -50.0],
        }
    )
    write_table(tmp_path, "DISPATCHINTERCONNECTORRES", flows)
    frame = read(tmp_path, "DISPATCHINTERCONNECTORRES", "2024-07-10 12:00", "2024-07-10 12:05")
    assert frame.collect().select("interconnectorid", "mwflow").rows() == [
        ("V-SA", -50.0),
        ("VIC1-NSW1", 100.0),
    ]


@pytest.fixture
def loss_store(tmp_path):
    """VIC1-NSW1's loss curve: 3 segments from 2020-07-01, then 2 from 2021-07-01 (version 1),
    revised the same day (version 2) to 2 other breakpoints; V-SA's from 2019."""
    rows = [
        ("VIC1-NSW1", at("2020-07-01"), 1, 1, -2300.0),
        ("VIC1-NSW1", at("2020-07-01"), 1, 2, 0.0),
        ("VIC1-NSW1", at("2020-07-01"), 1, 3, 2400.0),
        ("VIC1-NSW1", at("2021-07-01"), 1, 1, -2000.0),
        ("VIC1-NSW1", at("2021-07-01"), 1, 2, 2000.0),
        ("VIC1-NSW1", at("2021-07-01"), 2, 1, -2100.0),
        ("VIC1-NSW1", at("2021-07-01"), 2, 2, 2100.0),
        ("V-SA", at("2019-07-01"), 1, 1, -600.0),
    ]
    columns = ("interconnectorid", "effectivedate", "versionno", "losssegment", "mwbreakpoint")
    write_table(tmp_path, "LOSSMODEL", pl.DataFrame(rows, schema=columns, orient="row"))
    return tmp_path


@pytest.mark.parametrize(
    ("start", "end", "breakpoints"),
    [
        ("2021-01-01", "2021-01-02", [-600.0, -2300.0, 0.0, 2400.0]),
        ("2021-08-01", "2021-08-02", [-600.0, -2100.0, 2100.0]),
        ("2021-06-30", "2021-07-02", [-600.0, -2300.0, 0.0, 2400.0, -2100.0, 2100.0]),
    ],
)
def test_a_loss_curve_version_replaces_the_whole_curve(loss_store, start, end, breakpoints):
    frame = read(loss_store, "LOSSMODEL", start, end).collect()
    assert frame.schema["losssegment"] == pl.Int64
    assert frame["mwbreakpoint"].to_list() == breakpoints


def test_loss_curve_in_force_on_each_date(loss_store):
    frame = read_effective(loss_store, "LOSSMODEL", ["2021-01-01", "2021-08-01"]).collect()
    assert frame.columns[:2] == ["date", "interconnectorid"]
    assert frame.select("date", "interconnectorid", "versionno", "mwbreakpoint").rows() == [
        (at("2021-01-01"), "V-SA", 1, -600.0),
        (at("2021-01-01"), "VIC1-NSW1", 1, -2300.0),
        (at("2021-01-01"), "VIC1-NSW1", 1, 0.0),
        (at("2021-01-01"), "VIC1-NSW1", 1, 2400.0),
        (at("2021-08-01"), "V-SA", 1, -600.0),
        (at("2021-08-01"), "VIC1-NSW1", 2, -2100.0),
        (at("2021-08-01"), "VIC1-NSW1", 2, 2100.0),
    ]


def test_standing_data_is_read_whatever_the_window(tmp_path):
    links = pl.DataFrame(
        {
            "interconnectorid": ["VIC1-NSW1", "VIC1-NSW1", "T-V-MNSP1"],
            "regionfrom": ["VIC1", "VIC1", "TAS1"],
            "description": ["old", "new", None],
            "lastchanged": [at("2004-01-01"), at("2008-06-18 15:53:23"), None],
        }
    )
    write_table(tmp_path, "INTERCONNECTOR", links)
    for window in [
        (None, None),
        ("2024-07-10 12:00", "2024-07-10 12:05"),
        ("2000-01-01", "2000-01-02"),
    ]:
        frame = read(tmp_path, "INTERCONNECTOR", *window).collect()
        assert frame.select("interconnectorid", "description").rows() == [
            ("T-V-MNSP1", None),
            ("VIC1-NSW1", "new"),
        ]


def test_undated_rows_of_a_dated_table_are_read_whatever_the_window(tmp_path):
    # GENCONSETINVOKE's time column, STARTDATE, is not part of its key (INVOCATION_ID)
    invocations = pl.DataFrame(
        {"invocation_id": [1, 2], "startdate": [at("2024-07-01"), None], "genconsetid": ["A", "B"]}
    )
    write_table(tmp_path, "GENCONSETINVOKE", invocations)
    in_window = read(tmp_path, "GENCONSETINVOKE", "2024-06-30", "2024-07-02").collect()
    assert in_window["genconsetid"].to_list() == ["B", "A"]
    outside = read(tmp_path, "GENCONSETINVOKE", "2025-01-01", "2025-01-02").collect()
    assert outside["genconsetid"].to_list() == ["B"]


def test_mnsp_period_offers_are_selected_by_trading_day(tmp_path):
    offers = pl.DataFrame(
        {
            "settlementdate": [at("2021-02-01"), at("2021-02-02")],
            "offerdate": [at("2021-01-20 13:01:55")] * 2,
            "versionno": [1, 1],
            "participantid": ["BASSLINK"] * 2,
            "linkid": ["BLNKTAS"] * 2,
            "periodid": [1, 1],
            "maxavail": [478.0, 400.0],
        }
    )
    write_table(tmp_path, "MNSP_PEROFFER", offers)
    frame = read(tmp_path, "MNSP_PEROFFER", "2021-02-01 04:00", "2021-02-01 04:05").collect()
    assert frame["maxavail"].to_list() == [478.0]


def test_the_highest_version_wins_even_when_an_older_version_was_offered_later(tmp_path):
    # VERSIONNO first, then OFFERDATE: here version 2 was offered before version 1, so the
    # highest version is not the latest offer (ordering by OFFERDATE would pick version 1)
    day = at("2024-09-01")
    columns = ("settlementdate", "duid", "bidtype", "versionno", "offerdate", "priceband1")
    rows = [
        (day, "AGLHAL", "ENERGY", 1, at("2024-08-31 13:00"), 11.0),
        (day, "AGLHAL", "ENERGY", 2, at("2024-08-31 12:00"), 22.0),
        (day, "AGLHAL", "ENERGY", 2, at("2024-08-31 11:00"), 21.0),
    ]
    write_table(
        tmp_path, "BIDDAYOFFER_D", pl.DataFrame([dict(zip(columns, r, strict=True)) for r in rows])
    )
    frame = read(tmp_path, "BIDDAYOFFER_D").collect()
    assert frame.select("versionno", "priceband1").rows() == [(2, 22.0)]
    interval = at("2024-09-01 04:05")
    columns = ("settlementdate", "duid", "bidtype", "interval_datetime", "versionno", "offerdate",
               "maxavail")  # fmt: skip
    rows = [
        (day, "AGLHAL", "ENERGY", interval, 1, at("2024-08-31 13:00"), 100.0),
        (day, "AGLHAL", "ENERGY", interval, 3, at("2024-08-31 12:00"), 150.0),
    ]
    write_table(
        tmp_path / "per", "BIDPEROFFER_D",
        pl.DataFrame([dict(zip(columns, r, strict=True)) for r in rows]),
    )  # fmt: skip
    frame = read(tmp_path / "per", "BIDPEROFFER_D").collect()
    assert frame.select("versionno", "maxavail").rows() == [(3, 150.0)]


def test_a_store_opened_once_reads_as_read_does_and_never_writes(price_store, monkeypatch):
    import pickle
    import sys

    from bidstack.io import Store

    store = Store.open(price_store)
    calls = []
    monkeypatch.setattr(sys.modules["bidstack.io.read"], "recover", calls.append)
    for table, start, end in (("DISPATCHPRICE", None, None),
                              ("DISPATCHPRICE", "2024-09-01 00:05", "2024-09-01 00:15")):
        assert store.read(table, start, end).collect().equals(
            read(price_store, table, start, end).collect()
        )
    assert len(calls) == 2  # read(path) opens (and recovers) at every call; the Store did not
    assert str(store) == str(price_store) and read(store, "DISPATCHPRICE").collect().height == 3
    assert len(calls) == 2
    again = pickle.loads(pickle.dumps(store))
    assert again.read("DISPATCHPRICE").collect().equals(store.read("DISPATCHPRICE").collect())


def test_opening_a_missing_store_names_it(tmp_path):
    from bidstack.io import Store

    with pytest.raises(StoreError, match="no such store"):
        Store.open(tmp_path / "nowhere")


def bids_stored(tmp_path, in_order: bool):
    """BIDPEROFFER_D for three units and twelve intervals: in read order with one version of
    each row, or each row in two versions (the later one wins) beside a RAISEREG row, written by
    two sources, so that the rows are out of order across their files."""
    rows = []
    for i in range(12):
        interval = at("2024-09-01 04:00") + timedelta(minutes=5 * (i + 1))
        for unit in ("UNITC", "UNITA", "UNITB"):
            for version, bidtype in ((1, "ENERGY"), (2, "ENERGY"), (1, "RAISEREG")):
                rows.append({
                    "settlementdate": at("2024-09-01"), "duid": unit, "bidtype": bidtype,
                    "direction": "GEN", "interval_datetime": interval, "versionno": version,
                    "offerdate": at("2024-08-31"), "maxavail": 10.0 * i + version,
                })  # fmt: skip
    frame = pl.DataFrame(rows)
    store = tmp_path / ("ordered" if in_order else "unordered")
    if in_order:
        write_table(store, "BIDPEROFFER_D", frame.filter(versionno=2))
    else:
        write_table(store, "BIDPEROFFER_D", frame.filter(versionno=2), source="later")
        write_table(store, "BIDPEROFFER_D", frame.filter(versionno=1), source="earlier")
    return store


@pytest.mark.parametrize("in_order", [True, False])
@pytest.mark.parametrize("raw", [False, True])
def test_a_frame_is_the_lazy_read_collected(tmp_path, in_order, raw):
    store = Store.open(bids_stored(tmp_path, in_order))
    columns = ["duid", "interval_datetime", "bidtype", "versionno", "maxavail"]
    window = ("2024-09-01 04:10", "2024-09-01 04:50")
    lazy = store.read("BIDPEROFFER_D", *window, raw=raw).select(columns).collect()
    frame = store.frame("BIDPEROFFER_D", columns, *window, raw=raw)
    assert frame.equals(lazy)
    assert frame.height == 8 * 3 * (3 if raw and not in_order else 1)
    if not raw:
        assert frame.select("bidtype", "versionno").unique().rows() == [("ENERGY", 2)]
        assert frame.select("interval_datetime", "duid").is_duplicated().sum() == 0


def test_a_frame_of_the_pricing_run_with_units(tmp_path):
    write_table(
        tmp_path,
        "DISPATCHLOAD",
        pl.DataFrame(
            {
                "settlementdate": [at("2024-09-01 00:05")] * 3 + [at("2024-09-01 00:10")],
                "runno": [1, 1, 1, 1],
                "duid": ["HDWF2", "AGLHAL", "AGLHAL", "AGLHAL"],
                "intervention": [0, 1, 0, 0],
                "totalcleared": [50.0, 90.0, 100.0, 110.0],
            }
        ),
    )
    frame = Store.open(tmp_path).frame("DISPATCHLOAD", ["duid", "totalcleared"], duids=["AGLHAL"])
    assert frame.rows() == [("AGLHAL", 100.0), ("AGLHAL", 110.0)]
