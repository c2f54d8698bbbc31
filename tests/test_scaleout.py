"""Scale-out (issue 14): months on a process pool or a Dask cluster write the serial run's bytes.

Two synthetic markets: one crossing two month boundaries (31 Jan - 2 Mar 2024, administered
pricing on), run on the process pool, and a small one across one (30 Jan - 2 Feb, administered
pricing off, so a warm-up is not lengthened by its week of prices) for everything else. Each has
one serial run, the reference every other run is compared to file by file (``backtest.json``
without its timing and its record of how the run was executed). The process pool is shared by
the tests (a pool costs ~10 s to start here): test hooks travel with the tasks, and a pool whose
worker was killed is replaced in place.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from concurrent.futures import Executor, Future
from contextlib import contextmanager, redirect_stdout
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from output_tree import digests

from bidstack.backtest import backtest
from bidstack.cli import main
from bidstack.config import RunConfig
from bidstack.demo import synthetic_market
from bidstack.errors import ConfigError, OutputError, StoreError, TaskError
from bidstack.fleet import load_fleet
from bidstack.io import read, write_table
from bidstack.scaleout import driver, executors, tasks
from bidstack.scaleout.attempts import ATTEMPTS
from bidstack.scaleout.executors import open_executor
from bidstack.scaleout.snapshot import snapshot
from bidstack.scaleout.tasks import TEST_HOOK, MonthTask, run_task

MARKET = {"n_units": 6, "days": 31, "first_day": date(2024, 1, 31), "fleet_size": 2, "seed": 3}
#: Three days across one month boundary.
SMALL = MARKET | {"days": 3, "first_day": date(2024, 1, 30)}
VARIANTS = ["v1", "v2"]
#: The MMS sample files ingested, and the one a worker is killed on.
SAMPLES = "nemosis/MMSDM_2018_04"
KILLED_FILE = "PUBLIC_DVD_DISPATCHPRICE_201804010000.zip"



@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_market(tmp_path_factory.mktemp("scaleout") / "store", **MARKET)


@pytest.fixture(scope="module")
def serial(market, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("serial") / "out"
    run(market, out)
    found = digests(out)
    assert any(name.startswith("v2/dispatch_units/month=2024-03/") for name in found)
    execution = json.loads((out / "backtest.json").read_text())["execution"]
    assert execution["executor"] == {"kind": "serial"}
    return found


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("small")
    market = synthetic_market(folder / "store", **SMALL)
    fleet = folder / "fleet.toml"
    fleet.write_text(market.fleet_file.read_text().replace(
        "[market]\n", "[market]\nadministered_pricing = false\n", 1))  # fmt: skip
    return replace(market, fleet_file=fleet)


@pytest.fixture(scope="module")
def small_serial(small, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("small_serial") / "out"
    run(small, out)
    return digests(out)


@pytest.fixture(scope="module")
def pool():
    """Two spawned worker processes, shared by the tests."""
    with open_executor(2) as executor:
        yield executor


@pytest.fixture
def cli_pool(pool, monkeypatch) -> None:
    """The command line's ``--workers 2`` runs on the shared pool."""

    @contextmanager
    def shared(workers=None, scheduler=None):
        assert workers == 2 and scheduler is None
        yield pool

    monkeypatch.setattr(executors, "open_executor", shared)


def run(market, out: Path, executor: Executor | None = None, **options) -> dict:
    backtest(market.store, load_fleet(market.fleet_file), VARIANTS, market.start, market.end,
             out, progress=False, executor=executor, **options)  # fmt: skip
    assert not (out / ATTEMPTS).exists()
    return json.loads((out / "backtest.json").read_text())["execution"]


def differing(serial: dict[str, str], out: Path) -> list[str]:
    found = digests(out)
    return sorted(name for name in set(serial) | set(found) if serial.get(name) != found.get(name))


