"""The main job on built-in data: a seeded synthetic market, written into a store, backtested.

:func:`synthetic_market` draws a small NEM: a few regions, units of five technologies owned by a
handful of participants, a month of 5-minute intervals of bids (ten ascending price bands per
unit and trading day, volumes per interval shaped by technology: must-run coal, mid-merit gas,
peaking hydro, wind and solar that follow the weather and the sun) and regional demand with a
daily shape. It then dispatches those bids once to make the market's "history" (prices, unit
dispatch, SCADA readings), so that the store holds every table a backtest reads, in the MMS
shape, exactly as ``bidstack ingest`` would have written real files. One participant's units
form the fleet that the backtest re-bids.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from bidstack.demo_history import PRICE_CAP, PRICE_FLOOR, market_history
from bidstack.demo_network import REGIONS, network_tables
from bidstack.io import write_table
from bidstack.network import NetworkTables

#: Trading days drawn and written at a time.
MONTH_DAYS = 31
FLEET_PARTICIPANT = "DEMOGEN"
PARTICIPANTS = ("ALPHAGEN", "BETAPOWER", "GAMMAENERGY", "DELTAHYDRO", "EPSILONWIND")


@dataclass(frozen=True)
class Technology:
    """How units of one technology bid and run."""

    share: float
    capacity: tuple[float, float]  # MW
    ramp: float  # MW/min
    bands: tuple[float, ...]  # typical price bands, $/MWh
    volume: tuple[float, ...]  # share of availability in each band
    srmc: float  # $/MWh, for the fleet's trader parameters
    semi_scheduled: bool = False


TECHNOLOGIES = {
    "coal": Technology(
        0.15,
        (350, 700),
        5.0,
        (-1000, -50, 0, 25, 40, 60, 120, 300, 2000, 16000),
        (0.35, 0.1, 0.1, 0.15, 0.1, 0.05, 0.05, 0.05, 0.03, 0.02),
        35.0,
    ),
    "gas": Technology(
        0.2,
        (120, 400),
        10.0,
        (-1000, 0, 80, 110, 140, 180, 300, 1000, 5000, 16000),
        (0.0, 0.05, 0.15, 0.2, 0.2, 0.15, 0.1, 0.05, 0.05, 0.05),
        110.0,
    ),
    "hydro": Technology(
        0.1,
        (100, 300),
        20.0,
        (-1000, 0, 50, 150, 250, 300, 500, 1500, 8000, 16000),
        (0.0, 0.05, 0.05, 0.1, 0.2, 0.2, 0.2, 0.1, 0.05, 0.05),
        60.0,
    ),
    "wind": Technology(
        0.3,
        (50, 300),
        30.0,
        (-1000, -60, -40, -20, 0, 20, 50, 100, 500, 16000),
        (0.1, 0.4, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0, 0.0),
        0.0,
        True,
    ),
    "solar": Technology(
        0.25,
        (50, 200),
        30.0,
        (-1000, -40, -30, -10, 0, 10, 40, 100, 500, 16000),
        (0.1, 0.3, 0.3, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0, 0.0),
        0.0,
        True,
    ),
}


@dataclass(frozen=True)
class Market:
    """What :func:`synthetic_market` wrote: its window and the fleet file beside the store."""

    store: Path
    start: datetime
    end: datetime
    fleet_file: Path


def synthetic_market(
    store: str | os.PathLike,
    *,
    n_units: int = 100,
    days: int = 30,
    first_day: date = date(2024, 1, 1),
    seed: int = 0,
    fleet_size: int = 10,
    progress: bool | None = False,
) -> Market:
    """Write a seeded synthetic market into ``store`` and a fleet file beside it.

    The market is drawn and written a month of trading days at a time, so that a year of
    hundreds of units fits in memory; its "history" is dispatched month by month with ramp
    limits carried across.
    """
    rng = np.random.default_rng(seed)
    store = Path(store)
    units = _units(rng, n_units, fleet_size)
    summary, detail = _registration(units)
    thresholds = pl.DataFrame({
        "effectivedate": [datetime(2023, 7, 1)], "versionno": [1], "voll": [PRICE_CAP],
        "marketpricefloor": [PRICE_FLOOR], "administered_price_threshold": [1490200.0],
    })
    links = network_tables()
    static = {"DUDETAILSUMMARY": summary, "DUDETAIL": detail,
              "MARKET_PRICE_THRESHOLDS": thresholds, **links}  # fmt: skip
    for table, frame in static.items():
        write_table(store, table, frame, source=f"synthetic:{table}")
    grid = NetworkTables(*(links[t] for t in ("INTERCONNECTOR", "INTERCONNECTORCONSTRAINT",
                                              "LOSSFACTORMODEL", "LOSSMODEL",
                                              "MNSP_INTERCONNECTOR")))
    start = datetime.combine(first_day, datetime.min.time()) + timedelta(hours=4)
    initial_mw = None
    chunks = range(0, days, MONTH_DAYS)
    for first in tqdm(chunks, desc="synthetic market", unit="month",
                      disable=None if progress is None else not progress):  # fmt: skip
        chunk = [first_day + timedelta(days=d) for d in range(first, min(days, first + MONTH_DAYS))]
        begin = np.datetime64(start, "us") + np.timedelta64(first * 288 * 5, "m")
        times = begin + np.arange(1, len(chunk) * 288 + 1) * np.timedelta64(5, "m")
        prices, volumes, forecasts = _bids(rng, units, chunk, times, first)
        demand = _demand(rng, units, times)
        history, initial_mw = market_history(
            volumes, prices, forecasts, summary, detail, demand, initial_mw, grid
        )
        tables = {
            "BIDDAYOFFER_D": prices,
            "BIDPEROFFER_D": volumes,
            "DISPATCH_LOCAL_PRICE": _local_prices(rng, units, times),
            **history,
        }
        for table, frame in tables.items():
            write_table(store, table, frame, source=f"synthetic:{table}:{first}")
    fleet_file = store.parent / "fleet.toml"
    fleet_units = units.filter(pl.col("participantid") == FLEET_PARTICIPANT)
    fleet_file.write_text(_fleet_toml(rng, fleet_units))
    end = start + timedelta(days=days)
    return Market(store, start, end, fleet_file)


def _units(rng: np.random.Generator, n_units: int, fleet_size: int) -> pl.DataFrame:
    names = list(TECHNOLOGIES)
    shares = np.array([TECHNOLOGIES[t].share for t in names])
    technology = rng.choice(names, n_units, p=shares / shares.sum())
    low, high = np.array([TECHNOLOGIES[t].capacity for t in technology]).T
    participants = rng.choice(PARTICIPANTS, n_units)
    # the fleet takes units of every technology in turn, so that each kind of rule is exercised
    order = sorted(range(n_units), key=lambda i: (rng.random(), technology[i]))
    by_technology = {t: [i for i in order if technology[i] == t] for t in names}
    picks = [
        i
        for group in itertools.zip_longest(*by_technology.values())
        for i in group
        if i is not None
    ]
    participants[picks[: min(fleet_size, n_units)]] = FLEET_PARTICIPANT
    return pl.DataFrame(
        {
            "duid": [f"{t[:2].upper()}{i:03d}" for i, t in enumerate(technology)],
            "technology": technology,
            "regionid": [REGIONS[i % len(REGIONS)] for i in range(n_units)],
            "participantid": participants,
            "capacity": np.round(rng.uniform(low, high), 0),
            "mlf": np.round(rng.uniform(0.9, 1.03, n_units), 4),
        }
    )


def _availability(rng: np.random.Generator, technology: str, times: np.ndarray) -> np.ndarray:
    """Share of capacity available per interval."""
    n = times.size
    hour = (times - times.astype("datetime64[D]")).astype("timedelta64[m]").astype(float) / 60.0
    if technology == "wind":
        walk = np.cumsum(rng.normal(0.0, 0.02, n))
        return np.clip(0.45 + 0.35 * np.sin(walk), 0.0, 1.0)
    if technology == "solar":
        sun = np.clip(np.sin((hour - 6.5) / 12.5 * np.pi), 0.0, None)
        cloud = np.clip(1.0 - 0.4 * rng.random(n // 288 + 1), 0.2, 1.0)
        return sun * np.repeat(cloud, 288)[:n]
    outage = np.repeat(rng.random(n // 288 + 1) < 0.05, 288)[:n]
    return np.where(outage, 0.0, 0.95 if technology == "coal" else 1.0)


def _bids(
    rng: np.random.Generator, units: pl.DataFrame, days: list[date], times: np.ndarray, first: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Price bands per unit and trading day, volumes per unit and interval, and the wind and
    solar units' forecasts (UIGF) per interval; ``first`` is the index of ``days[0]`` in the
    whole market, so that rebids fall on the same days whatever the chunking."""
    price_rows, volume_frames, forecasts = [], [], []
    trading_day = np.repeat(np.arange(len(days)), 288)
    for index, unit in enumerate(units.iter_rows(named=True)):
        tech = TECHNOLOGIES[unit["technology"]]
        for day in days:
            jittered = np.array(tech.bands) * rng.uniform(0.9, 1.1, 10)
            bands = np.sort(np.clip(jittered, PRICE_FLOOR, PRICE_CAP - 10.0)) + np.arange(10) * 1e-2
            price_rows.append(
                {
                    "settlementdate": datetime.combine(day, datetime.min.time()),
                    "duid": unit["duid"],
                    "bidtype": "ENERGY",
                    "direction": "GEN",
                    "participantid": unit["participantid"],
                    "versionno": 1,
                    "offerdate": datetime.combine(day, datetime.min.time()) - timedelta(hours=12),
                    **{f"priceband{k + 1}": round(float(p), 2) for k, p in enumerate(bands)},
                }
            )
        available = unit["capacity"] * _availability(rng, unit["technology"], times)
        if tech.semi_scheduled:
            # wind and solar bid their nameplate (at night too); NEMDE caps them at the UIGF
            forecasts.append(pl.DataFrame({"duid": unit["duid"], "interval_datetime": times,
                                           "uigf": np.round(available, 3)}))
            available = np.full(times.size, float(unit["capacity"]))
        volume = np.outer(available, tech.volume)
        # one unit-day in 29 is rebid at 04:30 on the day, after gate closure for its first hour
        midnight = [datetime.combine(day, datetime.min.time()) for day in days]
        submitted = [
            m + timedelta(hours=4, minutes=30)
            if (index + first + d) % 29 == 0
            else m - timedelta(hours=12)
            for d, m in enumerate(midnight)
        ]
        volume_frames.append(
            pl.DataFrame(
                {
                    "settlementdate": [midnight[d] for d in trading_day],
                    "duid": unit["duid"],
                    "bidtype": "ENERGY",
                    "direction": "GEN",
                    "interval_datetime": times,
                    "periodid": np.arange(times.size) % 288 + 1,
                    "versionno": 1,
                    "offerdate": [submitted[d] for d in trading_day],
                    "maxavail": np.round(available, 3),
                    "rocup": tech.ramp,
                    "rocdown": tech.ramp,
                    **{f"bandavail{k + 1}": np.round(volume[:, k], 3) for k in range(10)},
                }
            )
        )
    return pl.DataFrame(price_rows), pl.concat(volume_frames), pl.concat(forecasts)


