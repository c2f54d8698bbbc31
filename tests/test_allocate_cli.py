"""The command line: allocate, rules, demo; user errors as one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from bidstack.cli import main

from allocation_cases import random_rows


def test_allocate_writes_results_and_prints_counts(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in.parquet"
    frame = random_rows(3_000, seed=4)
    frame.write_parquet(source)
    out = tmp_path / "out.parquet"
    assert main(["allocate", str(source), "--rules", "v1", "--rules", "v2", "-o", str(out)]) == 0
    result = pl.read_parquet(out)
    assert result.height == frame.height
    assert {"band_v1", "outcome_v2", "within_limits_v2"} <= set(result.columns)
    printed = capsys.readouterr().out
    counts = result.group_by("outcome_v1").len()
    allocated = counts.filter(pl.col("outcome_v1") == "allocated").get_column("len").item()
    assert f"{allocated:,}" in printed
    assert "rejected as invalid_input" in printed
    assert "max_capacity missing or negative (or not finite) (first: row " in printed


def test_allocate_writes_the_rejected_rows_where_asked(tmp_path: Path, capsys) -> None:
    source, out, rejected = tmp_path / "in.parquet", tmp_path / "out.parquet", tmp_path / "bad.csv"
    frame = random_rows(3_000, seed=4)
    frame.write_parquet(source)
    assert main(["allocate", str(source), "-o", str(out), "--rejected", str(rejected)]) == 0
    listed = pl.read_csv(rejected)
    assert listed.columns[:4] == ["row", "duid", "interval_datetime", "reason"]
    invalid = pl.read_parquet(out).with_row_index("row").filter(
        pl.col("outcome") == "invalid_input"
    )
    assert listed["row"].to_list() == invalid["row"].to_list()
    assert f"{listed.height:,} invalid_input rows -> {rejected}" in capsys.readouterr().out
    assert main(["allocate", str(source), "-o", str(out), "--rejected", str(out)]) == 2


def test_allocate_price_type_order_flag(tmp_path: Path, capsys) -> None:
    # SRMC+ 15 < frrp 20 <= TPmin 25: PT = PP = -10 by default (SPEC §3), so v1 SDC FALSE is
    # <TPmax(65): PB8 (60); with srmc_first PT = PP = 1, >TPmin: PB5 (30)
    prices = [-1000.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame = random_rows(1, seed=2, invalid=0.0).drop("price_type", "price_phase")
    frame.with_columns(
        *(pl.lit(price).alias(f"priceband{k}") for k, price in enumerate(prices, start=1)),
        mlf=1.0,
        constraint_status=0,
        semidispatchcap=False,
        frrp=20.0,
        tp_min=25.0,
        tp_max=65.0,
        srmc=15.0,
    ).write_parquet(source)
    bands = {}
    for order in (None, "thresholds_first", "srmc_first"):
        flag = ["--price-type-order", order] if order else []
        assert main(["allocate", str(source), "-o", str(out), "--rules", "v1", *flag]) == 0
        bands[order] = pl.read_parquet(out).get_column("band").to_list()
    assert bands == {None: [8], "thresholds_first": [8], "srmc_first": [5]}
    capsys.readouterr()
    assert main(["allocate", str(source), "-o", str(out), "--price-type-order", "x"]) == 2
    assert "price_type_order must be one of thresholds_first, srmc_first" in capsys.readouterr().err


def test_rules_show_and_list(capsys) -> None:
    assert main(["rules", "show", "v2"]) == 0
    assert "| -1 | N/A | max(<TPmax, <SRMC+) | min(>TPmin, <SRMC+) |" in capsys.readouterr().out
    assert main(["rules", "list"]) == 0
    assert capsys.readouterr().out.startswith("v1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rules", "show", "nope"], "unknown rule variant 'nope'"),
        (["allocate", "missing.parquet", "-o", "x.parquet"], "missing.parquet: cannot read"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bidstack", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 2
    assert run.stderr.startswith("bidstack: error: ")
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr


def test_missing_column_is_named_on_the_command_line(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in.parquet"
    random_rows(10, seed=1).drop("srmc").write_parquet(source)
    assert main(["allocate", str(source), "-o", str(tmp_path / "o.parquet")]) == 2
    assert "missing column(s) 'srmc'" in capsys.readouterr().err
