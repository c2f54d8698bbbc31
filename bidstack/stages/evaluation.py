"""Grid evaluation: per region and interval, offered capacity against demand.

The reserve margin is the capacity offered in a region (each unit's availability: the lower of
its MAXAVAIL and the sum of its band volumes; demand bids are not capacity) less demand.
Lack-of-reserve flags follow AEMO's levels with the largest units as the credible contingencies
(a simplification, stated here):
LOR3 when the margin is below zero, LOR2 below the largest single unit's availability, LOR1
below the sum of the two largest.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import polars as pl

from bidstack.columns import BAND_VOLUMES, DEMAND_BID_PREFIX
from bidstack.errors import InputError
from bidstack.kernel.reduce import group_sums_nb
from bidstack.sums import group_sums

KEYS = ["regionid", "interval_datetime"]
OFFER_COLUMNS = ["regionid", "duid", "interval_datetime", *BAND_VOLUMES]


def unit_availability(offers: pl.DataFrame) -> pl.Expr:
    """A unit's offered MW in an interval: its band volumes, capped by MAXAVAIL when given.

    A volume that is missing, NaN or infinite counts as nothing: dispatch rejects such offers.
    """
    # added band by band, left to right: pl.sum_horizontal's order depends on the thread count
    bands = functools.reduce(
        operator.add,
        (pl.when(pl.col(band).is_finite()).then(pl.col(band)).otherwise(0.0)
         for band in BAND_VOLUMES),
    )  # fmt: skip
    if "maxavail" not in offers.columns:
        return bands
    return (
        pl.when(pl.col("maxavail").is_null())
        .then(bands)
        .otherwise(pl.min_horizontal(bands, pl.col("maxavail")))
    )


def evaluate(offers: pl.DataFrame, demand: pl.DataFrame) -> pl.DataFrame:
    """Demand, offered capacity, reserve margin and LOR flags per region and interval.

    ``offers``: ``regionid``, ``duid``, ``interval_datetime``, ``bandavail1..10`` and optionally
    ``maxavail``. ``demand``: ``regionid``, ``interval_datetime``, ``demand`` (MW). Every demand
    row comes out; a region-interval without offers has ``offered_mw`` 0 and is flagged LOR3.
    The units' capacities are added in the order of their duids (so the bits do not depend on
    the offers' row order).
    """
    _check_columns("offers", offers, OFFER_COLUMNS)
    _check_columns("demand", demand, [*KEYS, "demand"])
    available = _available(offers)
    offered = (
        available.group_by(KEYS)
        .agg(*_largest_units(), pl.len().alias("units_offering"))
        .join(
            group_sums(available, KEYS, ["mw"], order=["duid"]).rename({"mw": "offered_mw"}),
            on=KEYS,
        )
    )
    return _table(demand, offered)


def _check_columns(name: str, frame: pl.DataFrame, needed: list[str]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"evaluation {name} is missing column(s) {', '.join(missing)}")


def _available(offers: pl.DataFrame) -> pl.DataFrame:
    """``regionid, interval_datetime, duid, mw``: each offer's capacity, demand bids left out."""
    return offers.select(*KEYS, "duid", unit_availability(offers).alias("mw")).filter(
        ~pl.col("duid").str.starts_with(DEMAND_BID_PREFIX)
    )  # the columns used, then the rows: filtering every column first took most of the time


def _largest_units() -> list[pl.Expr]:
    """A region-interval's largest unit and its two largest."""
    return [
        pl.col("mw").max().alias("largest_unit_mw"),
        pl.col("mw").top_k(2).sum().alias("two_largest_mw"),
    ]


def _table(demand: pl.DataFrame, offered: pl.DataFrame) -> pl.DataFrame:
    """Every demand row with the region-interval's offered capacity (``offered``: the keys,
    ``largest_unit_mw, two_largest_mw, units_offering, offered_mw``), margin and flags."""
    table = demand.select(*KEYS, "demand").join(offered, on=KEYS, how="left")
    table = table.with_columns(
        pl.col("offered_mw", "largest_unit_mw", "two_largest_mw").fill_null(0.0),
        pl.col("units_offering").fill_null(0).cast(pl.Int64),
    )
    margin = pl.col("offered_mw") - pl.col("demand")
    return table.with_columns(
        margin.alias("reserve_mw"),
        (margin < 0).alias("lor3"),
        (margin < pl.col("largest_unit_mw")).alias("lor2"),
        (margin < pl.col("two_largest_mw")).alias("lor1"),
    ).sort(*KEYS)


class ScenarioEvaluation:
    """:func:`evaluate` of several scenarios that share every offer but their own (a backtest's
    baseline and variants), against one demand.

    The shared offers' capacities are put in (interval, duid) order once, with each
    region-interval's two largest. A scenario's own capacities are then merged into
    that order, so each region-interval is added up in duid order as :func:`evaluate` adds it,
    and its largest units are found among its own offers and the shared two largest. The result
    is :func:`evaluate`'s on the shared offers and ``own`` together, to the bit. Where that cannot
    be assured cheaply (a non-finite capacity, a null key, columns of other types, or own offers
    in a region or interval the shared offers do not have), the scenario is evaluated whole.
    """

    def __init__(self, shared: pl.DataFrame, demand: pl.DataFrame) -> None:
        _check_columns("offers", shared, OFFER_COLUMNS)
        _check_columns("demand", demand, [*KEYS, "demand"])
        # the columns an evaluation reads: the rest of the offers need not be kept alive
        self.shared = shared.select(c for c in shared.columns if c in (*OFFER_COLUMNS, "maxavail"))
        self.demand = demand
        self._base = _SharedCapacity.of(_available(shared))

    def evaluate(self, own: pl.DataFrame) -> pl.DataFrame:
        """The evaluation of the shared offers and ``own``."""
        _check_columns("offers", own, OFFER_COLUMNS)
        available = _available(own)
        same_types = all(
            own.schema[c] == self.shared.schema[c]
            for c in [*OFFER_COLUMNS, "maxavail"]
            if c in own.columns and c in self.shared.columns
        )  # else their concatenation casts, and a whole evaluation sums other values
        if self._base is None or not same_types or not self._base.takes(available):
            return evaluate(pl.concat([self.shared, own], how="diagonal_relaxed"), self.demand)
        return _table(self.demand, self._base.with_own(available))


