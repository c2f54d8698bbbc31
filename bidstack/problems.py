"""Problem rows: every fault a stage finds, one row each, in one schema.

A stage reports what it left out or assumed (``kind``), where (``regionid``, ``duid``,
``interval_datetime``, any of them null when it does not apply) and why (``detail``); the backtest
tags each row with its ``scenario`` (``all`` for what is found before the scenarios part) and
writes them to ``problems/``.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

PROBLEM_SCHEMA = {
    "kind": pl.String,
    "regionid": pl.String,
    "duid": pl.String,
    "interval_datetime": pl.Datetime("us"),
    "detail": pl.String,
}
#: The scenario of rows found before the scenarios part (offers, registration, the round).
EVERY_SCENARIO = "all"


def problem_rows(
    frame: pl.DataFrame, kind: str, detail: str | pl.Expr | None = None
) -> pl.DataFrame:
    """One row of ``kind`` per row of ``frame``, keeping its ``regionid``, ``duid`` and
    ``interval_datetime`` where it has them; ``detail`` is text, an expression, or (None) the
    frame's ``reason`` column.

    >>> from datetime import datetime
    >>> late = pl.DataFrame({"duid": ["A"], "interval_datetime": [datetime(2024, 1, 1, 0, 5)]})
    >>> problem_rows(late, "late_bid", "after gate closure").row(0)
    ('late_bid', None, 'A', datetime.datetime(2024, 1, 1, 0, 5), 'after gate closure')
    """
    if detail is None:
        detail = pl.col("reason")
    elif isinstance(detail, str):
        detail = pl.lit(detail)
    return frame.select(
        pl.lit(kind).alias("kind"),
        *(
            pl.col(c) if c in frame.columns else pl.lit(None, PROBLEM_SCHEMA[c]).alias(c)
            for c in ("regionid", "duid", "interval_datetime")
        ),
        detail.alias("detail"),
    ).cast(PROBLEM_SCHEMA)


def one_problem(kind: str, detail: str) -> pl.DataFrame:
    """A single row of ``kind`` that names no region, unit or interval."""
    return pl.DataFrame(
        {"kind": [kind], "regionid": [None], "duid": [None], "interval_datetime": [None],
         "detail": [detail]},
        schema=PROBLEM_SCHEMA,
    )  # fmt: skip


def tagged(frames: Iterable[pl.DataFrame], scenario: str) -> list[pl.DataFrame]:
    """Problem frames with their ``scenario``."""
    return [frame.with_columns(scenario=pl.lit(scenario)) for frame in frames]


def no_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEM_SCHEMA)
