"""A backtest writes the same bytes every time: run twice, and once more single-threaded."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from output_tree import digests

from bidstack.backtest import backtest
from bidstack.demo import synthetic_market
from bidstack.fleet import load_fleet

from golden import MARKET

RUN = """
import sys
from bidstack.backtest import backtest
from bidstack.fleet import load_fleet
store, fleet, start, end, out = sys.argv[1:]
backtest(store, load_fleet(fleet), ["v1", "v2"], start, end, out, progress=False)
"""



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