def test_dask_local_cluster_writes_the_serial_bytes_with_a_worker_killed(
    small, small_serial, tmp_path: Path, monkeypatch
) -> None:
    """The small market (a cluster costs its start) with February's first attempt killed: Dask
    retries it itself, and the file in _attempts/_running/ its dead worker left tells the
    driver, which records the retry as the local pool's are."""
    marker = tmp_path / "killed"
    monkeypatch.setenv(TEST_HOOK, f"kill:2024-02:{marker}")
    with open_executor(2, "local") as executor:
        execution = run(small, tmp_path / "out", executor)
    assert marker.exists()
    assert differing(small_serial, tmp_path / "out") == []
    assert execution["executor"] == {"kind": "ClientExecutor"}
    assert [b["month"] for b in execution["boundaries"]] == ["2024-02"]
    assert execution["retries"] == [{"after": "worker died", "resubmitted": ["2024-02"]}]


def test_variant_groups_on_two_workers_write_the_serial_bytes(
    market, serial, pool, tmp_path: Path
) -> None:
    # one variant in each group: the allocation's result columns are renamed when merged
    execution = run(market, tmp_path / "out", pool, variant_groups=2)
    assert differing(serial, tmp_path / "out") == []
    assert execution["variant_groups"] == 2
    assert [(b["month"], b["group"], b["boundary"]) for b in execution["boundaries"]] == [
        ("2024-02", 0, "exact"), ("2024-02", 1, "exact"),
        ("2024-03", 0, "exact"), ("2024-03", 1, "exact"),
    ]  # fmt: skip


def test_variant_groups_in_one_process(small, small_serial, tmp_path: Path) -> None:
    execution = run(small, tmp_path / "out", variant_groups=2)
    assert execution == execution | {"executor": {"kind": "serial"}, "variant_groups": 2}
    assert differing(small_serial, tmp_path / "out") == []
    with pytest.raises(ConfigError, match="between 1 and the number of variants"):
        run(small, tmp_path / "three", variant_groups=3)
    assert not (tmp_path / "three").exists()


def test_a_warmup_too_short_is_recomputed(small, small_serial, pool, tmp_path: Path) -> None:
    execution = run(small, tmp_path / "out", pool, warmup=timedelta(minutes=5))
    assert execution["boundaries"] == [{"month": "2024-02", "boundary": "recomputed"}]
    assert differing(small_serial, tmp_path / "out") == []


def test_a_worker_killed_mid_task(small, small_serial, pool, tmp_path: Path, monkeypatch) -> None:
    marker = tmp_path / "killed"
    monkeypatch.setenv(TEST_HOOK, f"kill:2024-02:{marker}")
    execution = run(small, tmp_path / "out", pool)
    assert marker.exists()
    assert execution["retries"][0]["after"] == "worker died"
    assert [b["month"] for b in execution["boundaries"]] == ["2024-02"]
    assert differing(small_serial, tmp_path / "out") == []


def test_a_window_that_kills_every_worker_it_runs_on_is_named(
    small, tmp_path: Path, monkeypatch
) -> None:
    """The third of four windows kills its worker at every attempt: the run fails naming it
    after it was lost RESPAWNS + 1 times while it ran (here 2). Once, the window waited on when
    the pool broke (the first) was blamed, and every task queued was charged a loss; a window
    running beside it when its worker dies is lost too, and may be named with it."""
    monkeypatch.setattr(driver, "RESPAWNS", 1)
    monkeypatch.setenv(TEST_HOOK, "killall:2024-02-01")
    with open_executor(2) as executor, pytest.raises(TaskError) as failed:
        run(small, tmp_path / "out", executor, window_days=1)
    message = str(failed.value)
    assert "window 2024-02-01" in message and "window 2024-01-30" not in message
    assert message.endswith("failed: lost with a worker process that died, 2 times")