class _SharedCapacity:
    """The shared offers' capacities in (interval, duid) order: each row's key in that order,
    region-interval (``group``) and capacity, with the dictionaries that number them and each
    region-interval's two largest capacities."""

    def __init__(self, available: pl.DataFrame) -> None:
        self.schema = available.schema
        self.regions = available.get_column("regionid").unique().sort()
        self.intervals = np.sort(_physical(available.select(pl.col(KEYS[1]).unique()), KEYS[1]))
        self.duids = available.get_column("duid").unique().sort()
        group = self._groups(available)
        duid = available.get_column("duid").cast(pl.Enum(self.duids)).to_physical().to_numpy()
        key = group // len(self.regions) * self._span + 2 * duid.astype(np.int64) + 1
        order = np.argsort(key, kind="stable")
        self.key, self.group = key[order], group[order]
        self.mw = available.get_column("mw").to_numpy()[order]
        self.largest = (
            pl.DataFrame({"group": self.group, "mw": self.mw})
            .group_by("group")
            .agg(pl.col("mw").top_k(2))
            .explode("mw")
        )  # a region-interval's largest units are among these and the scenario's own

    @classmethod
    def of(cls, available: pl.DataFrame) -> _SharedCapacity | None:
        """The shared capacities, or None if they cannot be merged with (see :meth:`takes`)."""
        if available.is_empty() or not _mergeable(available):
            return None
        return cls(available)

    @property
    def _span(self) -> int:
        """Keys per interval: a new duid (even) between each two of the dictionary's (odd)."""
        return 2 * len(self.duids) + 2

    def _groups(self, available: pl.DataFrame) -> np.ndarray:
        """Each row's region-interval: interval index × regions + region index (int64)."""
        interval = np.searchsorted(self.intervals, _physical(available, KEYS[1]))
        region = available.get_column("regionid").cast(pl.Enum(self.regions)).to_physical()
        return interval.astype(np.int64) * len(self.regions) + region.to_numpy()

    def takes(self, available: pl.DataFrame) -> bool:
        """Whether ``available`` (own offers' capacities) merges into these to the bits of a
        whole evaluation: finite capacities, no null key, and only regions and intervals of the
        shared."""
        if available.schema != self.schema or not _mergeable(available):
            return False
        return bool(
            available.get_column("regionid").is_in(self.regions.implode()).all()
            and np.isin(_physical(available, KEYS[1]), self.intervals).all()
        )

    def with_own(self, available: pl.DataFrame) -> pl.DataFrame:
        """``offered`` for :func:`_table`: the keys and each region-interval's figures, over the
        shared capacities and ``available`` (own offers', as :meth:`takes` accepts)."""
        own = available.sort(KEYS[1], "duid", maintain_order=True)
        own_group = self._groups(own)
        duids = own.get_column("duid")
        at = self.duids.search_sorted(duids).to_numpy().astype(np.int64)
        nearest = self.duids.gather(np.minimum(at, len(self.duids) - 1))
        known = (at < len(self.duids)) & (nearest == duids).to_numpy()
        key = own_group // len(self.regions) * self._span + 2 * at + known
        into = np.searchsorted(self.key, key, side="right")  # after equal shared rows, as concat
        group = np.insert(self.group, into, own_group)
        mw = np.insert(self.mw, into, own.get_column("mw").to_numpy())
        groups = len(self.intervals) * len(self.regions)
        units = np.bincount(group, minlength=groups)
        totals = group_sums_nb(mw.reshape(-1, 1), group, groups)[:, 0]
        index = np.flatnonzero(units)
        sums = pl.DataFrame(
            {
                "group": index,
                "regionid": self.regions.gather(index % len(self.regions)),
                KEYS[1]: pl.Series(self.intervals[index // len(self.regions)]),
                "units_offering": units[index],
                "offered_mw": totals[index],
            }
        ).with_columns(pl.col(KEYS[1]).cast(self.schema[KEYS[1]]))
        largest = (
            pl.concat([self.largest, pl.DataFrame({"group": own_group, "mw": own["mw"]})])
            .group_by("group")
            .agg(*_largest_units())
        )  # fmt: skip
        return sums.join(largest, on="group").select(
            *KEYS, "largest_unit_mw", "two_largest_mw", "units_offering", "offered_mw"
        )


def _mergeable(available: pl.DataFrame) -> bool:
    """Text region and duid, keys without nulls, finite capacities."""
    schema = available.schema
    return (
        schema["regionid"] == pl.String
        and schema["duid"] == pl.String
        and schema["interval_datetime"].is_temporal()
        and schema["mw"] == pl.Float64
        and not any(available.get_column(c).has_nulls() for c in [*KEYS, "duid"])
        and bool(np.isfinite(available.get_column("mw").to_numpy()).all())
    )


def _physical(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame.get_column(column).to_physical().to_numpy().astype(np.int64)
