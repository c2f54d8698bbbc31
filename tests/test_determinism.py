"""A backtest writes the same bytes every time: run twice, and once more single-threaded."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bidstack.backtest import backtest
from bidstack.demo import synthetic_market
from bidstack.fleet import load_fleet
from bidstack.outputs import LISTING

from golden import MARKET

RUN = """
import sys
from bidstack.backtest import backtest
from bidstack.fleet import load_fleet
store, fleet, start, end, out = sys.argv[1:]
backtest(store, load_fleet(fleet), ["v1", "v2"], start, end, out, progress=False)
"""


def digests(out: Path) -> dict[str, str]:
    """sha256 of every file under ``out``; ``backtest.json`` without its timing, and the output
    listing without the fingerprint of ``backtest.json`` (which holds the timing)."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        content = path.read_bytes()
        if path.name == "backtest.json":
            run = json.loads(content)
            run.pop("seconds")
            content = json.dumps(run, sort_keys=True).encode()
        elif path.name == LISTING:
            listing = json.loads(content)
            listing["files"].pop("backtest.json")
            content = json.dumps(listing, sort_keys=True).encode()
        found[str(path.relative_to(out))] = hashlib.sha256(content).hexdigest()
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    root = tmp_path_factory.mktemp("determinism")
    market = synthetic_market(root / "store", **MARKET)
    args = [str(market.store), str(market.fleet_file), str(market.start), str(market.end)]
    found = []
    for attempt in ("first", "second"):
        out = root / attempt
        backtest(*[market.store, load_fleet(market.fleet_file), ["v1", "v2"]], market.start,
                 market.end, out, progress=False)  # fmt: skip
        found.append(digests(out))
    single = {**os.environ, "POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    out = root / "single"
    subprocess.run([sys.executable, "-c", RUN, *args, str(out)], env=single, check=True)
    found.append(digests(out))
    return found


def test_runs_write_every_file(runs: list[dict[str, str]]) -> None:
    files = set(runs[0])
    assert {"summary.csv", "fleet_daily.parquet", "bid_stack.parquet"} <= files
    assert any(name.startswith("v2/statements/") for name in files)
    assert set(runs[1]) == files and set(runs[2]) == files


@pytest.mark.parametrize("other", [1, 2], ids=["twice", "single_threaded"])
def test_runs_are_byte_identical(runs: list[dict[str, str]], other: int) -> None:
    differ = sorted(name for name, digest in runs[0].items() if runs[other].get(name) != digest)
    assert differ == [], "\n".join(differ)