def test_windows_of_a_day_in_groups_with_a_worker_killed(
    small, pool, tmp_path: Path, monkeypatch
) -> None:
    # each window is a task per group with its own warm-up, and commits only its own files of a
    # month; the groups' shared files are merged window by window
    serial = tmp_path / "serial"
    run(small, serial, window_days=1)
    marker = tmp_path / "killed"
    monkeypatch.setenv(TEST_HOOK, f"kill:2024-02-01:{marker}")
    execution = run(small, tmp_path / "out", pool, window_days=1, variant_groups=2)
    assert marker.exists()
    assert execution["retries"][0]["after"] == "worker died"
    resubmitted = set(execution["retries"][0]["resubmitted"])
    assert {"2024-02-01 group 0", "2024-02-01 group 1"} & resubmitted
    # a day's warm-up from the store's INITIALMW need not reach the serial run's state
    assert [(b["month"], b["window"], b["group"]) for b in execution["boundaries"]] == [
        ("2024-01", "2024-01-31", 0), ("2024-01", "2024-01-31", 1),
        ("2024-02", "2024-02-01", 0), ("2024-02", "2024-02-01", 1),
        ("2024-02", "2024-02-02", 0), ("2024-02", "2024-02-02", 1),
    ]  # fmt: skip
    assert differing(digests(serial), tmp_path / "out") == []
    files = sorted(p.name for p in (tmp_path / "out/allocation").glob("month=2024-02/*"))
    assert files == ["part-20240201T0000.parquet", "part-20240202T0000.parquet"]


def test_a_warmup_runs_in_the_runs_windows(small, tmp_path: Path, monkeypatch) -> None:
    # a speculative window's warm-up holds no more at once than the run's windows do
    ran = []

    def spy(window, *args, **kwargs):
        ran.append((window.left, window.right))
        return run_month(window, *args, **kwargs)

    run_month = tasks.run_month
    monkeypatch.setattr(tasks, "run_month", spy)
    config = RunConfig.resolve(load_fleet(small.fleet_file), VARIANTS, window_days=1)
    left = datetime(2024, 2, 1)
    task = MonthTask("run", str(small.store), snapshot(small.store), config, left,
                     left + timedelta(days=1), small.end, str(tmp_path), warmup_from=small.start)
    result = run_task(task)  # fmt: skip
    assert ran == [(small.start, datetime(2024, 1, 31)), (datetime(2024, 1, 31), left),
                   (left, left + timedelta(days=1))]  # fmt: skip
    assert result.month.head["baseline"] is not None  # from the warm-up's last dispatch


