"""How closely the baseline reproduces AEMO's dispatch and prices on dataset A, NEMDE's behaviours
added one at a time (the table of ``../shared/design/fidelity.md`` §2), and the cause of every
region-interval still outside 5% of RRP.

    python bench/fidelity.py            # ../shared beside the repository, or $BIDSTACK_SHARED

Dataset A is ``data/mms/fullmarket/nem-bidding-dashboard`` (every NEM unit, 2022-01-01
00:05-04:00) with the registration derived from AEMO's workbook (no loss factors), nempy's
2024-07-10 network snapshot as the last-known loss model, the 2021-05 price thresholds and
VIC1-NSW1's 2022-01 dispatch limits. Targets (``fidelity.md``): price within 5% of RRP in 80% of
region-intervals, dispatch within 1 MW of TOTALCLEARED in 95% of unit-intervals.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import date
from pathlib import Path

import polars as pl

from bidstack.backtest import backtest
from bidstack.fleet import parse_fleet
from bidstack.io import ingest, read

WINDOW = ("2022-01-01 00:00", "2022-01-01 04:00")
#: Each step keeps the ones above it (the first is the baseline as bidstack shipped it before).
STEPS = (
    ("as shipped before: islands, cleared demand", {
        "interconnectors": "none", "demand": "cleared", "uigf_cap": False,
        "ramp_priority": "availability", "ramp_rates": "bid", "ramp_base": "chain",
        "loss_factors": "tlf"}),
    ("+ UIGF cap", {"uigf_cap": True}),
    ("+ INITIALMW each interval", {"ramp_base": "initialmw"}),
    ("+ NEMDE's ramp rates (DISPATCHLOAD)", {"ramp_rates": "dispatchload"}),
    ("+ ramp-down over availability", {"ramp_priority": "nemde"}),
    ("+ interconnectors, TOTALDEMAND", {"interconnectors": "optimised", "demand": None,
                                        "mnsp": "optimised"}),
    ("+ Basslink held at its flow (the defaults)", {"mnsp": "historical"}),
)  # fmt: skip
#: Units whose loss factors AEMO's prices reveal (band / RRP, recurring; fidelity.md §3.5).
RECOVERED_LOSS_FACTORS = ("POAT110", "STAN-1", "STAN-2", "STAN-3", "ER01", "ER02", "JBUTTERS",
                          "TARONG#1", "TARONG#2", "TARONG#3", "TARONG#4", "GSTONE3", "GSTONE4",
                          "TORRB2", "TORRB3")  # fmt: skip


def dataset_a(shared: Path, store: Path) -> Path:
    mms = shared / "data" / "mms"
    ingest(
        [
            mms / "fullmarket" / "nem-bidding-dashboard",
            mms / "nempy" / "market_management_system.db",
            mms / "nemosis/MMSDM_2021_05/PUBLIC_DVD_MARKET_PRICE_THRESHOLDS_202105010000.zip",
            mms / "nemosis/MMSDM_2022_01/PUBLIC_DVD_DISPATCHINTERCONNECTORRES_202201010000.zip",
        ],
        store,
        progress=False,
    )
    return store


def run(store: Path, options: dict, out: Path):
    market = {k: v for k, v in options.items() if v is not None and k != "demand"}
    market["network_as_of"] = date(2024, 7, 10)
    if options.get("demand"):
        market["demand"] = options["demand"]
    fleet = parse_fleet({"market": market}, source="bench", units_required=False)
    return backtest(store, fleet, [], *WINDOW, out, progress=False)


def row(name: str, result, store: Path) -> dict:
    table = {r["scope"]: r for r in result.calibration.iter_rows(named=True)}
    prices, units = table["all"], table["units"]
    regions = pl.read_parquet(result.out / "baseline" / "dispatch_regions")
    history = read_history(store)
    exact = regions.join(history, on=["regionid", "interval_datetime"]).filter(
        (pl.col("price") - pl.col("rrp")).abs() < 0.01
    )
    return {
        "run": name,
        "exact": exact.height,
        "within $1": prices["within_1"],
        "within 5%": prices["within_5pct"],
        "MAE $/MWh": round(prices["mae"], 2),
        "unit MAE MW": round(units["mae"], 2),
        "units within 1 MW": f"{units['within_1'] / units['compared']:.1%}",
    }


def read_history(store: Path) -> pl.DataFrame:
    return (
        read(store, "DISPATCHPRICE", *WINDOW)
        .select("regionid", pl.col("settlementdate").alias("interval_datetime"), "rrp")
        .collect()
    )


def causes(result, store: Path) -> pl.DataFrame:
    """Every region-interval outside 5% of RRP, with its cause and the evidence for it."""
    regions = pl.read_parquet(result.out / "baseline" / "dispatch_regions")
    units = pl.read_parquet(result.out / "baseline" / "dispatch_units")
    cleared = (
        read(store, "DISPATCHLOAD", *WINDOW)
        .select("duid", pl.col("settlementdate").alias("interval_datetime"), "totalcleared")
        .collect()
    )
    off_merit = (
        units.join(cleared, on=["duid", "interval_datetime"])
        .filter((pl.col("dispatch_mw") - pl.col("totalcleared")).abs() > 1.0)
        .group_by("regionid", "interval_datetime")
        .agg(pl.col("duid").sort().alias("units_off"))
    )
    misses = (
        regions.join(read_history(store), on=["regionid", "interval_datetime"])
        .filter((pl.col("price") - pl.col("rrp")).abs() > 0.05 * pl.col("rrp").abs())
        .join(off_merit, on=["regionid", "interval_datetime"], how="left")
    )
    cause = (
        pl.when(pl.col("units_off").list.len() > 0)
        .then(pl.lit("units held out of merit by AEMO (FCAS, network constraints)"))
        .when(pl.col("price_source") == "interconnector")
        .then(pl.lit("price set over a link: 2024 loss model, no unit loss factors"))
        .when(pl.col("marginal_duid").is_in(list(RECOVERED_LOSS_FACTORS)))
        .then(pl.lit("marginal unit's loss factor missing (registration has 1.0)"))
        .otherwise(pl.lit("own band at a loss factor of 1.0, or a near tie"))
    )
    return misses.with_columns(cause.alias("cause"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("BIDSTACK_SHARED", Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--shared", type=Path, default=default)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bidstack-fidelity-") as folder:
        store = dataset_a(args.shared, Path(folder) / "store")
        options: dict = {}
        rows, last = [], None
        for step, (name, change) in enumerate(STEPS):
            options |= change
            last = run(store, options, Path(folder) / f"out{step}")
            rows.append(row(name, last, store))
        with pl.Config(tbl_rows=50, tbl_cols=12, tbl_width_chars=160, fmt_str_lengths=70):
            print(pl.DataFrame(rows))
            table = last.calibration
            print("\nthe default run by region (region-intervals of 48):")
            print(table)
            missed = causes(last, store)
            print(f"\n{missed.height} region-intervals outside 5% of RRP, by cause:")
            counts = missed.group_by("regionid", "cause").len()
            print(counts.sort("regionid", "len", descending=[False, True]))


if __name__ == "__main__":
    main()
