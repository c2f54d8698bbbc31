"""What a fleet file says, once checked (:func:`bidstack.fleet.load_fleet` reads and checks it):
each unit's trader parameters, the market options that say how dispatch follows NEMDE, and the
:class:`Fleet` that holds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class UnitParameters:
    """One unit's trader parameters; None means "take it from the data"."""

    duid: str
    tp_min: float
    tp_max: float
    srmc: float
    fcas_liability: float = 0.0
    start_cost: float = 0.0
    min_run_time_minutes: float | None = None
    phase_horizon: int | None = None
    constraint_status: int | None = 0
    semidispatchcap: bool | None = False
    participant: str | None = None
    region: str | None = None
    max_capacity: float | None = None
    mlf: float | None = None
    nmi: str | None = None

    def horizon(self, interval_minutes: float) -> int:
        """The phase horizon in intervals: given, or the minimum run time rounded up, ≥ 1."""
        if self.phase_horizon is not None:
            return self.phase_horizon
        if self.min_run_time_minutes is not None:
            return max(1, math.ceil(self.min_run_time_minutes / interval_minutes - 1e-9))
        return 1


@dataclass(frozen=True)
class ForecastFile:
    """FRRP read from a Parquet file with ``regionid``, ``interval_datetime`` and ``column``."""

    path: Path
    column: str


@dataclass(frozen=True)
class MarketOptions:
    """How dispatch follows NEMDE: the ``[market]`` keys of a fleet file (see
    :mod:`bidstack.fleet`); every default is NEMDE's way."""

    interconnectors: str | None = None  # None: "optimised" when the store has the tables
    network_as_of: date | None = None
    interconnector_limits: str = "dispatch"
    mnsp: str = "historical"
    uigf_cap: bool = True
    ramp_priority: str = "nemde"
    dispatch_engine: str = "kernel"
    ramp_rates: str = "dispatchload"
    ramp_base: str = "initialmw"
    loss_factors: str = "tlf_dlf"
    history_gate_closure: bool = False
    market_price_cap: float | None = None
    market_floor_price: float | None = None
    administered_pricing: bool = True
    cumulative_price_threshold: float | None = None
    administered_price_cap: float | None = None


@dataclass(frozen=True)
class Fleet:
    units: dict[str, UnitParameters]
    frrp: ForecastFile | None = None  # None: the actual dispatch price (perfect foresight)
    gate_closure_seconds: float = 3600.0
    demand: str | None = None  # None: "total_demand" with interconnectors, else
    # "dispatchable_generation"
    demand_bids: Path | None = None
    source: str = "<fleet>"
    market: MarketOptions = field(default_factory=MarketOptions)
    price_type_order: str = "thresholds_first"  # see bidstack.allocate

    def parameters(self, interval_minutes: float) -> pl.DataFrame:
        """One row per unit: the trader parameters as columns (nulls: take from the data)."""
        rows = []
        for unit in self.units.values():
            row = {f.name: getattr(unit, f.name) for f in fields(UnitParameters)}
            row["phase_horizon"] = unit.horizon(interval_minutes)
            rows.append(row)
        schema = {
            "duid": pl.String,
            "tp_min": pl.Float64,
            "tp_max": pl.Float64,
            "srmc": pl.Float64,
            "fcas_liability": pl.Float64,
            "start_cost": pl.Float64,
            "min_run_time_minutes": pl.Float64,
            "phase_horizon": pl.Int64,
            "constraint_status": pl.Int8,
            "semidispatchcap": pl.Boolean,
            "participant": pl.String,
            "region": pl.String,
            "max_capacity": pl.Float64,
            "mlf": pl.Float64,
            "nmi": pl.String,
        }
        return pl.DataFrame(rows, schema=schema, orient="row")