def test_a_month_that_always_fails(
    small, small_serial, cli_pool, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(TEST_HOOK, "fail:2024-02")
    out = tmp_path / "out"
    status = main(["backtest", "--store", str(small.store), "--fleet", str(small.fleet_file),
                   "--rules", "v1", "--rules", "v2", "--start", str(small.start),
                   "--end", str(small.end), "-o", str(out), "--workers", "2"])  # fmt: skip
    errors = [line for line in capsys.readouterr().err.splitlines() if "bidstack: error:" in line]
    assert status == 1
    assert len(errors) == 1 and "month 2024-02" in errors[0]
    found = digests(out)
    outside = {n: d for n, d in found.items() if not n.startswith(f"{ATTEMPTS}/")}
    assert "summary.csv" not in outside
    assert any(n.startswith("v2/dispatch_units/month=2024-01/") for n in outside)
    records = ("backtest.json", "bidstack-output.json")  # the failed run's own, unfinished
    assert all(small_serial.get(n) == d for n, d in outside.items() if n not in records)
    assert json.loads((out / "bidstack-output.json").read_text())["complete"] is False


class ChangesTheStore(Executor):
    """Runs each task as it is submitted, here; after the last month's, writes into the store."""

    def __init__(self, store: Path, months: int) -> None:
        self.store, self.months = store, months

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        future.set_result(fn(*args, **kwargs))
        self.months -= 1
        if self.months == 0:
            thresholds = read(self.store, "MARKET_PRICE_THRESHOLDS").collect()
            write_table(self.store, "MARKET_PRICE_THRESHOLDS", thresholds, source="test:meanwhile")
        return future


def test_the_store_changed_between_phases(small, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(small.store, store)
    with pytest.raises(StoreError, match="snapshot"):
        run(replace(small, store=store), tmp_path / "out", ChangesTheStore(store, months=2))


class Elsewhere(Executor):
    """Runs each task here, as a worker on a machine without the store (``hide="store"``) or
    the output folder (``hide="out"``) at the driver's path would."""

    def __init__(self, hide: str) -> None:
        self.hide = hide

    def submit(self, fn, /, task, **kwargs) -> Future:
        future = Future()
        try:
            future.set_result(fn(replace(task, **{self.hide: "/nonexistent/elsewhere"})))
        except Exception as exc:  # as a worker's exception comes back
            future.set_exception(exc)
        return future


@pytest.mark.parametrize(
    ("hide", "error", "words"),
    [("store", StoreError, "no such store where this runs"),
     ("out", OutputError, "no such output folder where month 2024-01 runs")],
)  # fmt: skip
def test_a_worker_that_cannot_see_the_store_or_the_output_says_so(
    small, tmp_path: Path, hide: str, error: type, words: str
) -> None:
    """Not "the store changed" (the snapshot of a store not there), nor a worker's own folder
    made and filled where the driver never looks."""
    with pytest.raises(error, match=words):
        run(small, tmp_path / "out", Elsewhere(hide))
    assert not Path("/nonexistent/elsewhere").exists()


def test_paths_reach_the_tasks_absolute(small, tmp_path: Path, monkeypatch) -> None:
    """A cluster's workers start in their own folders: relative paths given to the driver reach
    each task made absolute."""
    seen = []

    class Recording(Executor):
        def submit(self, fn, /, task, **kwargs) -> Future:
            seen.append((task.store, task.out))
            future = Future()
            future.set_result(fn(task))
            return future

    shutil.copytree(small.store, tmp_path / "store")
    monkeypatch.chdir(tmp_path)
    run(replace(small, store=Path("store")), Path("out"), Recording())
    assert seen and all(Path(store).is_absolute() and Path(out).is_absolute()
                        for store, out in seen)  # fmt: skip


def test_a_serial_run_lets_go_of_its_store(small, tmp_path: Path) -> None:
    run(small, tmp_path / "out")
    assert tasks._opened == {}


def store_content(store: Path) -> tuple[dict, dict[str, str]]:
    """A store's manifest without ingest times, and the sha256 of each of its Parquet files."""
    manifest = json.loads((store / "_manifest.json").read_text())
    for entry in manifest["sources"].values():
        entry.pop("ingested_at")
    for entry in manifest["rejected"].values():
        entry.pop("at")
    files = {
        str(path.relative_to(store)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(store.rglob("*.parquet"))
    }
    return manifest, files


@pytest.fixture(scope="module")
def ingested(mms_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The MMS samples and a corrupt zip in one folder, ingested serially: (folder, exit
    status, standard output, store content)."""
    folder = tmp_path_factory.mktemp("samples") / "files"
    shutil.copytree(mms_dir / SAMPLES, folder)
    content = bytearray((folder / "PUBLIC_DVD_MNSP_PEROFFER_201804010000.zip").read_bytes())
    content[300:1500] = bytes(b ^ 0x5A for b in content[300:1500])  # its deflate stream broken
    (folder / "PUBLIC_DVD_MNSP_PEROFFER_201804010001.zip").write_bytes(content)
    store = tmp_path_factory.mktemp("serial_ingest") / "store"
    status, out = ingest_cli(folder, store)
    return folder, status, out, store_content(store)


def ingest_cli(folder: Path, store: Path, *options: str) -> tuple[int, str]:
    """``bidstack ingest``'s exit status and standard output."""
    captured = io.StringIO()
    with redirect_stdout(captured):
        status = main(["ingest", str(folder), "--store", str(store), *options])
    return status, captured.getvalue()


def test_parallel_ingest_stores_what_serial_ingest_stores(
    ingested, cli_pool, tmp_path: Path
) -> None:
    folder, status, out, content = ingested
    assert status == 1 and "rejected  " in out and "truncated or corrupt zip" in out
    assert ingest_cli(folder, tmp_path / "store", "--workers", "2") == (status, out)
    assert store_content(tmp_path / "store") == content
    assert len(content[1]) > 10 and not (tmp_path / "store" / "_staging").exists()


def test_parallel_ingest_with_a_worker_killed(
    ingested, cli_pool, tmp_path: Path, monkeypatch
) -> None:
    folder, status, out, content = ingested
    marker = tmp_path / "killed"
    monkeypatch.setenv(TEST_HOOK, f"kill:{KILLED_FILE}:{marker}")
    assert ingest_cli(folder, tmp_path / "store", "--workers", "2") == (status, out)
    assert marker.exists()
    assert store_content(tmp_path / "store") == content
    assert not (tmp_path / "store" / "_staging").exists()
