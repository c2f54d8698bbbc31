"""The store: idempotent, atomic, with a manifest, and readable without bidstack."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from bidstack.errors import InputError, StoreError
from bidstack.io import (
    describe,
    ingest,
    partition_dir,
    read,
    read_manifest,
    table_dir,
    table_spec,
    write_table,
)
from bidstack.io.store import COMMIT, STAGING, Staging, open_for_writing, source_id

from iohelpers import mms_text

PRICE = ("SETTLEMENTDATE", "RUNNO", "REGIONID", "DISPATCHINTERVAL", "INTERVENTION", "RRP")


def price_file(path: Path, *rrps: float, month: str = "2024/09") -> Path:
    rows = [
        [f"{month}/01 00:{5 * (i + 1):02d}:00", "1", "NSW1", f"2024090100{i + 1}", "0", str(rrp)]
        for i, rrp in enumerate(rrps)
    ]
    path.write_text(mms_text(("DISPATCH", "PRICE", 5, PRICE, rows)))
    return path


def rrps(store: Path) -> list[float]:
    return read(store, "DISPATCHPRICE", raw=True).collect()["rrp"].to_list()


def parquet_files(store: Path) -> list[str]:
    return sorted(str(p.relative_to(store)) for p in store.rglob("*.parquet"))


def test_reingesting_skips_by_content_hash(tmp_path: Path):
    path = price_file(tmp_path / "prices.csv", 10, 20)
    store = tmp_path / "store"
    [first] = ingest([path], store)
    files = parquet_files(store)
    [again] = ingest([path], store)
    assert (first.status, again.status) == ("ingested", "unchanged")
    assert again.detail.startswith("already ingested (sha256 ")
    assert parquet_files(store) == files
    assert rrps(store) == [10.0, 20.0]


def test_a_changed_source_replaces_its_own_rows_only(tmp_path: Path):
    store = tmp_path / "store"
    mine = price_file(tmp_path / "mine.csv", 10, 20)
    other = price_file(tmp_path / "other.csv", 99, month="2024/10")
    ingest([mine, other], store)
    price_file(mine, 11, 21, 31, month="2024/11")
    [outcome] = ingest([mine], store)
    assert outcome.status == "replaced"
    assert sorted(rrps(store)) == [11.0, 21.0, 31.0, 99.0]
    mine_id, other_id = source_id(str(mine.resolve())), source_id(str(other.resolve()))
    assert parquet_files(store) == [
        f"dispatchprice/month=2024-10/{other_id}.parquet",
        f"dispatchprice/month=2024-11/{mine_id}.parquet",
    ]
    assert not partition_dir(store, "DISPATCHPRICE", "2024-09").exists()


def test_same_content_under_another_path_is_not_stored_twice(tmp_path: Path):
    store = tmp_path / "store"
    path = price_file(tmp_path / "prices.csv", 10)
    copy = tmp_path / "copy" / "prices.csv"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    outcomes = ingest([path, copy], store)
    assert [o.status for o in outcomes] == ["ingested", "duplicate"]
    assert outcomes[1].detail == f"same content as {path.resolve()}; not stored twice"
    assert rrps(store) == [10.0]


def test_manifest_records_sources_with_hashes_and_row_counts(tmp_path: Path):
    path = price_file(tmp_path / "prices.csv", 10, 20)
    ingest([path], tmp_path / "store")
    entry = read_manifest(tmp_path / "store")["sources"][str(path.resolve())]
    assert entry["rows"] == {"dispatchprice": 2}
    assert entry["bytes"] == path.stat().st_size
    assert len(entry["sha256"]) == 64 and entry["kind"] == "mms"
    assert entry["files"] == [f"dispatchprice/month=2024-09/{entry['source_id']}.parquet"]


class Interrupted(Exception):
    pass


def test_a_failure_mid_write_leaves_no_partial_partition(tmp_path: Path, monkeypatch):
    store = tmp_path / "store"
    ingest([price_file(tmp_path / "old.csv", 1)], store)
    before = (parquet_files(store), read_manifest(store))
    writes = []

    def fail_on_second_write(self, spec, table):
        writes.append(table.num_rows)
        if len(writes) == 2:
            raise Interrupted
        original_write(self, spec, table)

    original_write = Staging.write
    monkeypatch.setattr(Staging, "write", fail_on_second_write)
    path = tmp_path / "big.csv"
    path.write_text(
        mms_text(
            ("DISPATCH", "PRICE", 5, PRICE, [["2024/10/01 00:05:00", "1", "SA1", "1", "0", "5"]]),
            ("DISPATCH", "PRICE", 5, PRICE, [["2024/11/01 00:05:00", "1", "SA1", "1", "0", "6"]]),
        )
    )
    with pytest.raises(Interrupted):
        ingest([path], store)
    assert (parquet_files(store), read_manifest(store)) == before
    assert not (store / STAGING).exists()


def test_an_interrupted_commit_is_completed_by_the_next_reader(tmp_path: Path, monkeypatch):
    store = tmp_path / "store"
    path = price_file(tmp_path / "prices.csv", 1, 2)
    ingest([price_file(tmp_path / "first.csv", 7, month="2024/08")], store)
    real_replace = os.replace
    moved = []

    def crash_after_journal(source, destination):
        if str(destination).endswith(".parquet"):
            moved.append(destination)
            raise Interrupted
        real_replace(source, destination)

    monkeypatch.setattr("bidstack.io.store.os.replace", crash_after_journal)
    with pytest.raises(Interrupted):
        ingest([path], store)
    monkeypatch.undo()
    assert list((store / STAGING).glob(f"*/{COMMIT}"))
    assert sorted(rrps(store)) == [1.0, 2.0, 7.0]
    assert str(path.resolve()) in read_manifest(store)["sources"]
    assert not (store / STAGING).exists()


def test_a_second_writer_is_refused(tmp_path: Path):
    with open_for_writing(tmp_path / "store"), pytest.raises(StoreError, match="another process"):
        ingest([price_file(tmp_path / "p.csv", 1)], tmp_path / "store")


def test_write_table_round_trips_through_read(tmp_path: Path):
    frame = pl.DataFrame(
        {
            "SETTLEMENTDATE": [datetime(2024, 9, 1, 0, 5), datetime(2024, 10, 1, 0, 5)],
            "REGIONID": ["NSW1", "NSW1"],
            "RUNNO": [1, 1],
            "DISPATCHINTERVAL": [1, 2],
            "INTERVENTION": [0, 0],
            "RRP": [50, 60],
        }
    )
    store = tmp_path / "store"
    assert write_table(store, "dispatchprice", frame) == 2
    back = read(store, "DISPATCHPRICE").collect()
    assert back["rrp"].to_list() == [50.0, 60.0]
    assert back.schema["rrp"] == pl.Float64 and back.schema["runno"] == pl.Int64
    assert back["eep"].null_count() == 2
    assert sorted(p.name for p in table_dir(store, "DISPATCHPRICE").iterdir()) == [
        "month=2024-09",
        "month=2024-10",
    ]
    assert write_table(store, "DISPATCHPRICE", frame.head(1)) == 1
    assert read(store, "DISPATCHPRICE").collect().height == 1
    assert read_manifest(store)["sources"]["write_table:dispatchprice"]["rows"] == {
        "dispatchprice": 1
    }


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pl.DataFrame({"SETTLEMENTDATE": [datetime(2024, 9, 1)], "NOPE": [1]}), "no column"),
        (pl.DataFrame({"REGIONID": ["NSW1"]}), "no settlementdate column"),
        (
            pl.DataFrame({"SETTLEMENTDATE": [datetime(2024, 9, 1), None], "RRP": [1.0, 2.0]}),
            "1 row.s. without a settlementdate value",
        ),
        (
            pl.DataFrame({"SETTLEMENTDATE": [datetime(2024, 9, 1)], "RRP": ["high"]}),
            r"DISPATCHPRICE.rrp: cannot store 'high' \(row index 0\) as Float64: not a number",
        ),
        (
            pl.DataFrame({"SETTLEMENTDATE": ["2024/09/01 00:05:00", "1/9/2024 00:10"]}),
            r"DISPATCHPRICE.settlementdate: cannot store '1/9/2024 00:10' \(row index 1\) as "
            r"Datetime: not a date-time \(AEMO's YYYY/MM/DD HH:MM:SS or ISO 8601",
        ),
        (
            pl.DataFrame(
                {"SETTLEMENTDATE": [datetime(2024, 9, 1)] * 3, "RUNNO": ["1", "0.5", "x"]}
            ),
            r"DISPATCHPRICE.runno: cannot store '0.5' \(row index 1\) as Int64: not an integral "
            r"number \(and 1 more row\(s\)\)",
        ),
        (
            pl.DataFrame({"SETTLEMENTDATE": [datetime(2024, 9, 1)], "REGIONID": ["NSW1"]}),
            "DISPATCHPRICE: no INTERVENTION column; read keeps the pricing run .INTERVENTION = 0.,"
            " so every row needs one: pass intervention=0 if the frame holds the pricing run only",
        ),
        (
            pl.DataFrame({"SETTLEMENTDATE": [datetime(2024, 9, 1)] * 2, "INTERVENTION": [0, None]}),
            "DISPATCHPRICE: 1 row.s. without a intervention value",
        ),
    ],
)
def test_write_table_rejects_frames_it_cannot_store(tmp_path: Path, frame, message):
    with pytest.raises(InputError, match=message):
        write_table(tmp_path / "store", "DISPATCHPRICE", frame)
    assert parquet_files(tmp_path) == []


def test_write_table_takes_frames_as_nemosis_and_nempy_leave_them(tmp_path: Path):
    # every value as text, AEMO's date format, integral floats as text, pandas' index column
    frame = pl.DataFrame(
        {
            "SETTLEMENTDATE": ["2022/01/01 00:05:00", "2022-01-01 00:10:00", "2022-01-01T00:15"],
            "DUID": ["ADPBA1G"] * 3,
            "INTERVENTION": ["0", "0.0", "0"],
            "DISPATCHMODE": ["0.0", "1", "2.0"],
            "TOTALCLEARED": ["1.5", " 2 ", ""],
            "LASTCHANGED": [None, None, None],
            "__index_level_0__": [7, 8, 9],
        }
    )
    assert write_table(tmp_path / "store", "DISPATCHLOAD", frame) == 3
    back = read(tmp_path / "store", "DISPATCHLOAD").collect()
    assert back["settlementdate"].to_list() == [
        datetime(2022, 1, 1, 0, 5),
        datetime(2022, 1, 1, 0, 10),
        datetime(2022, 1, 1, 0, 15),
    ]
    assert back["dispatchmode"].to_list() == [0, 1, 2] and back.schema["dispatchmode"] == pl.Int64
    assert back["totalcleared"].to_list() == [1.5, 2.0, None]
    assert "__index_level_0__" not in back.columns


def test_write_table_stores_a_frame_without_intervention_as_the_pricing_run_if_told(tmp_path):
    store = tmp_path / "store"
    frame = pl.DataFrame({"SETTLEMENTDATE": [datetime(2024, 7, 10, 12, 5)] * 2, "DUID": ["A", "B"]})
    with pytest.raises(InputError, match="DISPATCHLOAD: no INTERVENTION column"):
        write_table(store, "DISPATCHLOAD", frame)
    assert write_table(store, "DISPATCHLOAD", frame, intervention=0) == 2
    assert read(store, "DISPATCHLOAD").collect()["intervention"].to_list() == [0, 0]
    partly = frame.with_columns(INTERVENTION=pl.Series([None, 0], dtype=pl.Int64))
    assert write_table(store, "DISPATCHLOAD", partly, intervention=0) == 2
    with pytest.raises(InputError, match=r"intervention=0 was given, but 2 row\(s\) have another"):
        write_table(
            store, "DISPATCHLOAD", frame.with_columns(INTERVENTION=pl.lit(1)), intervention=0
        )
    with pytest.raises(InputError, match="DUDETAIL has no INTERVENTION column"):
        write_table(store, "DUDETAIL", pl.DataFrame({"DUID": ["A"]}), intervention=0)
    with pytest.raises(InputError, match=r"intervention must be 0 \(the pricing run\) or 1"):
        write_table(store, "DISPATCHLOAD", frame, intervention=2)


def test_undated_rows_are_stored_in_their_own_partition_with_the_full_schema(tmp_path: Path):
    store = tmp_path / "store"
    links = pl.DataFrame(
        {
            "INTERCONNECTORID": ["VIC1-NSW1", "T-V-MNSP1"],
            "REGIONFROM": ["VIC1", "TAS1"],
            "REGIONTO": ["NSW1", "VIC1"],
            "LASTCHANGED": [datetime(2008, 6, 18), None],
        }
    )
    assert write_table(store, "INTERCONNECTOR", links) == 2
    assert write_table(store, "INTERCONNECTOR", links.drop("LASTCHANGED"), source="no-time") == 2
    assert parquet_files(store) == sorted(
        f"interconnector/month={month}/{source_id(key)}.parquet"
        for month, key in (
            ("2008-06", "write_table:interconnector"),
            ("undated", "write_table:interconnector"),
            ("undated", "no-time"),
        )
    )
    schema = table_spec("INTERCONNECTOR").arrow_schema
    assert all(pq.read_schema(store / name) == schema for name in parquet_files(store))
    describe(store)  # undated files have no time statistics
    assert ds.dataset(store / "interconnector", partitioning="hive").count_rows() == 4


def test_write_table_needs_the_partition_column_too(tmp_path: Path):
    bids = pl.DataFrame({"DUID": ["AGLHAL"], "INTERVAL_DATETIME": [datetime(2024, 9, 1, 4, 5)]})
    with pytest.raises(InputError, match="BIDPEROFFER_D: no settlementdate column"):
        write_table(tmp_path / "store", "BIDPEROFFER_D", bids)


def test_store_reads_without_bidstack(tmp_path: Path):
    store = tmp_path / "store"
    ingest(
        [price_file(tmp_path / "a.csv", 1, 2), price_file(tmp_path / "b.csv", 3, month="2024/10")],
        store,
    )
    directory = store / "dispatchprice"
    with_polars = pl.scan_parquet(directory, hive_partitioning=True).collect()
    with_arrow = ds.dataset(directory, format="parquet", partitioning="hive").to_table()
    with_duckdb = duckdb.sql(
        f"select month, sum(rrp) as rrp from read_parquet('{directory}/*/*.parquet', "
        "hive_partitioning = true) group by month order by month"
    ).fetchall()
    assert sorted(with_polars["rrp"].to_list()) == [1.0, 2.0, 3.0]
    assert sorted(with_arrow.column("rrp").to_pylist()) == [1.0, 2.0, 3.0]
    assert [(str(month), rrp) for month, rrp in with_duckdb] == [("2024-09", 3.0), ("2024-10", 3.0)]


def test_manifest_is_plain_json(tmp_path: Path):
    ingest([price_file(tmp_path / "a.csv", 1)], tmp_path / "store")
    manifest = json.loads((tmp_path / "store" / "_manifest.json").read_text())
    assert manifest["format"] == "bidstack-store/1"


def test_a_store_inside_the_ingested_folder_is_not_read_as_input(tmp_path: Path):
    price_file(tmp_path / "prices.csv", 1)
    ingest([tmp_path], tmp_path / "store")
    outcomes = ingest([tmp_path], tmp_path / "store")
    assert [(o.path.name, o.status) for o in outcomes] == [("prices.csv", "unchanged")]
