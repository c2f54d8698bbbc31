"""Fixtures of the bad-input suite: a user's file to keep, a small market and a finished run."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bidstack.demo import Market, synthetic_market

from badinput import Untouched, run


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    """A user's file beside whatever a test writes: no command may change it."""
    path = tmp_path / "user" / "notes.txt"
    path.parent.mkdir()
    path.write_text("the user's own notes: keep me\n")
    return path


@pytest.fixture
def untouched(tmp_path: Path, sentinel: Path):
    """``untouched(*allowed)``: a guard of everything under the test's folder but ``allowed``."""
    return lambda *allowed: Untouched(tmp_path, *allowed)


@pytest.fixture(scope="session")
def market(tmp_path_factory: pytest.TempPathFactory) -> Market:
    """A small synthetic market (6 units, 1 day) in a store, with its fleet file."""
    root = tmp_path_factory.mktemp("bad_input_market")
    return synthetic_market(root / "store", n_units=6, days=1, seed=5)


@dataclass(frozen=True)
class Run:
    """The arguments of a short backtest of :func:`market`, and the output it wrote."""

    args: tuple[str, ...]
    out: Path

    def copy(self, to: Path) -> Path:
        """The finished output folder copied to ``to`` (the copy is still bidstack's)."""
        shutil.copytree(self.out, to, symlinks=True)
        return to


@pytest.fixture(scope="session")
def finished(market: Market, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A backtest of the market's first hour under v1 and v2, finished, with its report."""
    out = tmp_path_factory.mktemp("bad_input_run") / "results"
    end = market.start + timedelta(hours=1)
    args = ("backtest", "--store", str(market.store), "--fleet", str(market.fleet_file),
            "--start", market.start.isoformat(), "--end", end.isoformat(),
            "--rules", "v1", "--rules", "v2")  # fmt: skip
    ran = run(*args, "-o", out)
    assert ran.status == 0, ran.text
    return Run(args, out)