def _demand(rng: np.random.Generator, units: pl.DataFrame, times: np.ndarray) -> pl.DataFrame:
    """Regional demand with morning and evening peaks: on average about half of the capacity a
    region can count on (dispatchable units in full, wind and solar at a third), peaking close
    to all of it on some evenings."""
    hour = (times - times.astype("datetime64[D]")).astype("timedelta64[m]").astype(float) / 60.0
    shape = (
        0.8
        + 0.15 * np.exp(-(((hour - 8.0) / 2.0) ** 2))
        + 0.35 * np.exp(-(((hour - 18.5) / 2.5) ** 2))
    )
    frames = []
    for region in REGIONS:
        here = units.filter(pl.col("regionid") == region)
        firm = pl.when(pl.col("technology").is_in(["wind", "solar"])).then(1 / 3).otherwise(1.0)
        capacity = here.select((pl.col("capacity") * firm).sum()).item()
        noise = 1.0 + np.cumsum(rng.normal(0.0, 0.002, times.size)).clip(-0.15, 0.15)
        frames.append(
            pl.DataFrame(
                {
                    "settlementdate": times,
                    "runno": 1,
                    "regionid": region,
                    "intervention": 0,
                    "totaldemand": np.round(0.6 * capacity * shape * noise, 2),
                    "dispatchableload": 0.0,
                    "demandforecast": 0.0,
                }
            )
        )
    return pl.concat(frames).with_columns(pl.col("totaldemand").alias("initialsupply"))


