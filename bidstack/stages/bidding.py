"""The bidding round: the offers each scenario dispatches.

The *baseline* keeps every unit's historical bid. In each rule variant the fleet's units bid by
the allocation kernel instead: the unit's whole capacity in the band its rule table chooses, at
its historical prices for the day, everything else as history had it (availability, ramp rates).
All variants are allocated in one pass of the kernel.

Gate closure (the round's timeout, ``Fleet.gate_closure_seconds`` before an interval starts):
a bid submitted later is rejected and reported as ``late_bid``; the unit offers nothing in that
interval. It applies to bids arriving from outside history (retailers' demand bids); historical
``_D`` bids are the ones AEMO dispatched and are taken as accepted, unless ``[market]
history_gate_closure`` asks otherwise. Rule-based bids are made by the round itself and are
never late. Retailers' demand bids
(price, MW) join every scenario: a bid of Q MW at P is Q MW of demand plus Q MW that "generates"
(is not consumed) once the price exceeds P, which the dispatch kernel handles as a unit with no
ramp limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from bidstack.allocation import Allocation, allocate_with_report
from bidstack.columns import BAND_VOLUMES, DEMAND_BID_PREFIX, PRICE_BANDS
from bidstack.config import BASELINE
from bidstack.errors import InputError
from bidstack.fleet import Fleet
from bidstack.market import gate_closes
from bidstack.problems import PROBLEM_SCHEMA, problem_rows
from bidstack.rules import load_variants

#: Step between the padding prices of a demand bid's unused bands ($/MWh).
_PAD = 1e-3


@dataclass(frozen=True)
class BiddingRound:
    """``scenarios``: the offers to dispatch per scenario (``baseline`` and each variant), with
    the columns of :class:`bidstack.stages.offers.OfferBook`. ``allocation``: the fleet's
    allocation under every variant. ``extra_demand``: MW of demand bids per region-interval
    (``regionid, interval_datetime, demand_bid_mw``). ``problems``: rejected bids and unknown
    fleet units. ``shared``: the offers every scenario dispatches (the other units' and the demand
    bids'); ``own``: each scenario's fleet offers, so that ``scenarios[s]`` is ``shared`` and
    ``own[s]``."""

    scenarios: dict[str, pl.DataFrame]
    allocation: Allocation | None
    extra_demand: pl.DataFrame
    problems: pl.DataFrame
    shared: pl.DataFrame
    own: dict[str, pl.DataFrame]


def bidding_round(
    offers: pl.DataFrame,
    fleet: Fleet,
    variants: list,
    *,
    frrp: pl.DataFrame,
    interval_minutes: float,
    constraint_status: pl.DataFrame | None = None,
    semidispatchcap: pl.DataFrame | None = None,
    demand_bids: pl.DataFrame | None = None,
    lookahead: pl.DataFrame | None = None,
) -> BiddingRound:
    """Build each scenario's offers.

    ``frrp``: ``regionid, interval_datetime, frrp``. ``constraint_status`` and
    ``semidispatchcap``: ``duid, interval_datetime`` and the value, for the units whose fleet
    entry says ``"from data"``. ``demand_bids``: ``regionid, interval_datetime, participantid,
    price, mw`` and optionally ``submitted``. ``lookahead``: ``duid, interval_datetime, frrp``
    of the fleet's intervals just after this round's, so that PP looks ahead across the end of a
    chunk of a longer run (see :func:`bidstack.allocate`).
    """
    if fleet.market.history_gate_closure:
        on_time, late = _gate_closure(
            offers, "offerdate", fleet.gate_closure_seconds, interval_minutes
        )
    else:  # the _D tables hold the bids AEMO dispatched: history is taken as accepted
        on_time, late = offers, pl.DataFrame(schema=PROBLEM_SCHEMA)
    problems = [late]
    known = set(offers.get_column("duid").unique().to_list())
    unknown = sorted(set(fleet.units) - known)
    problems.append(
        pl.DataFrame(
            {
                "kind": "fleet_unit_unknown",
                "regionid": None,
                "duid": unknown,
                "interval_datetime": None,
                "detail": "the fleet names a unit with no offers",
            },
            schema=PROBLEM_SCHEMA,
        )
    )
    bids, extra = _demand_bids(demand_bids, fleet.gate_closure_seconds, interval_minutes, problems)
    is_fleet = pl.col("duid").is_in(list(fleet.units))
    others = pl.concat([on_time.filter(~is_fleet), bids], how="diagonal_relaxed")
    own = {BASELINE: on_time.filter(is_fleet)}
    scenarios = {BASELINE: pl.concat([others, own[BASELINE]], how="diagonal_relaxed")}
    fleet_offers = offers.filter(is_fleet)
    names = [variant.name for variant in load_variants(variants)] if variants else []
    for name in names:
        # the fleet's rule-based bids join below, where it has offers
        scenarios[name], own[name] = others, on_time.clear()
    allocation = None
    if names and not fleet_offers.is_empty():
        frame = allocation_input(
            fleet_offers, fleet, frrp, interval_minutes, constraint_status, semidispatchcap
        )
        allocation = allocate_with_report(
            frame,
            variants,
            phase_horizon="phase_horizon",
            fcas_liability=True,
            bandavail=True,
            lookahead=_lookahead_input(lookahead, fleet, interval_minutes),
            price_type_order=fleet.price_type_order,
            interval_minutes=interval_minutes,
        )
        for name in names:
            suffix = "" if len(names) == 1 else f"_{name}"
            rebid = allocation.frame.select(
                pl.col(f"{c}{suffix}").alias(c) if c in BAND_VOLUMES else pl.col(c)
                for c in fleet_offers.columns
                if c != "ramp_base_mw"
            )  # the re-bid units ramp from their own dispatch, not history's
            scenarios[name] = pl.concat([others, rebid], how="diagonal_relaxed")
            own[name] = rebid
    return BiddingRound(scenarios, allocation, extra, pl.concat(problems), others, own)


def allocation_output(bidding: BiddingRound) -> pl.DataFrame:
    """The fleet's allocation inputs, derived PT and PP, and results, without band volumes."""
    allocation = bidding.allocation
    frame = allocation.frame.select(
        c for c in allocation.frame.columns if not c.startswith("bandavail")
    )
    return (
        frame.hstack(allocation.derived.get_columns()) if allocation.derived is not None else frame
    )


def rejected_allocations(bidding: BiddingRound) -> pl.DataFrame:
    """The fleet's unit-intervals the allocation kernel could not evaluate, with why
    (``invalid_input``)."""
    rejected = bidding.allocation.rejected
    regions = bidding.allocation.frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt64).alias("row"), "regionid"
    )
    return problem_rows(rejected.join(regions, on="row", how="left"), "invalid_input")


