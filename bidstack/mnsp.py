"""MNSP interconnectors (Basslink) held at the flow AEMO dispatched.

NEMDE dispatches a market network service provider's interconnector on its owner's offers
(MNSP_DAYOFFER, MNSP_PEROFFER: price bands per one-way link, as a generator bids), not on the
price difference alone as it does a regulated one. bidstack does not model those offers, so by
default (``[market] mnsp = "historical"``) each MNSP is held at its historical flow in every
interval:

- DISPATCHINTERCONNECTORRES.MWFLOW (the pricing run) where the store has it;
- else the NETINTERCHANGE (DISPATCHREGIONSUM) of a region that the MNSP alone joins to the rest
  of the NEM, as Basslink joins Tasmania: that region's net export is the MNSP's flow, measured
  at its boundary (positive in the interconnector's REGIONFROM -> REGIONTO direction).

An interval with neither is dispatched on the MNSP's loss model as if it were regulated, and
reported (``mnsp_flow_unknown``). ``mnsp = "optimised"`` dispatches every MNSP so. Held flows
keep the baseline on history (on dataset A, Tasmania's price within 5% of AEMO's in 30 of 48
intervals against 12 with Basslink optimised); in a what-if the MNSP's flow does not respond to
the fleet's bids, as its owner's offers might have.
"""

from __future__ import annotations

import polars as pl

from bidstack.problems import PROBLEM_SCHEMA

FLOWS = {
    "interconnectorid": pl.String,
    "interval_datetime": pl.Datetime("us"),
    "mwflow": pl.Float64,
}


def held_flows(
    constraint: pl.DataFrame,
    interconnector: pl.DataFrame,
    flows: pl.DataFrame,
    sums: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each MNSP's historical flow per interval (``interconnectorid, interval_datetime,
    mwflow``) and problem rows for its intervals without one.

    ``constraint``: INTERCONNECTORCONSTRAINT in force (``ICTYPE`` says which are MNSPs);
    ``interconnector``: INTERCONNECTOR (``REGIONFROM``, ``REGIONTO``); ``flows``:
    DISPATCHINTERCONNECTORRES; ``sums``: DISPATCHREGIONSUM, with ``netinterchange`` where the
    store has it.

    >>> from datetime import datetime
    >>> constraint = pl.DataFrame({"interconnectorid": ["T-V-MNSP1", "V-SA"],
    ...                            "ictype": ["MNSP", "REGULATED"]})
    >>> ends = pl.DataFrame({"interconnectorid": ["T-V-MNSP1", "V-SA"],
    ...                      "regionfrom": ["TAS1", "VIC1"], "regionto": ["VIC1", "SA1"]})
    >>> at = datetime(2022, 1, 1, 0, 5)
    >>> sums = pl.DataFrame({"regionid": ["TAS1", "VIC1", "SA1"], "interval_datetime": [at] * 3,
    ...                      "netinterchange": [-120.5, 300.0, -179.5]})
    >>> held, problems = held_flows(constraint, ends, pl.DataFrame(), sums)
    >>> held.rows(), problems.height
    ([('T-V-MNSP1', datetime.datetime(2022, 1, 1, 0, 5), -120.5)], 0)
    """
    mnsps = (
        constraint.filter(pl.col("ictype").str.to_uppercase() == "MNSP")
        .get_column("interconnectorid")
        .unique()
        .sort()
        .to_list()
    )
    if not mnsps:
        return pl.DataFrame(schema=FLOWS), pl.DataFrame(schema=PROBLEM_SCHEMA)
    recorded = pl.DataFrame(schema=FLOWS)
    if not flows.is_empty():
        recorded = (
            flows.filter(pl.col("interconnectorid").is_in(mnsps))
            .select(list(FLOWS))
            .drop_nulls("mwflow")
            .cast(FLOWS)
        )
    held = pl.concat([recorded, _from_net_interchange(mnsps, constraint, interconnector, sums)])
    held = held.unique(["interconnectorid", "interval_datetime"], keep="first", maintain_order=True)
    intervals = sums.select("interval_datetime").unique()
    wanted = pl.DataFrame({"interconnectorid": mnsps}).join(intervals, how="cross")
    missing = wanted.join(held, on=["interconnectorid", "interval_datetime"], how="anti")
    problems = missing.select(
        pl.lit("mnsp_flow_unknown").alias("kind"),
        pl.lit(None, pl.String).alias("regionid"),
        pl.col("interconnectorid").alias("duid"),
        "interval_datetime",
        pl.lit(
            "no DISPATCHINTERCONNECTORRES flow and no region it alone joins: dispatched as a "
            "regulated interconnector on its loss model"
        ).alias("detail"),
    ).cast(PROBLEM_SCHEMA)
    return held.sort("interconnectorid", "interval_datetime"), problems


def _from_net_interchange(
    mnsps: list[str], constraint: pl.DataFrame, interconnector: pl.DataFrame, sums: pl.DataFrame
) -> pl.DataFrame:
    """MNSP flows from the net interchange of a region that only the MNSP joins."""
    if "netinterchange" not in sums.columns:
        return pl.DataFrame(schema=FLOWS)
    in_force = constraint.get_column("interconnectorid").unique().to_list()
    ends = interconnector.filter(pl.col("interconnectorid").is_in(in_force)).unique(
        "interconnectorid", keep="last"
    )
    touching = pl.concat(
        [
            ends.select("interconnectorid", pl.col("regionfrom").alias("regionid"), sign=1.0),
            ends.select("interconnectorid", pl.col("regionto").alias("regionid"), sign=-1.0),
        ]
    )
    links = touching.group_by("regionid").agg(pl.len().alias("links"))
    alone = (
        touching.filter(pl.col("interconnectorid").is_in(mnsps))
        .join(links.filter(pl.col("links") == 1), on="regionid")
        .unique("interconnectorid", keep="first", maintain_order=True)
    )
    return (
        alone.join(sums.select("regionid", "interval_datetime", "netinterchange"), on="regionid")
        .select(
            "interconnectorid",
            "interval_datetime",
            (pl.col("sign") * pl.col("netinterchange")).alias("mwflow"),
        )
        .drop_nulls("mwflow")
        .cast(FLOWS)
    )


def hold(limits: pl.DataFrame, held: pl.DataFrame) -> pl.DataFrame:
    """Narrow the limits of each MNSP link (``mnsp``) to its held flow: one of a pair of one-way
    links (``paired``, direction ``sign``) carries the flow in its own direction and the other
    none; a lone link carries it whole. A flow beyond the link's limits is held at the limit."""
    if held.is_empty():
        return limits
    joined = limits.join(
        held.rename({"mwflow": "held_mw"}), on=["interconnectorid", "interval_datetime"], how="left"
    )
    own = (
        pl.when(pl.col("paired"))
        .then((pl.col("sign") * pl.col("held_mw")).clip(lower_bound=0.0))
        .otherwise(pl.col("held_mw"))
    )
    fixed = pl.max_horizontal(pl.min_horizontal(own, pl.col("upper_mw")), pl.col("lower_mw"))
    applies = pl.col("mnsp") & pl.col("held_mw").is_not_null()
    return joined.with_columns(
        pl.when(applies).then(fixed).otherwise(pl.col("lower_mw")).alias("lower_mw"),
        pl.when(applies).then(fixed).otherwise(pl.col("upper_mw")).alias("upper_mw"),
    ).drop("held_mw")
