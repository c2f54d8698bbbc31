"""The golden backtest: a small seeded demo market across a month boundary, and its figures.

``tests/data/golden/`` holds what this run wrote before the pipeline redesign (issue 11):
``summary.csv``, every scenario's statements (``daily``, ``totals`` and ``intervals``, money in
micro-dollars and cents) and ``dispatch_regions``. ``tests/test_golden.py`` holds every later
run to them. Record them again only for a change that is meant to move results:

    python tests/golden.py          # rewrites tests/data/golden/
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

import polars as pl

from bidstack.backtest import backtest
from bidstack.demo import synthetic_market
from bidstack.fleet import load_fleet

FIXTURE = Path(__file__).parent / "data" / "golden"
SCENARIOS = ("baseline", "v1", "v2")
#: 12 units over 30 Jan - 2 Feb 2024: two month windows, so ramp state and the administered
#: pricing sum carry across a boundary.
MARKET = {"n_units": 12, "days": 3, "first_day": date(2024, 1, 30), "fleet_size": 4, "seed": 7}


def run(root: Path, **options) -> Path:
    """Draw the golden market under ``root`` and backtest it; the output folder."""
    market = synthetic_market(root / "store", **MARKET)
    out = root / "out"
    backtest(
        market.store, load_fleet(market.fleet_file), ["v1", "v2"], market.start, market.end, out,
        progress=False, **options,
    )  # fmt: skip
    return out


def figures(out: Path) -> dict[str, pl.DataFrame]:
    """The golden figures of a backtest's output folder, each sorted by its key."""
    found = {"summary": pl.read_csv(out / "summary.csv")}
    for table, key in (("daily", ["participantid", "settlement_date"]),
                       ("totals", ["participantid"]),
                       ("intervals", ["participantid", "interval_datetime"])):  # fmt: skip
        found[f"statements_{table}"] = pl.concat(
            pl.read_parquet(out / scenario / "statements" / f"{table}.parquet")
            .with_columns(scenario=pl.lit(scenario))
            .sort(key)
            for scenario in SCENARIOS
        )
    found["dispatch_regions"] = pl.concat(
        pl.read_parquet(out / scenario / "dispatch_regions" / "*" / "*.parquet")
        .with_columns(scenario=pl.lit(scenario))
        .sort("regionid", "interval_datetime")
        for scenario in SCENARIOS
    )
    return found


def recorded() -> dict[str, pl.DataFrame]:
    """The figures recorded in :data:`FIXTURE`."""
    return {path.stem: pl.read_parquet(path) for path in sorted(FIXTURE.glob("*.parquet"))}


def record(out: Path) -> None:
    FIXTURE.mkdir(parents=True, exist_ok=True)
    for name, frame in figures(out).items():
        frame.write_parquet(FIXTURE / f"{name}.parquet", compression="zstd",
                            compression_level=19, statistics=False)  # fmt: skip


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        record(run(Path(folder)))
    sys.exit(0)
