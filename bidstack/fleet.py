"""Fleet files: the trader parameters of the units a backtest re-bids, and the market settings.

A fleet file is TOML::

    [market]
    frrp = "actual"               # FRRP: the actual dispatch price (perfect foresight, default),
                                  # or {file = "forecast.parquet", column = "price"} keyed by
                                  # regionid and interval_datetime
    gate_closure_seconds = 3600   # bids submitted later than this before an interval are rejected
    demand = "total_demand"       # regional demand: DISPATCHREGIONSUM.TOTALDEMAND plus the
                                  # scheduled loads' cleared MW (the default with interconnectors);
                                  # "dispatchable_generation" (flows and loads held at history,
                                  # the default for islands); or "cleared", the sum of the
                                  # historical dispatch of the units in the data
    interconnectors = "optimised" # or "historical" (flows held at history) or "none" (islands);
                                  # by default "optimised" when the store has the network tables
    network_as_of = 2024-07-10    # optional: read the network tables as in force on this date
    interconnector_limits = "dispatch"  # NEMDE's per-interval limits where the store has them
                                  # (DISPATCHINTERCONNECTORRES), or "static"
    mnsp = "historical"           # MNSPs (Basslink) held at the flow AEMO dispatched, for want
                                  # of their offers; "optimised": dispatched as if regulated
    uigf_cap = true               # cap semi-scheduled units at their forecast (the UIGF)
    ramp_priority = "nemde"       # a ramp-down limit above availability holds the unit up;
                                  # "availability" cuts it to availability
    dispatch_engine = "kernel"    # or "reference": nempy's MIP and LP on HiGHS, for checking
    ramp_rates = "dispatchload"   # NEMDE's ramp rates (DISPATCHLOAD, MW/h) where present, or "bid"
    ramp_base = "initialmw"       # units bidding as history start each interval from their
                                  # INITIALMW; "chain": every unit from its own last dispatch
    loss_factors = "tlf_dlf"      # prices referred by TLF x DLF, or "tlf"
    history_gate_closure = false  # apply gate closure to the historical bids too
    market_price_cap = 15100.0    # used only for days MARKET_PRICE_THRESHOLDS does not cover
    market_floor_price = -1000.0
    administered_pricing = true   # cap prices at the APC when the 7-day sum exceeds the CPT
    cumulative_price_threshold = 1359100.0  # a sum of 2,016 five-minute prices: only for days
                                  # MARKET_PRICE_THRESHOLDS does not cover
    administered_price_cap = 600.0  # optional: replaces the APC of the data, every day

    demand_bids = "retail.parquet"    # optional: retailers' demand bids, one row per bid:
                                  # regionid, interval_datetime, participantid, price, mw, and
                                  # optionally submitted (the bid's submission time)
    price_type_order = "thresholds_first"  # how PT is derived from FRRP: SPEC §3 (default),
                                  # or "srmc_first" (TPmax, SRMC+, then TPmin)

    [defaults]                    # optional: any unit key, applied to every unit
    fcas_liability = 0.0

    [units.AGLHAL]
    tp_min = 0.0                  # $/MWh, TraderPriceMinimum
    tp_max = 300.0                # $/MWh, TraderPriceMaximum
    srmc = 95.0                   # $/MWh
    start_cost = 0.0              # optional: $ per start (off to on), in the running cost
    fcas_liability = 0.0          # $/MWh added to SRMC to make SRMC+ (raise-contingency FCAS
                                  # liability); false or 0 leaves it out, as by default
    min_run_time_minutes = 30     # PP's horizon, rounded up to intervals; or phase_horizon = 6
                                  # (in intervals); by default one interval
    constraint_status = "from data"   # or -1, 0, 1 (static)
    semidispatchcap = false       # or "from data"
    participant = "AGLSA"         # optional: else DUDETAILSUMMARY.PARTICIPANTID
    region = "SA1"                # optional: else DUDETAILSUMMARY.REGIONID
    max_capacity = 228.0          # optional: else DUDETAIL.MAXCAPACITY
    mlf = 0.97                    # optional: else the registered TLF x DLF ([market] loss_factors)
    nmi = "4001234567"            # optional: meter the baseline from this NMI's NEM12 reads

Every problem is a :class:`~bidstack.errors.ConfigError` naming the file, the unit and the key.
``[defaults]`` values are checked as they stand, even where every unit replaces them. A unit may
give ``phase_horizon`` or ``min_run_time_minutes``, not both (its own key replaces the other in
``[defaults]``). ``max_capacity`` is at most :data:`MAX_UNIT_MW`, and at a backtest at most
:data:`MAX_CAPACITY_RATIO` times the unit's registered capacity (see
:func:`bidstack.inputs.fleet_overrides`). What a checked file gives (:class:`Fleet`,
:class:`UnitParameters`, :class:`MarketOptions`) is :mod:`bidstack.fleet_parameters`'s,
importable from here too.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

from bidstack.errors import ConfigError
from bidstack.fleet_parameters import Fleet, ForecastFile, MarketOptions, UnitParameters
from bidstack.kernel.codes import PRICE_TYPE_ORDERS

__all__ = [
    "MAX_CAPACITY_RATIO",
    "MAX_UNIT_MW",
    "Fleet",
    "ForecastFile",
    "MarketOptions",
    "UnitParameters",
    "load_fleet",
    "parse_fleet",
]

FROM_DATA = "from data"
#: The largest ``max_capacity`` a fleet file may give (MW): no NEM unit comes close.
MAX_UNIT_MW = 10_000.0
#: How far ``max_capacity`` may exceed the unit's registered capacity (an upgrade, say).
MAX_CAPACITY_RATIO = 2.0
#: Two ways of giving PP's horizon: a unit gives one or the other.
HORIZON_KEYS = ("phase_horizon", "min_run_time_minutes")
DEMAND_SOURCES = ("total_demand", "dispatchable_generation", "cleared")
#: The [market] choices that say how dispatch follows NEMDE, and their allowed values.
CHOICES = {
    "interconnectors": ("optimised", "historical", "none"),
    "interconnector_limits": ("dispatch", "static"),
    "mnsp": ("historical", "optimised"),
    "ramp_priority": ("nemde", "availability"),
    "dispatch_engine": ("kernel", "reference"),
    "ramp_rates": ("dispatchload", "bid"),
    "ramp_base": ("initialmw", "chain"),
    "loss_factors": ("tlf_dlf", "tlf"),
}


_UNIT_KEYS = {f.name for f in fields(UnitParameters)} - {"duid"}
_REQUIRED = ("tp_min", "tp_max", "srmc")
_MARKET_KEYS = {"frrp", "gate_closure_seconds", "demand", "demand_bids", "price_type_order"} | {
    f.name for f in fields(MarketOptions)
}


def load_fleet(path: str | Path, *, units_required: bool = True) -> Fleet:
    """Read and check a fleet file (``units_required=False``: it may hold only ``[market]``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8-sig"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such fleet file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read fleet file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_fleet(data, source=str(path), base=path.parent, units_required=units_required)


def parse_fleet(
    data: dict[str, Any], *, source: str, base: Path = Path(), units_required: bool = True
) -> Fleet:
    """Check a fleet file's parsed TOML; ``base`` resolves relative forecast paths."""
    unknown = set(data) - {"market", "defaults", "units"}
    if unknown:
        raise ConfigError(f"{source}: unknown section [{sorted(unknown)[0]}]")
    market = _table(data.get("market", {}), f"{source}: [market]")
    bad = set(market) - _MARKET_KEYS
    if bad:
        raise ConfigError(f"{source}: [market] has unknown key {sorted(bad)[0]!r}")
    defaults = _table(data.get("defaults", {}), f"{source}: [defaults]")
    bad = set(defaults) - _UNIT_KEYS
    if bad:
        raise ConfigError(f"{source}: [defaults] has unknown key {sorted(bad)[0]!r}")
    _values(defaults, f"{source}: [defaults]")
    units = _table(data.get("units", {}), f"{source}: [units]")
    if not units and units_required:
        raise ConfigError(f"{source}: no units: add a [units.DUID] table per unit")
    parsed = {
        duid: _unit(
            duid, _with_defaults(defaults, _table(keys, f"{source}: [units.{duid}]")), source
        )
        for duid, keys in units.items()
    }
    gate = market.get("gate_closure_seconds", 3600)
    if isinstance(gate, bool) or not isinstance(gate, int | float) or gate < 0:
        raise ConfigError(f"{source}: [market] gate_closure_seconds must be a number ≥ 0")
    demand = market.get("demand")
    if demand is not None and demand not in DEMAND_SOURCES:
        raise ConfigError(f"{source}: [market] demand must be one of {', '.join(DEMAND_SOURCES)}")
    bids = market.get("demand_bids")
    if bids is not None and not isinstance(bids, str):
        raise ConfigError(f"{source}: [market] demand_bids must be the path of a Parquet file")
    order = market.get("price_type_order", "thresholds_first")
    if order not in PRICE_TYPE_ORDERS:
        raise ConfigError(
            f"{source}: [market] price_type_order must be one of {', '.join(PRICE_TYPE_ORDERS)}"
        )
    return Fleet(
        parsed,
        _frrp(market.get("frrp", "actual"), source, base),
        float(gate),
        demand,
        base / bids if bids else None,
        source,
        _market_options(market, source),
        price_type_order=order,
    )


def _market_options(market: dict[str, Any], source: str) -> MarketOptions:
    """The [market] keys of :class:`MarketOptions`, checked."""
    values: dict[str, Any] = {}
    for key, allowed in CHOICES.items():
        if key in market:
            if market[key] not in allowed:
                raise ConfigError(
                    f"{source}: [market] {key} must be one of {', '.join(allowed)}, "
                    f"not {market[key]!r}"
                )
            values[key] = market[key]
    for key in ("uigf_cap", "history_gate_closure", "administered_pricing"):
        if key in market:
            if not isinstance(market[key], bool):
                raise ConfigError(f"{source}: [market] {key} must be true or false")
            values[key] = market[key]
    for key in ("market_price_cap", "market_floor_price"):
        if key in market:
            values[key] = _number(market[key], f"{source}: [market] {key}")
    for key in ("cumulative_price_threshold", "administered_price_cap"):
        if key in market:
            values[key] = _number(market[key], f"{source}: [market] {key}")
            if values[key] <= 0:
                raise ConfigError(f"{source}: [market] {key} must be positive")
    cap, floor = values.get("market_price_cap"), values.get("market_floor_price")
    if cap is not None and floor is not None and cap <= floor:
        raise ConfigError(f"{source}: [market] market_price_cap must exceed market_floor_price")
    if "network_as_of" in market:
        when = market["network_as_of"]
        if not isinstance(when, date):
            raise ConfigError(f"{source}: [market] network_as_of must be a date (2024-07-10)")
        values["network_as_of"] = when if type(when) is date else when.date()
    return MarketOptions(**values)


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _frrp(value: object, source: str, base: Path) -> ForecastFile | None:
    if value == "actual":
        return None
    if (
        isinstance(value, dict)
        and set(value) == {"file", "column"}
        and all(isinstance(v, str) for v in value.values())
    ):
        return ForecastFile(base / value["file"], value["column"])
    raise ConfigError(
        f'{source}: [market] frrp must be "actual" or {{file = "...", column = "..."}}'
    )


def _with_defaults(defaults: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """A unit's keys over ``[defaults]``; a horizon key of the unit's replaces the other's."""
    if any(key in keys for key in HORIZON_KEYS):
        defaults = {key: value for key, value in defaults.items() if key not in HORIZON_KEYS}
    return defaults | keys


def _unit(duid: str, keys: dict[str, Any], source: str) -> UnitParameters:
    where = f"{source}: unit {duid}"
    unknown = set(keys) - _UNIT_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    missing = [key for key in _REQUIRED if key not in keys]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    values = _values(keys, where)
    if values["tp_min"] > values["tp_max"]:
        raise ConfigError(f"{where}: tp_min ({values['tp_min']}) is above tp_max")
    return UnitParameters(duid=duid, **values)


def _values(keys: dict[str, Any], where: str) -> dict[str, Any]:
    """The unit keys given in ``keys`` (a unit's, or ``[defaults]``), each checked."""
    values: dict[str, Any] = {}
    numbers = ("tp_min", "tp_max", "srmc", "max_capacity", "mlf", "min_run_time_minutes")
    for key in (*numbers, "start_cost"):
        if key in keys:
            values[key] = _number(keys[key], f"{where}: {key}")
    if all(key in keys for key in HORIZON_KEYS):
        raise ConfigError(
            f"{where}: give phase_horizon (intervals) or min_run_time_minutes, not both"
        )
    if values.get("max_capacity", 0.0) > MAX_UNIT_MW:
        raise ConfigError(
            f"{where}: max_capacity {values['max_capacity']:,.10g} MW is over {MAX_UNIT_MW:,.0f} "
            "MW: no NEM unit comes close"
        )
    for key in ("max_capacity", "min_run_time_minutes", "start_cost"):
        if values.get(key, 0.0) < 0:
            raise ConfigError(f"{where}: {key} must not be negative")
    if values.get("mlf", 1.0) <= 0:
        raise ConfigError(f"{where}: mlf must be positive")
    if "phase_horizon" in keys:
        horizon = keys["phase_horizon"]
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ConfigError(f"{where}: phase_horizon must be a whole number of intervals ≥ 1")
        values["phase_horizon"] = horizon
    for key in ("participant", "region", "nmi"):
        if key in keys:
            if not isinstance(keys[key], str) or not keys[key]:
                raise ConfigError(f"{where}: {key} must be a non-empty string")
            values[key] = keys[key]
    if "fcas_liability" in keys:
        liability = keys["fcas_liability"]
        if liability is False:
            liability = 0.0
        values["fcas_liability"] = _number(liability, f"{where}: fcas_liability ($/MWh, or false)")
        if values["fcas_liability"] < 0:
            raise ConfigError(f"{where}: fcas_liability must not be negative")
    status = keys.get("constraint_status", 0)
    if status == FROM_DATA:
        values["constraint_status"] = None
    elif type(status) is int and status in (-1, 0, 1):
        values["constraint_status"] = status
    else:
        raise ConfigError(f'{where}: constraint_status must be -1, 0, 1 or "{FROM_DATA}"')
    cap = keys.get("semidispatchcap", False)
    if cap == FROM_DATA:
        values["semidispatchcap"] = None
    elif isinstance(cap, bool):
        values["semidispatchcap"] = cap
    else:
        raise ConfigError(f'{where}: semidispatchcap must be true, false or "{FROM_DATA}"')
    return values


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return float(value)
