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
import pytest

from bidstack.errors import InputError, StoreError
from bidstack.io import ingest, partition_dir, read, read_manifest, table_dir, write_table
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
            "DISPATCHPRICE.rrp: cannot store String as Float64",
        ),
    ],
)
def test_write_table_rejects_frames_it_cannot_store(tmp_path: Path, frame, message):
    with pytest.raises(InputError, match=message):
        write_table(tmp_path / "store", "DISPATCHPRICE", frame)
    assert parquet_files(tmp_path) == []


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
