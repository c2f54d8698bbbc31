"""Scale-out (issue 14): months on a process pool or a Dask cluster write the serial run's bytes.

One small synthetic market crossing two month boundaries (31 Jan - 2 Mar 2024); the serial run
is the reference, every other run is compared to it file by file (``backtest.json`` without its
timing and its record of how the run was executed).
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import Executor, Future
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from bidstack.backtest import backtest
from bidstack.cli import main
from bidstack.demo import synthetic_market
from bidstack.errors import StoreError
from bidstack.fleet import load_fleet
from bidstack.io import read, write_table
from bidstack.scaleout.attempts import ATTEMPTS
from bidstack.scaleout.executors import open_executor
from bidstack.scaleout.tasks import TEST_HOOK

MARKET = {"n_units": 6, "days": 31, "first_day": date(2024, 1, 31), "fleet_size": 2, "seed": 3}
#: Three days across one month boundary.
SMALL = MARKET | {"days": 3, "first_day": date(2024, 1, 30)}
VARIANTS = ["v1", "v2"]


def digests(out: Path) -> dict[str, str]:
    """sha256 of every file under ``out``; ``backtest.json`` without ``seconds``/``execution``."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        content = path.read_bytes()
        if path.name == "backtest.json":
            run = json.loads(content)
            run.pop("seconds", None)
            run.pop("execution", None)
            content = json.dumps(run, sort_keys=True).encode()
        found[str(path.relative_to(out))] = hashlib.sha256(content).hexdigest()
    return found


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


def run(market, out: Path, executor: Executor | None = None, **options) -> dict:
    backtest(market.store, load_fleet(market.fleet_file), VARIANTS, market.start, market.end,
             out, progress=False, executor=executor, **options)  # fmt: skip
    assert not (out / ATTEMPTS).exists()
    return json.loads((out / "backtest.json").read_text())["execution"]


def differing(serial: dict[str, str], out: Path) -> list[str]:
    found = digests(out)
    return sorted(name for name in set(serial) | set(found) if serial.get(name) != found.get(name))


def test_dask_local_cluster_writes_the_serial_bytes(market, serial, tmp_path: Path) -> None:
    with open_executor(2, "local") as executor:
        execution = run(market, tmp_path / "out", executor)
    assert differing(serial, tmp_path / "out") == []
    assert execution["boundaries"] == [
        {"month": "2024-02", "boundary": "exact"},
        {"month": "2024-03", "boundary": "exact"},
    ]


def test_two_workers_one_killed_mid_task(market, serial, tmp_path: Path, monkeypatch) -> None:
    marker = tmp_path / "killed"
    monkeypatch.setenv(TEST_HOOK, f"kill:2024-02:{marker}")
    with open_executor(2) as executor:
        execution = run(market, tmp_path / "out", executor)
    assert marker.exists()
    assert execution["retries"][0]["after"] == "worker died"
    assert {b["boundary"] for b in execution["boundaries"]} == {"exact"}
    assert differing(serial, tmp_path / "out") == []


def test_variant_groups_write_the_serial_bytes(market, serial, tmp_path: Path) -> None:
    # one variant in each group: the allocation's result columns are renamed when merged
    with open_executor(2) as executor:
        execution = run(market, tmp_path / "out", executor, variant_groups=2)
    assert differing(serial, tmp_path / "out") == []
    assert execution["variant_groups"] == 2
    assert len(execution["boundaries"]) == 4


def test_a_warmup_too_short_is_recomputed(tmp_path: Path) -> None:
    # a small market without administered pricing, whose week of prices would lengthen the
    # warm-up by 8 days
    market = synthetic_market(tmp_path / "store", **SMALL)
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(market.fleet_file.read_text().replace(
        "[market]\n", "[market]\nadministered_pricing = false\n", 1))  # fmt: skip
    market = replace(market, fleet_file=fleet)
    run(market, tmp_path / "serial")
    with open_executor(2) as executor:
        execution = run(market, tmp_path / "out", executor, warmup=timedelta(minutes=5))
    assert execution["boundaries"] == [{"month": "2024-02", "boundary": "recomputed"}]
    assert differing(digests(tmp_path / "serial"), tmp_path / "out") == []


def test_a_month_that_always_fails(market, serial, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(TEST_HOOK, "fail:2024-02")
    out = tmp_path / "out"
    status = main(["backtest", "--store", str(market.store), "--fleet", str(market.fleet_file),
                   "--rules", "v1", "--rules", "v2", "--start", str(market.start),
                   "--end", str(market.end), "-o", str(out), "--workers", "2"])  # fmt: skip
    errors = [line for line in capsys.readouterr().err.splitlines() if "bidstack: error:" in line]
    assert status == 1
    assert len(errors) == 1 and "month 2024-02" in errors[0]
    found = digests(out)
    outside = {n: d for n, d in found.items() if not n.startswith(f"{ATTEMPTS}/")}
    assert "summary.csv" not in outside
    assert all(serial.get(n) == d for n, d in outside.items() if n != "backtest.json")


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


def test_the_store_changed_between_phases(market, tmp_path: Path) -> None:
    store = tmp_path / "store"
    market = synthetic_market(store, **SMALL)
    with pytest.raises(StoreError, match="snapshot"):
        run(market, tmp_path / "out", ChangesTheStore(store, months=2))


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


def test_parallel_ingest_stores_what_serial_ingest_stores(
    mms_dir: Path, tmp_path: Path, capsys
) -> None:
    samples = mms_dir / "nemosis" / "MMSDM_2018_04"
    main(["ingest", str(samples), "--store", str(tmp_path / "serial")])
    serial = capsys.readouterr().out
    main(["ingest", str(samples), "--store", str(tmp_path / "store"), "--workers", "2"])
    assert capsys.readouterr().out == serial
    manifest, files = store_content(tmp_path / "store")
    assert (manifest, files) == store_content(tmp_path / "serial")
    assert len(files) > 10 and not (tmp_path / "store" / "_staging").exists()