def _registration(units: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    since = datetime(2000, 1, 1)
    semi = pl.col("technology").is_in(["wind", "solar"])
    summary = units.select(
        "duid",
        pl.lit(since).alias("start_date"),
        pl.lit(datetime(2999, 12, 31)).alias("end_date"),
        pl.lit("GENERATOR").alias("dispatchtype"),
        "regionid",
        "participantid",
        pl.col("mlf").alias("transmissionlossfactor"),
        pl.lit(1.0).alias("distributionlossfactor"),
        pl.when(semi)
        .then(pl.lit("SEMI-SCHEDULED"))
        .otherwise(pl.lit("SCHEDULED"))
        .alias("schedule_type"),
        pl.lit(since).alias("lastchanged"),
    )
    detail = units.select(
        pl.lit(since).alias("effectivedate"),
        "duid",
        pl.lit(1).alias("versionno"),
        pl.col("capacity").alias("registeredcapacity"),
        pl.col("capacity").alias("maxcapacity"),
        pl.lit("GENERATOR").alias("dispatchtype"),
        pl.lit(since).alias("lastchanged"),
    )
    return summary, detail


def _local_prices(rng: np.random.Generator, units: pl.DataFrame, times: np.ndarray) -> pl.DataFrame:
    """Some units, half of them the fleet's, behind binding network constraints now and then
    (non-zero rows only, as AEMO publishes them)."""
    fleet = units.filter(pl.col("participantid") == FLEET_PARTICIPANT).get_column("duid")
    others = units.filter(pl.col("participantid") != FLEET_PARTICIPANT).get_column("duid")
    chosen = [
        *rng.choice(fleet.to_numpy(), min(4, fleet.len()), replace=False),
        *rng.choice(others.to_numpy(), min(4, others.len()), replace=False),
    ]
    rows = []
    for duid in chosen:
        for start in rng.choice(max(1, times.size - 36), min(6, times.size), replace=True):
            sign = rng.choice([-1.0, 1.0])
            for t in times[start : start + 36]:
                rows.append((t.astype(datetime), str(duid), sign * float(rng.uniform(5, 80)), 1))
    return pl.DataFrame(
        rows,
        schema=["settlementdate", "duid", "local_price_adjustment", "locally_constrained"],
        orient="row",
    )


def _fleet_toml(rng: np.random.Generator, fleet: pl.DataFrame) -> str:
    """The fleet file: trader parameters around each technology's SRMC, varied per unit."""
    lines = [
        "# The demo fleet: the synthetic market's DEMOGEN units, re-bid by the rule variants.",
        "[market]",
        'frrp = "actual"            # perfect foresight of the dispatch price',
        "gate_closure_seconds = 3600",
        'demand = "total_demand"',
        "# the synthetic market dispatched its Basslink as a regulated link (it has no MNSP",
        "# offers), so the baseline does too; with AEMO's data the default holds it at history",
        'mnsp = "optimised"',
        "",
    ]
    for unit in fleet.sort("duid").iter_rows(named=True):
        tech = TECHNOLOGIES[unit["technology"]]
        cap = '"from data"' if tech.semi_scheduled else "false"
        lines += [
            f"[units.{unit['duid']}]  # {unit['technology']}, {unit['regionid']}",
            f"tp_min = {tech.srmc - rng.uniform(5.0, 80.0):.1f}",
            f"tp_max = {tech.srmc + rng.uniform(30.0, 400.0):.1f}",
            f"srmc = {tech.srmc:.1f}",
            f"min_run_time_minutes = {int(rng.choice([5, 30, 60, 120, 240]))}",
            'constraint_status = "from data"',
            f"semidispatchcap = {cap}",
            "",
        ]
    return "\n".join(lines)
