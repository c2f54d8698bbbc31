"""NEM12 uploads, read by the project's NEM12 reader (:class:`bidstack.io.nem12.Nem12Reader`)
exactly as ``bidstack ingest`` reads a file, but all or nothing: any record the reader
rejects refuses the whole upload (422, naming ``file:line``), as does a day outside the years
the service takes (:data:`~bidstack.service.schemas.FIRST_YEAR` to ``LAST_YEAR``)."""

from __future__ import annotations

from bidstack.errors import IngestError
from bidstack.io.chunks import UTF8_BOM, Chunk
from bidstack.io.nem12 import Nem12Reader
from bidstack.io.report import SourceReport
from bidstack.service.problems import Problem, ProblemItem
from bidstack.service.schemas import FIRST_YEAR, LAST_YEAR


def parse_nem12(content: bytes, name: str) -> tuple[list[dict], list[str]]:
    """The file's ``nem12_interval`` rows, and the reader's warnings."""
    report = SourceReport(name, "nem12")
    reader = Nem12Reader(name, report, name)
    data = bytearray(content.removeprefix(UTF8_BOM))
    if not data.endswith(b"\n"):
        data += b"\n"
    try:
        tables = [table for _, table in reader.tables([Chunk(data, len(data), len(content))])]
    except IngestError as exc:
        raise Problem(
            422,
            "nem12-rejected",
            f"{exc}",
            errors=[ProblemItem(kind="nem12_rejected", detail=str(exc))],
        ) from exc
    rejected = [issue for issue in report.issues if issue.severity == "rejected"]
    if report.counts["rejected"]:
        raise Problem(
            422,
            "nem12-rejected",
            f"{report.counts['rejected']} record(s) of {name} cannot be used; nothing was stored",
            errors=[
                ProblemItem(kind="nem12_rejected", where=issue.where, detail=issue.message)
                for issue in rejected
            ],
        )
    rows = [row for table in tables for row in table.to_pylist()]
    if not rows:
        raise Problem(
            422,
            "nem12-rejected",
            f"{name} holds no interval data",
            errors=[ProblemItem(kind="nem12_rejected", detail="no 300 records")],
        )
    _check_years(rows, name)
    warnings = [str(issue) for issue in report.issues if issue.severity == "warning"]
    return rows, warnings


def _check_years(rows: list[dict], name: str) -> None:
    """422 naming each ``300`` record of a day outside the years the service takes."""
    days = {
        row["source_line"]: row["interval_date"]
        for row in rows
        if not FIRST_YEAR <= row["interval_date"].year <= LAST_YEAR
    }
    if days:
        raise Problem(
            422,
            "nem12-rejected",
            f"{len(days)} record(s) of {name} read days outside the years {FIRST_YEAR} to "
            f"{LAST_YEAR}; nothing was stored",
            errors=[
                ProblemItem(
                    kind="interval_out_of_range",
                    where=f"{name}:{line}",
                    detail=f"300 record of {day}: not a day in the years {FIRST_YEAR} to "
                    f"{LAST_YEAR}",
                )
                for line, day in sorted(days.items())
            ],
        )