def allocation_input(
    fleet_offers: pl.DataFrame,
    fleet: Fleet,
    frrp: pl.DataFrame,
    interval_minutes: float,
    constraint_status: pl.DataFrame | None,
    semidispatchcap: pl.DataFrame | None,
) -> pl.DataFrame:
    """The fleet's offers with the columns :func:`bidstack.allocate` needs."""
    parameters = fleet.parameters(interval_minutes)
    frame = fleet_offers.join(
        parameters.rename({c: f"fleet_{c}" for c in parameters.columns if c != "duid"}),
        on="duid",
    ).join(
        frrp.select("regionid", "interval_datetime", "frrp"),
        on=["regionid", "interval_datetime"],
        how="left",
    )
    keys = ["duid", "interval_datetime"]
    for column, table in (
        ("constraint_status", constraint_status),
        ("semidispatchcap", semidispatchcap),
    ):
        data = pl.lit(None)
        if table is not None:
            frame = frame.join(
                table.select(*keys, pl.col(column).alias(f"data_{column}")), on=keys, how="left"
            )
            data = pl.col(f"data_{column}")
        frame = frame.with_columns(pl.coalesce(pl.col(f"fleet_{column}"), data).alias(column))
    return frame.with_columns(
        pl.col("semidispatchcap").cast(pl.Boolean),
        pl.col("constraint_status").cast(pl.Int8),
        pl.coalesce("fleet_max_capacity", "max_capacity").alias("max_capacity"),
        pl.coalesce("fleet_mlf", "mlf").alias("mlf"),
        pl.col("fleet_tp_min").alias("tp_min"),
        pl.col("fleet_tp_max").alias("tp_max"),
        pl.col("fleet_srmc").alias("srmc"),
        pl.col("fleet_fcas_liability").alias("fcas_liability"),
        pl.col("fleet_phase_horizon").alias("phase_horizon"),
    ).drop(pl.selectors.starts_with("fleet_", "data_"), *BAND_VOLUMES)


