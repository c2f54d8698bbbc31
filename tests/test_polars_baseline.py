"""The Polars-expression baseline of the benchmark gives the kernel's answers."""

from __future__ import annotations

import polars as pl
import pytest

from bidstack import allocate, derive_price_type_phase
from bidstack.kernel.codes import PRICE_TYPE_ORDERS
from bidstack.reference.allocation import derive_price_type
from bidstack.reference.polars_allocation import allocate_polars, price_type
from bidstack.rules import load_variant

from allocation_cases import random_rows


def test_polars_expressions_match_the_kernel() -> None:
    frame = random_rows(30_000, seed=21)
    kernel = allocate(frame, ["v1", "v2"])
    baseline = allocate_polars(
        frame.with_columns(srmc_plus=pl.col("srmc")), [load_variant("v1"), load_variant("v2")]
    ).collect()
    for name in [f"{c}_{v}" for v in ("v1", "v2") for c in ("band", "outcome", "within_limits")]:
        assert baseline.get_column(name).equals(kernel.get_column(name), check_names=False), name
    # PT derived from frrp, which often equals a threshold (both are drawn from band prices)
    forecasts = frame.drop("price_type", "price_phase").with_columns(srmc_plus=pl.col("srmc"))
    columns = ["frrp", "tp_min", "tp_max", "srmc_plus"]
    for order in PRICE_TYPE_ORDERS:
        derived = derive_price_type_phase(forecasts, price_type_order=order)
        expression = forecasts.select(price_type(order)).to_series()
        assert expression.equals(derived.get_column("price_type")), order
        python = [derive_price_type(*row, order) for row in forecasts.select(columns).iter_rows()]
        assert expression.to_list() == python, order


def test_polars_baseline_refuses_frrp_terms(tmp_path) -> None:
    path = tmp_path / "f.toml"
    path.write_text(
        'name = "f"\n[sdc_false]\n1 = ["N/A", "N/A", ">FRRP"]\n-1 = ["N/A", "PB1", "PB1"]\n'
        '-10 = ["PB1", "PB1", "PB1"]\n[sdc_true]\n1 = ["N/A", "N/A", "PB1"]\n'
        '-1 = ["N/A", "PB1", "PB1"]\n-10 = ["PB1", "PB1", "PB1"]\n[constrained_on]\n'
        '1 = ["N/A", "N/A", "PB1"]\n-1 = ["N/A", "PB1", "PB1"]\n-10 = ["PB1", "PB1", "PB1"]\n'
    )
    with pytest.raises(ValueError, match="no per-interval FRRP"):
        allocate_polars(random_rows(5, seed=1), [load_variant(path)])
