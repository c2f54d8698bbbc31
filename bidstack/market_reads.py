"""What a backtest reads from the store, table by table, with only the columns it uses.

Each function reads its tables for ``(left, right]`` (``store``: a path, or a
:class:`~bidstack.io.Store` opened once) and returns frames in the shape the stages take;
:class:`bidstack.market_data.MarketData` calls each once per window. The store's MMS semantics
(intervention runs, latest bids, registration in force) come from :mod:`bidstack.io`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import polars as pl

from bidstack.config import INTERVAL_MINUTES
from bidstack.fleet import Fleet
from bidstack.inputs import fleet_overrides, settlement_registration
from bidstack.io import Store, read
from bidstack.stages.metering import nem12_energy, scada_energy
from bidstack.stages.offers import registration
from bidstack.stages.settlement import settlement_date

#: DISPATCHLOAD's physical columns, for which the intervention run is what happened.
PHYSICAL = ("initialmw", "totalcleared")
#: DISPATCHLOAD's columns of what NEMDE applied to a unit (pricing run).
APPLIED = ("availability", "uigf", "rampuprate", "rampdownrate", "semidispatchcap")


def physical_dispatch(
    store: str | os.PathLike, left: datetime, right: datetime, duids=None, columns=()
) -> pl.DataFrame:
    """DISPATCHLOAD's physical values per unit and interval in ``(left, right]``: ``duid,
    settlementdate, initialmw, totalcleared`` and the pricing run's ``columns``. Prices come from
    the pricing run (INTERVENTION = 0), but in an intervention interval what the units did is the
    intervention run's (INTERVENTION = 1): only its INITIALMW matches SCADA there (every
    unit-interval of the 2018-04 and 2019-12 samples), so its rows replace the pricing run's
    where they exist."""
    store = Store.open(store)
    pricing = store.frame("DISPATCHLOAD", ["duid", "settlementdate", *PHYSICAL, *columns], left,
                          right, duids)  # fmt: skip
    intervention = (
        store.read("DISPATCHLOAD", left, right, duids, raw=True)
        .filter(pl.col("intervention") == 1)
        .select("duid", "settlementdate", *(pl.col(c).alias(f"{c}_run") for c in PHYSICAL))
        .unique(["duid", "settlementdate"], keep="any")
        .collect()
    )
    if intervention.is_empty():
        return pricing
    return pricing.join(
        intervention, on=["duid", "settlementdate"], how="left", maintain_order="left"
    ).select(
        "duid",
        "settlementdate",
        *(pl.coalesce(f"{c}_run", c).alias(c) for c in PHYSICAL),
        *columns,
    )


def initial_mw(store: str | os.PathLike, left: datetime) -> pl.DataFrame | None:
    """Each unit's output as the run starts (:func:`initial_mw_of` the first interval)."""
    return initial_mw_of(
        physical_dispatch(store, left, left + timedelta(minutes=INTERVAL_MINUTES)), left
    )


def initial_mw_of(physical: pl.DataFrame, left: datetime) -> pl.DataFrame | None:
    """DISPATCHLOAD.INITIALMW of the interval just after ``left``, from the intervention run
    where there is one (``physical``: :func:`physical_dispatch`).

    SCADA reads a unit drawing auxiliary load as slightly negative (-0.6 MW, say); dispatch
    ramps from output, so such a unit starts from 0 MW.
    """
    first = physical.filter(
        pl.col("settlementdate").is_between(
            left, left + timedelta(minutes=INTERVAL_MINUTES), closed="right"
        )
    )
    if first.is_empty():
        return None
    initial = pl.col("initialmw").clip(lower_bound=0.0).alias("initial_mw")
    return first.select("duid", initial).drop_nulls()


def dispatch_history(physical: pl.DataFrame) -> pl.DataFrame:
    """DISPATCHLOAD per unit and interval (``physical``: :func:`physical_dispatch` with the
    :data:`APPLIED` columns): ``duid, interval_datetime, initialmw, totalcleared, availability,
    uigf, rampuprate, rampdownrate``. Physical values come from the intervention run where one
    exists, as it is what the units did (it matches SCADA in intervention months)."""
    return physical.select(
        "duid",
        pl.col("settlementdate").alias("interval_datetime"),
        *PHYSICAL,
        "availability",
        "uigf",
        "rampuprate",
        "rampdownrate",
    )


