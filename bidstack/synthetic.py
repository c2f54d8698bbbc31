"""Seeded synthetic allocation inputs, for the allocation benchmark and tests.

Everything is drawn with NumPy from one seed, vectorised, so that fifty million unit-intervals take
seconds. Prices look like NEM offers (ten ascending bands from the market floor to near the cap),
the forecast price has a daily shape with evening peaks and midday lows, and a few units are
constrained or semi-dispatch capped.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from bidstack.columns import PRICE_BANDS
from bidstack.phase import derive_price_type_phase

#: A typical set of NEM energy price bands ($/MWh), jittered per unit and trading day.
TYPICAL_BANDS = np.array([-1000.0, -50.0, 0.0, 45.0, 90.0, 150.0, 300.0, 1000.0, 5000.0, 16000.0])


def synthetic_fleet(
    n_units: int = 100,
    days: int = 7,
    *,
    interval_minutes: int = 5,
    start: datetime = datetime(2024, 1, 1, 4, 5),
    seed: int = 0,
    price_type_phase: bool = False,
) -> pl.DataFrame:
    """A frame for :func:`bidstack.allocate`: ``n_units`` units over ``days`` trading days.

    Rows are ordered by unit, then time; band prices, thresholds and mlf are fixed per unit and
    trading day. The frame carries ``frrp`` and ``min_run_time`` (in intervals); with
    ``price_type_phase`` it also carries PT and PP derived from them (SPEC §3).
    """
    rng = np.random.default_rng(seed)
    per_day = 24 * 60 // interval_minutes
    n_intervals = days * per_day
    n_unit_days = n_units * days
    n = n_units * n_intervals

    jitter = rng.uniform(0.8, 1.2, size=(n_unit_days, 10))
    bands = np.sort(TYPICAL_BANDS * jitter + np.arange(10) * 1e-3, axis=1)
    tp_min = rng.uniform(-50.0, 60.0, n_unit_days)
    tp_max = tp_min + rng.uniform(100.0, 600.0, n_unit_days)
    srmc = rng.uniform(tp_min, tp_max)
    mlf = rng.uniform(0.9, 1.05, n_unit_days)
    per_unit_day = np.repeat(np.arange(n_unit_days), per_day)

    minutes = np.arange(1, n_intervals + 1) * interval_minutes
    hour = (minutes / 60.0 + 4.0) % 24.0
    shape = (
        80.0
        + 70.0 * np.exp(-(((hour - 18.5) / 2.0) ** 2))
        - 60.0 * np.exp(-(((hour - 12.5) / 2.5) ** 2))
    )
    frrp = np.tile(shape, n_units) * rng.lognormal(0.0, 0.35, n)
    spikes = rng.random(n) < 0.002
    frrp[spikes] = rng.uniform(1000.0, 15000.0, spikes.sum())

    unit_names = np.array([f"UNIT{u:04d}" for u in range(n_units)])
    times = np.datetime64(start, "us") + np.arange(n_intervals) * np.timedelta64(
        interval_minutes, "m"
    )
    frame = pl.DataFrame(
        {
            "duid": np.repeat(unit_names, n_intervals),
            "interval_datetime": np.tile(times, n_units),
            **{name: bands[per_unit_day, k] for k, name in enumerate(PRICE_BANDS)},
            "max_capacity": np.repeat(
                rng.choice([50.0, 100.0, 250.0, 500.0], n_units), n_intervals
            ),
            "tp_min": tp_min[per_unit_day],
            "tp_max": tp_max[per_unit_day],
            "srmc": srmc[per_unit_day],
            "mlf": mlf[per_unit_day],
            "constraint_status": rng.choice(
                np.array([-1, 0, 1], dtype=np.int8), n, p=[0.05, 0.9, 0.05]
            ),
            "semidispatchcap": rng.random(n) < 0.1,
            "frrp": frrp,
            "min_run_time": np.repeat(rng.integers(1, 13, n_units), n_intervals),
        }
    )
    if price_type_phase:
        frame = derive_price_type_phase(frame)
    return frame
