"""A participant's settlement statements, read from a backtest's results (read-only):
``<results>/<scenario>/statements/{daily,totals}.parquet``, as
:meth:`bidstack.stages.statements.Statements.write` leaves them, only the participant's rows."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from bidstack.service.problems import Problem
from bidstack.service.schemas import Statement

SCENARIO = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
FORMATS = ("json", "csv", "txt")


def _folder(results: Path | None, scenario: str) -> Path:
    if results is None:
        raise Problem(404, "not-found", "this server was started without --results: it has no "
                      "statements to serve")  # fmt: skip
    folder = results / scenario / "statements"
    if not SCENARIO.fullmatch(scenario) or not folder.is_dir():
        raise Problem(404, "not-found", f"no statements for scenario {scenario!r}")
    return folder


def _rows(folder: Path, name: str, participant: str, start: date | None, end: date | None):
    import polars as pl

    frame = pl.read_parquet(folder / f"{name}.parquet").filter(
        pl.col("participantid") == participant
    )
    if name == "daily":
        if start is not None:
            frame = frame.filter(pl.col("settlement_date") >= start)
        if end is not None:
            frame = frame.filter(pl.col("settlement_date") <= end)
    return frame


def _totals(folder: Path, scenario: str, participant: str):
    totals = _rows(folder, "totals", participant, None, None)
    if totals.is_empty():
        raise Problem(404, "not-found", f"you have no statement in scenario {scenario!r}")
    return totals


def statement(
    results: Path | None, scenario: str, participant: str, start: date | None, end: date | None
) -> Statement:
    """The participant's totals for the run and its days in ``[start, end]``; 404 if it has no
    statement in that scenario."""
    folder = _folder(results, scenario)
    totals = _totals(folder, scenario, participant)
    daily = _rows(folder, "daily", participant, start, end)
    return Statement(
        participantid=participant,
        scenario=scenario,
        totals=totals.drop("participantid").row(0, named=True),
        daily=daily.drop("participantid").to_dicts(),
    )


def statement_csv(
    results: Path | None, scenario: str, participant: str, start: date | None, end: date | None
) -> str:
    """The participant's rows of ``daily.csv``, with its header."""
    folder = _folder(results, scenario)
    _totals(folder, scenario, participant)
    return _rows(folder, "daily", participant, start, end).write_csv()


def statement_text(results: Path | None, scenario: str, participant: str) -> str:
    """The participant's readable statement, as the backtest writes it in
    ``statement_<participant>.txt``, made from its own rows of the statements (never from a
    file chosen by name: ids that differ only in characters a file name cannot hold would
    share one)."""
    from bidstack.stages.statements import statement_text as text_statement

    folder = _folder(results, scenario)
    totals = _totals(folder, scenario, participant)
    daily = _rows(folder, "daily", participant, None, None)
    return text_statement(totals, daily, participant)
