"""The command line given bad arguments, or a store with nothing to run on: one line, the exit
status the README gives (1: nothing to run on or input rejected, 2: an error to fix), no
traceback, and nothing outside the intended output changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from badinput import expect, good_prices, price_file, run, store_rows

NOTHING_TO_DO = 1
ERROR = 2


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seed", "-1"),
        ("--seed", "x"),
        ("--units", "2"),
        ("--units", "1000000000"),
        ("--days", "0"),
        ("--days", "1.5"),
    ],
)
def test_demo_options_out_of_range_are_a_usage_error(tmp_path, untouched, option, value):
    guard = untouched()
    ran = run("demo", "-o", tmp_path / "demo", option, value)
    expect(ran, ERROR, option, "must be a whole number")
    assert not (tmp_path / "demo").exists()
    guard.check()


@pytest.mark.parametrize(
    "argv",
    [
        ["nonsense"],
        ["backtest"],
        ["ingest", "--store"],
        ["allocate"],
        ["store"],
        ["rules", "show"],
    ],
)
def test_usage_errors_exit_2(untouched, argv):
    guard = untouched()
    expect(run(*argv), ERROR, "usage:")
    guard.check()


def test_help_exits_0(untouched):
    guard = untouched()
    expect(run("--help"), 0, "usage:")
    guard.check()


def missing(tmp: Path) -> Path:
    return tmp / "missing"


def a_file(tmp: Path) -> Path:
    (tmp / "plain.txt").write_text("x")
    return tmp / "plain.txt"


def empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


@pytest.mark.parametrize("make", [missing, a_file, empty_folder])
def test_store_info_on_no_store_is_one_line(tmp_path, untouched, make):
    store = make(tmp_path)
    words = [store.name, "not a bidstack store"]
    guard = untouched()
    expect(run("store", "info", "--store", store), ERROR, *words)
    guard.check()


def test_ingest_of_a_missing_path_is_one_line(tmp_path, untouched):
    guard = untouched()
    expect(run("ingest", tmp_path / "nowhere", "--store", tmp_path / "store"), ERROR, "nowhere")
    assert not (tmp_path / "store").exists()
    guard.check()


def test_ingest_into_a_store_under_a_file_is_one_line(tmp_path, sentinel, untouched):
    guard = untouched()
    ran = run("ingest", sentinel, "--store", sentinel / "store")
    expect(ran, ERROR, "notes.txt", "cannot open the store")
    guard.check()


def backtest(market, store, start, end, *extra):
    return run(
        "backtest", "--store", store, "--fleet", market.fleet_file, "--start", start,
        "--end", end, *extra,
    )  # fmt: skip


def window(market, days_later: int = 0, hours: int = 1) -> tuple[str, str]:
    start = market.start + timedelta(days=days_later)
    return start.isoformat(), (start + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (missing, ["missing", "no such store"]),
        (a_file, ["plain.txt", "no such store"]),
        (empty_folder, ["empty", "not a bidstack store"]),
    ],
)
def test_a_backtest_without_a_store_says_so(market, tmp_path, untouched, make, words):
    store = make(tmp_path)
    out = tmp_path / "out"
    guard = untouched()
    expect(backtest(market, store, *window(market), "-o", out), NOTHING_TO_DO, *words)
    assert not out.exists()
    guard.check()


def test_a_backtest_of_a_window_without_data_says_what_is_missing(market, tmp_path, untouched):
    out = tmp_path / "out"
    guard = untouched()
    ran = backtest(market, market.store, *window(market, days_later=400), "-o", out)
    expect(ran, NOTHING_TO_DO, "BIDPEROFFER_D", "2024-01-01")
    assert not out.exists()
    guard.check()


def copy_without(store: Path, to: Path, *tables: str) -> Path:
    shutil.copytree(store, to, ignore=shutil.ignore_patterns(*tables, "_lock"))
    return to


@pytest.mark.parametrize(
    ("missing", "words"),
    [
        ("dudetailsummary", ["DUDETAILSUMMARY", "registration"]),
        ("biddayoffer_d", ["BIDDAYOFFER_D", "price bands"]),
        ("bidperoffer_d", ["BIDPEROFFER_D"]),
    ],
)
def test_a_backtest_of_a_store_without_a_table_it_needs_says_which(
    market, tmp_path, untouched, missing, words
):
    store = copy_without(market.store, tmp_path / "store", missing)
    out = tmp_path / "out"
    guard = untouched()
    expect(backtest(market, store, *window(market), "-o", out), NOTHING_TO_DO, *words)
    expect(
        run("backtest", "--store", store, "--baseline-only", "--start", window(market)[0],
            "--end", window(market)[1], "-o", out),
        NOTHING_TO_DO,
        *words,
    )  # fmt: skip
    assert not out.exists()
    guard.check()


def test_the_readme_example_on_the_shared_samples_says_registration_is_missing(
    mms_dir, tmp_path, untouched
):
    # README: bidstack ingest .../MMSDM_2024_09 --store store/, then backtest: the monthly
    # archive holds no registration tables, so every unit would be `no_registration`
    store = tmp_path / "store"
    expect(run("ingest", mms_dir / "nemosis" / "MMSDM_2024_09", "--store", store), 0)
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        '[market]\ndemand = "cleared"\ninterconnectors = "none"\n'
        "[units.AGLHAL]\ntp_min = 0.0\ntp_max = 300.0\nsrmc = 95.0\n"
    )
    out = tmp_path / "out"
    guard = untouched(out)
    ran = run(
        "backtest", "--store", store, "--fleet", fleet, "--start", "2024-09-01T04:00",
        "--end", "2024-09-02T04:00", "-o", out,
    )  # fmt: skip
    expect(ran, NOTHING_TO_DO, "DUDETAILSUMMARY", "registration")
    assert not out.exists()
    guard.check()


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("2024-01-02", "2024-01-01", ["is empty"]),
        ("yesterday", "2024-01-01", ["'yesterday'", "not an ISO date"]),
        ("2024-01-01", "2024-13-01", ["'2024-13-01'"]),
    ],
)
def test_a_backtest_window_that_is_not_a_window_is_one_line(
    market, tmp_path, untouched, start, end, words
):
    guard = untouched()
    expect(backtest(market, market.store, start, end, "-o", tmp_path / "out"), ERROR, *words)
    guard.check()


def test_rules_show_of_an_unknown_variant_is_one_line(untouched):
    guard = untouched()
    expect(run("rules", "show", "v9"), ERROR, "unknown rule variant 'v9'")
    guard.check()


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", ["cannot read as Parquet"]), (b"PAR1 not really", ["cannot read as Parquet"])],
)
def test_allocate_of_an_unreadable_input_is_one_line(tmp_path, untouched, content, words):
    source = tmp_path / "in.parquet"
    source.write_bytes(content)
    guard = untouched()
    expect(run("allocate", source, "-o", tmp_path / "out.parquet"), ERROR, *words)
    guard.check()


def bidstack_process(*argv: object, **options) -> subprocess.Popen:
    command = [sys.executable, "-c", "import sys; from bidstack.cli import main; "
               "sys.exit(main())", *map(str, argv)]  # fmt: skip
    return subprocess.Popen(command, stderr=subprocess.PIPE, **options)


def test_store_info_into_a_closed_pipe_stops_quietly(market, tmp_path):
    # `bidstack store info | head`: the reader goes away before bidstack writes
    process = bidstack_process("store", "info", "--store", market.store, stdout=subprocess.PIPE)
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in error and "BrokenPipeError" not in error, error


def test_a_real_process_exits_with_the_status_and_one_line(tmp_path, sentinel):
    # exit statuses as a shell sees them: 2 for a refused output folder, 1 for rejected input
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "main.py").write_text("mine")
    process = bidstack_process(
        "ingest", sentinel, "--store", tmp_path / "store", stdout=subprocess.DEVNULL
    )
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in process.stderr.read().decode()
    process = bidstack_process(
        "demo", "-o", tmp_path / "out", "--units", "3", "--days", "1", stdout=subprocess.DEVNULL
    )
    assert process.wait(timeout=120) == 2
    error = process.stderr.read().decode()
    assert error.count("\n") == 1 and "holds files bidstack did not write" in error
    assert (tmp_path / "out" / "main.py").read_text() == "mine"
    assert store_rows(tmp_path / "store") == {}


def test_an_unwritable_store_is_one_line(tmp_path, untouched, monkeypatch):
    source = tmp_path / "prices.csv"
    source.write_text(price_file(good_prices(3)))
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if "_staging" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    guard = untouched(tmp_path / "store")
    ran = run("ingest", source, "--store", tmp_path / "store")
    monkeypatch.undo()
    expect(ran, ERROR, "prices.csv", "Permission denied")
    guard.check()
    assert store_rows(tmp_path / "store") == {}
