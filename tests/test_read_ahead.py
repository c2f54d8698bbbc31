"""A serial run reads each month's window while the month before settles
(:meth:`bidstack.market_data.MarketData.read_ahead`): the same frames as reading it then."""

from __future__ import annotations

import threading
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from bidstack.backtest import backtest, month_windows
from bidstack.demo import synthetic_market
from bidstack.fleet import load_fleet
from bidstack.market_data import MarketData, MarketWindow

#: Four days across a month boundary: two windows.
MARKET = {"n_units": 6, "days": 4, "first_day": date(2024, 1, 30), "fleet_size": 2, "seed": 5}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_market(tmp_path_factory.mktemp("ahead") / "store", **MARKET)


def same_window(one: MarketWindow, other: MarketWindow) -> bool:
    for field in fields(MarketWindow):
        mine, theirs = getattr(one, field.name), getattr(other, field.name)
        if isinstance(mine, pl.DataFrame):
            if not (isinstance(theirs, pl.DataFrame) and mine.equals(theirs)):
                return False
        elif field.name == "network":
            if (mine is None) != (theirs is None):
                return False
            if mine is not None and not mine.links.equals(theirs.links):
                return False
        elif mine != theirs:
            return False
    return True


def reads(monkeypatch) -> list[tuple]:
    """Each window :class:`MarketData` reads from the store: its bounds and the thread."""
    seen, read = [], MarketData._read

    def recorded(self, left, right, end):
        seen.append((left, right, threading.current_thread().name))
        return read(self, left, right, end)

    monkeypatch.setattr(MarketData, "_read", recorded)
    return seen


def test_a_window_read_ahead_is_the_window_read_then(market, monkeypatch) -> None:
    fleet = load_fleet(market.fleet_file)
    first = (market.start, market.start + timedelta(days=2), market.end)
    direct = MarketData.open(market.store, fleet).window(*first)
    data = MarketData.open(market.store, fleet)
    seen = reads(monkeypatch)
    data.read_ahead(*first)
    ahead = data.window(*first)
    assert same_window(ahead, direct)
    assert len(seen) == 1 and seen[0][2].startswith("bidstack-ahead")
    # a window other than the one read ahead is read when asked for
    data.read_ahead(*first)
    later = (first[1], market.end, market.end)
    other = data.window(*later)
    assert seen[-1] == (later[0], later[1], threading.current_thread().name)
    assert other.left == later[0] and not same_window(other, ahead)


def test_an_error_reading_ahead_is_raised_by_the_window(market, monkeypatch) -> None:
    data = MarketData.open(market.store, load_fleet(market.fleet_file))

    def broken(self, left, right, end):
        raise OSError(f"cannot read the store for ({left}, {right}]")

    monkeypatch.setattr(MarketData, "_read", broken)
    data.read_ahead(market.start, market.end, market.end)
    with pytest.raises(OSError, match="cannot read the store"):
        data.window(market.start, market.end, market.end)


def test_a_serial_run_reads_each_next_month_ahead_and_every_window_once(
    market, tmp_path: Path, monkeypatch
) -> None:
    seen = reads(monkeypatch)
    backtest(market.store, load_fleet(market.fleet_file), ["v1"], market.start, market.end,
             tmp_path / "out", progress=False)  # fmt: skip
    january, february = month_windows(market.start, market.end)
    assert [(left, right, thread.startswith("bidstack-ahead")) for left, right, thread in seen] == [
        (*january, False),
        (*february, True),  # read while January's last scenarios settled
    ]
