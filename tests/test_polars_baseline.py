"""The Polars-expression baseline of the benchmark gives the kernel's answers."""

from __future__ import annotations

import polars as pl
import pytest

from bidstack import allocate
from bidstack.reference.polars_allocation import allocate_polars
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
