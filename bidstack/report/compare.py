"""Several backtests' summaries as one table (``bidstack compare``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from bidstack.errors import InputError
from bidstack.report.data import read_summary
from bidstack.stages.bidding import BASELINE


def compare(folders: Sequence[str | os.PathLike]) -> pl.DataFrame:
    """One row per run and scenario: ``run`` (the folder's name, or its path where two names
    are the same), then ``summary.csv``'s columns; in each run the baseline first, then the
    variants by the fleet's margin, highest first."""
    paths = [Path(folder) for folder in folders]
    names = [p.name for p in paths]
    labels = [str(p) if names.count(p.name) > 1 else p.name for p in paths]
    frames = []
    for path, label in zip(paths, labels, strict=True):
        summary = path / "summary.csv"
        if not summary.is_file():
            raise InputError(f"{path}: no summary.csv: not a finished backtest's output folder")
        frame = read_summary(summary).with_columns(pl.lit(label).alias("run"))
        rank = pl.col("fleet_margin_cents") if "fleet_margin_cents" in frame.columns else pl.lit(0)
        frames.append(
            frame.with_columns(
                (pl.col("scenario") != BASELINE).alias("_variant"), rank.alias("_rank")
            )
            .sort("_variant", "_rank", descending=[False, True], nulls_last=True)
            .drop("_variant", "_rank")
        )
    table = pl.concat(frames, how="diagonal_relaxed")
    return table.select("run", pl.exclude("run"))