def _lookahead_input(
    lookahead: pl.DataFrame | None, fleet: Fleet, interval_minutes: float
) -> pl.DataFrame | None:
    """The look-ahead rows with the fleet's thresholds and horizons, as the derivation needs."""
    if lookahead is None or lookahead.is_empty():
        return None
    parameters = fleet.parameters(interval_minutes).select(
        "duid", "tp_min", "tp_max", "srmc", "fcas_liability", "phase_horizon"
    )
    return lookahead.select("duid", "interval_datetime", "frrp").join(parameters, on="duid")


def _gate_closure(
    frame: pl.DataFrame, submitted: str, gate_seconds: float, interval_minutes: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split bids into those submitted by gate closure and the late ones (as problems)."""
    closes = gate_closes(pl.col("interval_datetime"), gate_seconds, interval_minutes)
    late = pl.col(submitted).is_not_null() & (pl.col(submitted) > closes)
    rejected = (
        frame.filter(late)
        .select(
            pl.lit("late_bid").alias("kind"),
            pl.col("regionid"),
            pl.col("duid") if "duid" in frame.columns else pl.lit(None, pl.String).alias("duid"),
            "interval_datetime",
            pl.format("submitted {}, after gate closure at {}", pl.col(submitted), closes).alias(
                "detail"
            ),
        )
        .cast(PROBLEM_SCHEMA)
    )
    return frame.filter(~late), rejected


def _demand_bids(
    bids: pl.DataFrame | None, gate_seconds: float, interval_minutes: float, problems: list
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Demand bids as offers of virtual units, and the MW they add to demand."""
    extra_schema = {
        "regionid": pl.String,
        "interval_datetime": pl.Datetime("us"),
        "demand_bid_mw": pl.Float64,
    }
    if bids is None or bids.is_empty():
        return pl.DataFrame(), pl.DataFrame(schema=extra_schema)
    needed = ["regionid", "interval_datetime", "participantid", "price", "mw"]
    missing = [c for c in needed if c not in bids.columns]
    if missing:
        raise InputError(f"demand bids are missing column(s) {', '.join(missing)}")
    # the virtual unit's name, in problem rows as in dispatch
    unit = pl.format("{}{}:{}@{}", pl.lit(DEMAND_BID_PREFIX), "participantid", "regionid", "price")
    bids = bids.with_columns(unit.alias("duid"))
    if "submitted" in bids.columns:
        bids, late = _gate_closure(bids, "submitted", gate_seconds, interval_minutes)
        problems.append(late)
    mw, price = pl.col("mw"), pl.col("price")
    good = (
        mw.is_finite()
        & (mw >= 0)
        & price.is_finite()
        & pl.col("regionid").is_not_null()
        & pl.col("participantid").is_not_null()
    ).fill_null(False)
    problems.append(
        bids.filter(~good)
        .select(
            pl.lit("bad_demand_bid").alias("kind"),
            "regionid",
            "duid",
            "interval_datetime",
            pl.lit(
                "a demand bid needs a region, a participant, a finite price and finite MW ≥ 0"
            ).alias("detail"),
        )
        .cast(PROBLEM_SCHEMA)
    )
    bids = (
        bids.filter(good)
        .group_by("regionid", "interval_datetime", "participantid", "price", "duid")
        .agg(pl.col("mw").sum())
    )
    offers = bids.select(
        "duid",
        "regionid",
        "participantid",
        "interval_datetime",
        *((pl.col("price") + k * _PAD).alias(name) for k, name in enumerate(PRICE_BANDS)),
        pl.col("mw").alias("bandavail1"),
        *(pl.lit(0.0).alias(name) for name in BAND_VOLUMES[1:]),
        pl.lit(1.0).alias("mlf"),
    )
    extra = bids.group_by("regionid", "interval_datetime").agg(
        pl.col("mw").sum().alias("demand_bid_mw")
    )
    return offers, extra.cast(extra_schema)
