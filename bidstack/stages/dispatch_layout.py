"""The dispatch stage's kernel inputs: kept offers and usable demand laid out as the network
kernel's arrays (:class:`~bidstack.kernel.network.DispatchLayout`,
:class:`~bidstack.kernel.network.OfferArrays`, :class:`~bidstack.kernel.network.LinkArrays`),
and the kernel's results as the stage's frames.

Scenarios of a backtest share all offers but their fleet's: a layout built with its own rows
marked (``own_from``) takes another scenario's own rows in their place
(:meth:`Layout.replace_own`) without laying out the shared rows again.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import polars as pl

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.errors import InputError
from bidstack.kernel.enums import LimitFlag, LinkState, PriceSource
from bidstack.kernel.network import DispatchLayout, OfferArrays
from bidstack.kernel.offer_rows import gather_bands_nb, price_sets_nb
from bidstack.sorting import key_order
from bidstack.stages.network import link_arrays, topology


class Layout:
    """The kernel's arrays for the kept offers and usable demand, and frames of its results."""

    def __init__(
        self, offers, demand, initial, network, minutes: float, own_from: int | None = None
    ) -> None:
        regions = set(demand["regionid"].unique()) | set(offers["regionid"].unique())
        if network is not None:
            named = set(network.links["from_region"]) | set(network.links["to_region"])
            unknown = sorted(named - regions)
            if unknown:
                link = network.links.filter(
                    pl.col("from_region").is_in(unknown) | pl.col("to_region").is_in(unknown)
                )["linkid"][0]
                raise InputError(
                    f"interconnector link {link} names region {unknown[0]}, which has no demand "
                    "or offers in the run"
                )
        names = sorted(regions)
        self.topology = topology(names, network.links if network is not None else None)
        region = pl.Enum(names)
        times = pl.concat([offers.select("interval_datetime"), demand.select("interval_datetime")])
        self.intervals = times.unique().sort("interval_datetime")
        self.minutes = minutes
        grid = self.intervals.with_row_index("i", offset=0)
        units = (
            offers.select("regionid", "duid")
            .unique()
            .with_columns(pl.col("regionid").cast(region))
            .sort("regionid", "duid")
        )
        self.units = units.with_row_index("u")
        # each row's interval and unit number, and the rows in kernel order (interval, unit)
        epoch = self.intervals["interval_datetime"].dt.epoch("us").to_numpy()
        row_interval = np.searchsorted(epoch, offers["interval_datetime"].dt.epoch("us").to_numpy())
        row_unit = (
            offers.select(pl.col("duid").replace_strict(self.units["duid"], self.units["u"]))
            .to_series()
            .to_numpy()
            .astype(np.int64)
        )
        self.order = key_order(row_interval * len(self.units) + row_unit)
        self.row_interval = row_interval[self.order]
        self.row_unit = row_unit[self.order]
        self.rows = offers.select(
            "duid", pl.col("regionid").cast(region), "interval_datetime", "maxavail", "uigf"
        )[self.order]
        n_int, n_reg = grid.height, len(names)
        demand_mw = np.full((n_int, n_reg), np.nan)
        d = demand.with_columns(pl.col("regionid").cast(region)).join(grid, on="interval_datetime")
        g = d["regionid"].to_physical().to_numpy()
        demand_mw[d["i"].to_numpy(), g] = d["demand"].to_numpy()
        limits = (
            d.group_by("i")
            .agg(
                pl.col("market_price_cap").n_unique().alias("caps"),
                pl.col("market_floor_price").n_unique().alias("floors"),
                pl.col("market_price_cap").first(),
                pl.col("market_floor_price").first(),
            )
            .sort("i")
        )
        split = limits.filter((pl.col("caps") > 1) | (pl.col("floors") > 1))
        if len(split):
            at = self.intervals["interval_datetime"][split["i"][0]]
            raise InputError(f"demand at {at}: regions give different market price caps or floors")
        cap = np.full(n_int, np.inf)
        floor = np.full(n_int, -np.inf)
        cap[limits["i"].to_numpy()] = limits["market_price_cap"].to_numpy()
        floor[limits["i"].to_numpy()] = limits["market_floor_price"].to_numpy()
        elapsed = np.diff(self.intervals["interval_datetime"].dt.epoch("us").to_numpy())
        follows = np.concatenate([[False], elapsed == round(self.minutes * 60e6)])
        region_units = np.zeros(n_reg + 1, np.int64)
        counts = units.group_by("regionid").len()
        region_units[counts["regionid"].to_physical().to_numpy() + 1] = counts["len"].to_numpy()
        interval_rows = np.searchsorted(self.row_interval, np.arange(n_int + 1))
        self.layout = DispatchLayout(
            interval_rows.astype(np.int64),
            follows,
            demand_mw,
            cap,
            floor,
            np.full(n_int, self.minutes),
            np.cumsum(region_units),
            self._initial_mw(initial),
            self.topology.parent,
            self.topology.order,
        )
        self.offers = _offer_arrays(offers, self.order, self.row_unit, len(self.units))
        self.links, self.link_table = link_arrays(
            network, self.topology, self.intervals["interval_datetime"]
        )
        self._own = None
        if own_from is not None:  # own rows' kernel rows, by their (interval, unit) key
            own_rows = np.flatnonzero(self.order >= own_from)
            keys = self.row_interval[own_rows] * len(self.units) + self.row_unit[own_rows]
            by_key = np.argsort(keys, kind="stable")
            self._own = (keys[by_key], own_rows[by_key], self.offers.band_price)

    @cached_property
    def by_unit(self) -> np.ndarray:
        """The kernel's rows in unit and time order (``duid, interval_datetime``)."""
        duid_rank = self.units.get_column("duid").rank("ordinal").to_numpy().astype(np.int64) - 1
        return key_order(duid_rank[self.row_unit] * len(self.intervals) + self.row_interval)

    def _initial_mw(self, initial) -> np.ndarray:
        """Each unit's output before its first row (NaN: none)."""
        joined = self.units.join(initial, on="duid", how="left", maintain_order="left")
        return joined["initial_mw"].fill_null(np.nan).to_numpy().astype(np.float64)

    def replace_own(self, own: pl.DataFrame, initial) -> bool:
        """Lay ``own`` (a scenario's kept own offers) out in place of the own rows this layout
        holds, starting from ``initial``; False, with nothing changed, when ``own`` is not the
        same unit-intervals with the same availability (lay that scenario out whole).

        Only the own rows are written: their bands, ramp rates and ramp bases over this
        layout's arrays, in place (what the kernel read for the scenario before is gone), and
        their price sets after the shared rows'.
        """
        if self._own is None:
            return False
        keys, kernel_rows, shared_sets = self._own
        if own.height != keys.size:
            return False
        epoch = self.intervals["interval_datetime"].dt.epoch("us").to_numpy()
        times = own["interval_datetime"].dt.epoch("us").to_numpy()
        interval = np.minimum(np.searchsorted(epoch, times), epoch.size - 1)
        unit = own.select(
            pl.col("duid").replace_strict(self.units["duid"], self.units["u"], default=-1)
        ).to_series().to_numpy().astype(np.int64)  # fmt: skip
        wanted = interval * len(self.units) + unit
        at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
        if not ((epoch[interval] == times) & (unit >= 0) & (keys[at] == wanted)).all():
            return False
        rows = kernel_rows[at]  # own row r goes to kernel row rows[r], one each (keys unique)
        for name in ("maxavail", "uigf"):
            laid = _values(self.rows.select(pl.col(name).gather(rows)), name, np.inf)
            if not np.array_equal(laid, _values(own, name, np.inf), equal_nan=True):
                return False
        self.layout = self.layout._replace(initial_mw=self._initial_mw(initial))
        offers = self.offers
        in_kernel_order = np.argsort(rows, kind="stable")
        price_set, band_price = price_sets_nb(
            tuple(_values(own, name, np.nan) for name in PRICE_BANDS),
            _values(own, "mlf", 1.0),
            in_kernel_order,
            self.row_unit[rows[in_kernel_order]],
            len(self.units),
        )
        offers.row_price_set[rows[in_kernel_order]] = price_set + len(shared_sets)
        offers.band_avail[rows] = np.column_stack([_values(own, c, np.nan) for c in BAND_VOLUMES])
        for laid, name, missing in (
            (offers.ramp_up_rate, "rocup", np.inf),
            (offers.ramp_down_rate, "rocdown", np.inf),
            (offers.ramp_base, "ramp_base_mw", np.nan),
        ):
            laid[rows] = _values(own, name, missing)
        self.offers = offers._replace(band_price=np.concatenate([shared_sets, band_price]))
        return True

    def unit_frame(self, out) -> pl.DataFrame:
        dispatch_mw, lower, upper, base, forced, flags = out
        return self.rows.select(
            "duid",
            pl.col("regionid").cast(pl.String),
            "interval_datetime",
            dispatch_mw=dispatch_mw,
            lower_mw=lower,
            upper_mw=upper,
            availability_mw=pl.min_horizontal("maxavail", "uigf").fill_null(np.inf),
            ramp_base_mw=pl.Series(base).fill_nan(None),
            forced_mw=forced,
            ramp_up_limited=(flags & LimitFlag.ramp_up) > 0,
            ramp_down_limited=(flags & LimitFlag.ramp_down) > 0,
            ramp_down_over_availability=(flags & LimitFlag.ramp_down_over_availability) > 0,
        )

    def region_frame(self, out, link_out) -> pl.DataFrame:
        price, _raw, unserved, oversupply, dispatched, marginal, source = out
        present = ~np.isnan(self.layout.demand)
        i, g = np.nonzero(present)
        export = np.zeros(self.layout.demand.shape)
        if self.links.link_from.size:
            withdrawn, injected = link_out[2], link_out[3]
            for lk in range(self.links.link_from.size):
                export[:, self.links.link_from[lk]] += withdrawn[:, lk]
                export[:, self.links.link_to[lk]] -= injected[:, lk]
        row = pl.Series(marginal[i, g])
        marginal_row = pl.select(pl.when(row >= 0).then(row)).to_series()
        return pl.DataFrame(
            {
                "regionid": np.array(self.topology.regions, dtype=object)[g].tolist(),
                "interval_datetime": self.intervals["interval_datetime"].gather(i),
                "price": price[i, g],
                "demand": self.layout.demand[i, g],
                "dispatched_mw": dispatched[i, g],
                "net_export_mw": export[i, g],
                "unserved_mw": unserved[i, g],
                "oversupply_mw": oversupply[i, g],
                "marginal_duid": self.rows["duid"].gather(marginal_row),
                "price_source": pl.Series(source[i, g]).replace_strict(
                    dict(enumerate(PriceSource._fields)), return_dtype=pl.String
                ),
                "interval_minutes": np.full(i.size, self.minutes),
            }
        )

    def link_frame(self, out) -> pl.DataFrame:
        flow, losses, withdrawn, injected, marginal_loss, flags = out
        schema = {
            "linkid": pl.String,
            "interconnectorid": pl.String,
            "from_region": pl.String,
            "to_region": pl.String,
            "interval_datetime": pl.Datetime("us"),
            "flow_mw": pl.Float64,
            "losses_mw": pl.Float64,
            "withdrawn_mw": pl.Float64,
            "injected_mw": pl.Float64,
            "marginal_loss": pl.Float64,
            "at_export_limit": pl.Boolean,
            "at_import_limit": pl.Boolean,
        }
        if not self.links.link_from.size:
            return pl.DataFrame(schema=schema)
        present = ~np.isnan(self.layout.demand)
        on = ~np.isnan(self.links.lower)
        on &= present[:, self.links.link_from] & present[:, self.links.link_to]
        i, lk = np.nonzero(on)
        table = self.link_table
        state = flags[i, lk]
        return pl.DataFrame(
            {
                "linkid": table["linkid"].gather(lk),
                "interconnectorid": table["interconnectorid"].gather(lk),
                "from_region": table["from_region"].gather(lk),
                "to_region": table["to_region"].gather(lk),
                "interval_datetime": self.intervals["interval_datetime"].gather(i),
                "flow_mw": flow[i, lk],
                "losses_mw": losses[i, lk],
                "withdrawn_mw": withdrawn[i, lk],
                "injected_mw": injected[i, lk],
                "marginal_loss": marginal_loss[i, lk],
                "at_export_limit": (state & LinkState.at_export_limit) > 0,
                "at_import_limit": (state & LinkState.at_import_limit) > 0,
            },
            schema=schema,
        )


