"""Damaged or foreign stores given to ``ingest``, ``store info`` and ``backtest``.

Each case checks exit status 2, one line naming the damaged file, no traceback, and that nothing
changed: neither the store (every file hashed) nor anything beside it.
"""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import pytest

from badinput import expect, good_prices, price_file, run, store_rows

ERROR = 2


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store of three DISPATCHPRICE rows, and ``in/more.csv`` with five rows to ingest."""
    source = tmp_path / "in" / "first.csv"
    source.parent.mkdir()
    source.write_text(price_file(good_prices(3)))
    (tmp_path / "in" / "more.csv").write_text(price_file(good_prices(5)))
    assert run("ingest", source, "--store", tmp_path / "store").status == 0
    return tmp_path / "store"


def stored_file(store: Path) -> Path:
    return next(store.glob("dispatchprice/month=*/*.parquet"))


def garbage(path: Path) -> None:
    path.write_bytes(b"garbage")


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def emptied(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [garbage, truncated, emptied])
@pytest.mark.parametrize("command", ["store-info", "ingest"])
def test_a_damaged_parquet_file_is_named(store, tmp_path, untouched, damage, command):
    damaged = stored_file(store)
    damage(damaged)
    guard = untouched()
    argv = ("store", "info") if command == "store-info" else ("ingest", tmp_path / "in/more.csv")
    expect(run(*argv, "--store", store), ERROR, str(damaged), "damaged file in the store")
    guard.check()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", ["unreadable manifest"]),
        ("", ["unreadable manifest"]),
        ('{"format": "other/1"}', ["not a bidstack store manifest"]),
        ("[1, 2]", ["not a bidstack store manifest"]),
    ],
    ids=["not-json", "empty", "other-format", "a-list"],
)
@pytest.mark.parametrize("command", ["store-info", "ingest"])
def test_a_damaged_manifest_is_named(store, tmp_path, untouched, content, words, command):
    (store / "_manifest.json").write_text(content)
    guard = untouched()
    argv = ("store", "info") if command == "store-info" else ("ingest", tmp_path / "in/more.csv")
    expect(run(*argv, "--store", store), ERROR, "_manifest.json", *words)
    guard.check()


def test_a_damaged_commit_journal_stops_the_next_write(store, tmp_path, untouched):
    journal = store / "_staging" / "0123" / "_commit.json"
    journal.parent.mkdir(parents=True)
    journal.write_text("{half a journ")
    guard = untouched()
    ran = run("ingest", tmp_path / "in" / "more.csv", "--store", store)
    expect(ran, ERROR, str(journal), "unreadable commit journal", "remove")
    guard.check()


def test_a_second_writer_is_refused_while_the_first_holds_the_store(store, tmp_path, untouched):
    guard = untouched()
    with (store / "_lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ran = run("ingest", tmp_path / "in" / "more.csv", "--store", store)
    expect(ran, ERROR, "another process is writing to this store")
    guard.check()


def test_a_folder_of_something_else_is_not_a_store(tmp_path, untouched):
    (tmp_path / "user" / "photos").mkdir()
    guard = untouched()
    expect(run("store", "info", "--store", tmp_path / "user"), ERROR, "not a bidstack store")
    guard.check()


def test_a_store_copied_without_its_manifest_is_not_a_store(store, tmp_path, untouched):
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    (copy / "_manifest.json").unlink()
    guard = untouched()
    expect(run("store", "info", "--store", copy), ERROR, "not a bidstack store")
    assert store_rows(copy) == {"dispatchprice": 3}
    guard.check()


@pytest.mark.parametrize("table", ["bidperoffer_d", "dispatchprice", "dudetailsummary"])
def test_a_backtest_over_a_damaged_file_names_it(market, tmp_path, untouched, table):
    copy = tmp_path / "store"
    shutil.copytree(market.store, copy, ignore=shutil.ignore_patterns("_lock"))
    damaged = sorted(copy.glob(f"{table}/month=*/*.parquet"))[0]
    garbage(damaged)
    out = tmp_path / "out"
    guard = untouched(out)
    start = market.start.isoformat()
    end = market.start.replace(hour=market.start.hour + 1).isoformat()
    ran = run(
        "backtest", "--store", copy, "--fleet", market.fleet_file, "--start", start,
        "--end", end, "-o", out,
    )  # fmt: skip
    expect(ran, ERROR, str(damaged), "damaged file in the store")
    guard.check()