def measured(
    store: str | os.PathLike,
    left: datetime,
    right: datetime,
    fleet: Fleet,
    registered: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Measured energy in ``(left, right]``: SCADA for every unit, and NEM12 for fleet units
    with an NMI (NEM12 first, checked against the unit's capacity: the fleet's
    ``max_capacity``, else DUDETAIL's), with the problems metering found. SCADA is read one
    interval past ``right``: its value there is the end of the window's last interval.
    ``registered``: :func:`registration_by_settlement_date` of the window, where already made."""
    step = timedelta(minutes=INTERVAL_MINUTES)
    scada = Store.open(store).frame(
        "DISPATCH_UNIT_SCADA", ["duid", "settlementdate", "scadavalue"], left, right + step
    )
    scada, problems = scada_energy(scada, INTERVAL_MINUTES, right)
    nmis = {d: u.nmi for d, u in fleet.units.items() if u.nmi}
    if not nmis:
        return scada, problems
    reads = read(store, "nem12_interval", left, right).collect()
    if registered is None:
        summary, detail = (read(store, t).collect() for t in ("DUDETAILSUMMARY", "DUDETAIL"))
        registered = registration_by_settlement_date(summary, detail, left, right, fleet)
    # each read against the capacity in force on its settlement date (a fleet entry's first),
    # whatever window holds it
    capacity = fleet_overrides(registered, fleet).select("duid", "settlement_date", "max_capacity")
    nem12, found = nem12_energy(reads, nmis, INTERVAL_MINUTES, capacity)
    energy = pl.concat([nem12, scada], how="vertical_relaxed")
    return energy, pl.concat([found, problems])


def registration_by_settlement_date(
    summary: pl.DataFrame, detail: pl.DataFrame, left: datetime, right: datetime, fleet: Fleet
) -> pl.DataFrame:
    """Each unit's registration in force on each settlement date of ``(left, right]``
    (DUDETAILSUMMARY and DUDETAIL whole; columns of
    :func:`bidstack.stages.offers.registration`)."""
    first = left.date()  # the settlement date of the interval ending just after ``left``
    days = [first + timedelta(days=k) for k in range((settlement_date(right) - first).days + 1)]
    return registration(summary, detail, days, fleet.market.loss_factors)


def settlement_units(
    store: str | os.PathLike,
    left: datetime,
    right: datetime,
    fleet: Fleet,
    offers: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Participant, region and loss factors of every unit on each settlement date of
    ``(left, right]``: the registration in force on that date (DUDETAILSUMMARY, DUDETAIL), with
    a fleet entry's overrides and the demand bids' units (see
    :func:`bidstack.inputs.settlement_registration`)."""
    registered = registration_by_settlement_date(
        read(store, "DUDETAILSUMMARY").collect(), read(store, "DUDETAIL").collect(), left, right,
        fleet,
    )  # fmt: skip
    return settlement_registration(registered, fleet, offers)


def interconnector_history(
    store: str | os.PathLike, left: datetime, right: datetime
) -> pl.DataFrame:
    """DISPATCHINTERCONNECTORRES (the pricing run): ``interconnectorid, interval_datetime,
    mwflow, mwlosses, marginalloss, exportlimit, importlimit``."""
    return (
        read(store, "DISPATCHINTERCONNECTORRES", left, right)
        .select(
            "interconnectorid",
            pl.col("settlementdate").alias("interval_datetime"),
            "mwflow",
            "mwlosses",
            "marginalloss",
            "exportlimit",
            "importlimit",
        )
        .collect()
    )


def region_sums(store: str | os.PathLike, left: datetime, right: datetime) -> pl.DataFrame:
    """DISPATCHREGIONSUM (the pricing run) with ``interval_datetime`` for ``settlementdate``:
    what regional demand and the interconnectors' loss models read, and ``netinterchange``
    where the store has it (an MNSP's flow, :mod:`bidstack.mnsp`)."""
    table = read(store, "DISPATCHREGIONSUM", left, right)
    optional = [c for c in ("netinterchange",) if c in table.collect_schema().names()]
    return table.select(
        "regionid",
        pl.col("settlementdate").alias("interval_datetime"),
        "totaldemand",
        "dispatchableload",
        "dispatchablegeneration",
        "initialsupply",
        "demandforecast",
        *optional,
    ).collect()


def dispatch_prices(store: str | os.PathLike, left: datetime, right: datetime) -> pl.DataFrame:
    """DISPATCHPRICE (the pricing run): ``regionid, interval_datetime, rrp, pre_ap_price`` (the
    price before administered pricing: PRE_AP_ENERGY_PRICE, else RRP)."""
    frame = read(store, "DISPATCHPRICE", left, right)
    pre_ap = (
        pl.coalesce("pre_ap_energy_price", "rrp")
        if "pre_ap_energy_price" in frame.collect_schema().names()
        else pl.col("rrp")
    )
    return frame.select(
        "regionid",
        pl.col("settlementdate").alias("interval_datetime"),
        "rrp",
        pre_ap.alias("pre_ap_price"),
    ).collect()


def history_prices(store: str | os.PathLike, left: datetime, right: datetime) -> pl.DataFrame:
    """DISPATCHPRICE.RRP per region and interval (the pricing run): what the baseline is
    compared with."""
    return (
        read(store, "DISPATCHPRICE", left, right)
        .select("regionid", pl.col("settlementdate").alias("interval_datetime"), "rrp")
        .collect()
    )
