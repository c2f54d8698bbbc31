"""Random allocation inputs full of edges, and the reference's answer for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from bidstack.reference.allocation import allocate_row, derive_price_phases, derive_price_type
from bidstack.rules import Variant

FIVE_MINUTES = timedelta(minutes=5)
PRICE_BANDS = [f"priceband{k}" for k in range(1, 11)]
START = datetime(2024, 1, 1, 4, 5)


def random_rows(n: int, seed: int, *, invalid: float = 0.03) -> pl.DataFrame:
    """``n`` unit-intervals with PT and PP given, drawn so that prices often equal thresholds.

    Band prices come from a coarse grid and thresholds are often a band's mlf-referred price, so
    ``>X`` and ``<X`` meet equality; ``invalid`` is the share of each kind of bad value.
    """
    rng = np.random.default_rng(seed)
    grid = rng.permuted(np.tile(np.arange(-30.0, 31.0) * 5.0, (n, 1)), axis=1)[:, :10]
    prices = np.sort(grid, axis=1)
    mlf = np.where(rng.random(n) < 0.4, 1.0, rng.choice([0.8, 0.93, 1.0, 1.07, 1.25], n))

    def threshold() -> np.ndarray:
        band = rng.integers(0, 10, n)
        on_band = prices[np.arange(n), band] / mlf
        return np.where(rng.random(n) < 0.5, on_band, rng.uniform(-160.0, 160.0, n))

    tp_min, tp_max, srmc = threshold(), threshold(), threshold()
    frrp = threshold()
    capacity = rng.uniform(0.0, 500.0, n)
    status = rng.choice(np.array([-1, 0, 1]), n)
    sdc = rng.random(n) < 0.5
    price_type = rng.choice(np.array([10, 1, -1, -10]), n)
    price_phase = rng.choice(np.array([10, 1, -1, -10]), n)

    def spoil(values: np.ndarray, bad: float | int) -> np.ndarray:
        return np.where(rng.random(n) < invalid, bad, values)

    rows = np.arange(n)
    swap = rng.random(n) < invalid
    prices[swap, 4], prices[swap, 5] = prices[swap, 5], prices[swap, 4].copy()
    prices[rng.random(n) < invalid, rng.integers(0, 10)] = np.nan
    return pl.DataFrame(
        {
            "duid": [f"U{r % 50:02d}" for r in rows],
            "interval_datetime": [START + timedelta(minutes=5 * int(r // 50)) for r in rows],
            **{name: prices[:, k] for k, name in enumerate(PRICE_BANDS)},
            "max_capacity": spoil(spoil(capacity, -1.0), np.nan),
            "tp_min": spoil(tp_min, np.nan),
            "tp_max": tp_max,
            "srmc": srmc,
            "mlf": spoil(spoil(mlf, 0.0), -0.5),
            "constraint_status": spoil(status, 2),
            "semidispatchcap": sdc,
            "price_type": spoil(spoil(price_type, 0), 5),
            "price_phase": spoil(spoil(price_phase, 3), -1),
            "frrp": spoil(frrp, np.nan),
        }
    )


def reference_rows(frame: pl.DataFrame, *, fcas_liability: bool = False) -> list[dict]:
    """The frame's rows as the reference takes them (SRMC+ computed, nulls as None)."""
    rows = frame.to_dicts()
    for row in rows:
        fcas = row.get("fcas_liability") if fcas_liability else 0.0
        row["srmc_plus"] = None if row["srmc"] is None or fcas is None else row["srmc"] + fcas
        row.setdefault("mlf", 1.0)
    return rows


def reference_allocation(
    rows: Sequence[dict], variant: Variant
) -> tuple[list[int | None], list[str], list[bool | None]]:
    answers = [allocate_row(row, variant) for row in rows]
    return [a[0] for a in answers], [a[1] for a in answers], [a[2] for a in answers]


def reference_price_type_phase(
    rows: list[dict], horizon: dict[str, int], order: str = "thresholds_first"
) -> None:
    """Derive PT (tested in ``order``) and PP into ``rows`` in place, per unit in time order
    (SPEC §3)."""
    by_unit: dict[str, list[dict]] = {}
    for row in rows:
        by_unit.setdefault(row["duid"], []).append(row)
    for unit_rows in by_unit.values():
        unit_rows.sort(key=lambda r: r["interval_datetime"])
    for duid, unit_rows in by_unit.items():
        types = [
            derive_price_type(r["frrp"], r["tp_min"], r["tp_max"], r["srmc_plus"], order)
            for r in unit_rows
        ]
        # the intervals' numbers: 5-minute intervals, counted from the unit's first
        first = unit_rows[0]["interval_datetime"]
        times = [(r["interval_datetime"] - first) // FIVE_MINUTES for r in unit_rows]
        phases = derive_price_phases(types, horizon.get(duid, 1), times)
        for row, pt, pp in zip(unit_rows, types, phases, strict=True):
            row["price_type"], row["price_phase"] = pt, pp