def _offer_arrays(
    offers: pl.DataFrame, order: np.ndarray, row_unit: np.ndarray, n_units: int
) -> OfferArrays:
    """Per-row arrays in kernel order (``order``: the offers' rows in that order); each unit's
    runs of unchanged referred prices numbered once (``band_price`` holds one row per run)."""

    def column(name: str, missing: float) -> np.ndarray:
        return _values(offers, name, missing)[order]

    prices = tuple(_values(offers, name, np.nan) for name in PRICE_BANDS)
    price_set, band_price = price_sets_nb(
        prices, _values(offers, "mlf", 1.0), order, row_unit, n_units
    )
    cap = np.fmin(column("maxavail", np.nan), column("uigf", np.nan))
    cap[np.isnan(cap)] = np.inf
    return OfferArrays(
        np.ascontiguousarray(row_unit, np.int64),
        price_set,
        gather_bands_nb(
            tuple(_values(offers, name, np.nan) for name in BAND_VOLUMES),
            order,
            np.empty((order.size, len(BAND_VOLUMES))),
            np.empty(order.size, np.int64),
        ),
        cap,
        column("rocup", np.inf),
        column("rocdown", np.inf),
        column("ramp_base_mw", np.nan),
        band_price,
    )


def _values(frame: pl.DataFrame, name: str, missing: float) -> np.ndarray:
    """A column as float64, nulls as ``missing`` (a float64 column without nulls is read as it
    is: each cast or fill is a query of its own, and a layout reads some thirty columns)."""
    column = frame.get_column(name)
    if column.dtype != pl.Float64:
        column = column.cast(pl.Float64)
    if column.has_nulls():
        column = column.fill_null(missing)
    return column.to_numpy()
