"""What happened to one source: rows stored per table, and every row skipped or rejected, and why.

Each :class:`Issue` names the place (``file:line``, or ``archive.zip[member.CSV]:line`` inside a
zip) and says what is wrong in one line. Issues come in three severities:

- ``warning``: the data is stored, but something deserves attention (a closing count that
  disagrees because another tool rewrote the file; a table version bidstack was not checked
  against).
- ``skipped``: rows of a table bidstack does not hold (not in the MMS data model, unknown column),
  counted but not stored.
- ``rejected``: malformed rows (wrong field count, bad date or number), counted but not stored.

The manifest keeps up to :data:`MAX_LISTED_ISSUES` issues per source and always every count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

MAX_LISTED_ISSUES = 200
SEVERITIES = ("warning", "skipped", "rejected")


@dataclass(frozen=True)
class Issue:
    """One problem in a source: where, what, and how many rows it cost."""

    severity: str
    where: str
    message: str
    rows: int = 0

    def __str__(self) -> str:
        plural = "row" if self.rows == 1 else "rows"
        counted = f" ({self.rows} {plural} {self.severity})" if self.rows else ""
        return f"{self.where}: {self.message}{counted}"


@dataclass
class SourceReport:
    """Rows stored and issues met while reading one source."""

    path: str
    kind: str
    rows: Counter[str] = field(default_factory=Counter)
    issues: list[Issue] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, severity: str, where: str, message: str, rows: int = 0) -> None:
        """Record an issue; ``rows`` is how many rows it skipped or rejected."""
        self.counts[severity] += 1
        if rows:
            self.counts[severity + "_rows"] += rows
        if len(self.issues) < MAX_LISTED_ISSUES:
            self.issues.append(Issue(severity, where, message, rows))

    def stored(self, table: str, rows: int) -> None:
        self.rows[table] += rows

    @property
    def rejected_rows(self) -> int:
        return self.counts["rejected_rows"]

    @property
    def skipped_rows(self) -> int:
        return self.counts["skipped_rows"]

    def as_manifest(self) -> dict:
        """The report as stored in the store's manifest."""
        return {
            "kind": self.kind,
            "rows": dict(sorted(self.rows.items())),
            "counts": {key: self.counts[key] for key in sorted(self.counts)},
            "issues": [asdict(issue) for issue in self.issues],
        }
