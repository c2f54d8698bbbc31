"""Helpers for the ingest and store tests: MMS files built in-test, MANIFEST parsing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bidstack.io.ingest import Outcome
from bidstack.io.schema import find_table

#: Sample files (relative to ``../shared/data/mms``) that hold nothing ingest reads: every
#: other sample file is an MMS file, a NEMOSIS cache or a database, listed in its MANIFEST.tsv.
NOT_MMS = {
    "MANIFEST.tsv",
    "schema/mmsdm_v5.7.json",
    "nemosis/aemo_static/NEM-Registration-and-Exemption-List.xlsx",
    "nemosis/aemo_static/ancillary-services-market-causer-pays-variables-file.csv",
    "nemosis/Reports/Causer_Pays_Elements/Elements_FCAS_202504151310.csv",
    "fullmarket/nem-bidding-dashboard/NEM Registration and Exemption List.xls",  # an xlsx
}

HEADER = "C,NEMP.WORLD,TEST,AEMO,PUBLIC,2024/09/01,00:00:00,0000000001,TEST,0000000001"

Section = tuple[str, str, int, Sequence[str], Sequence[Sequence[str]]]


def mms_text(*sections: Section, closing: int | None = None, newline: str = "\n") -> str:
    """An MMS CSV file: header, each (namespace, report, version, columns, rows), closing row."""
    lines = [HEADER]
    for namespace, report, version, columns, rows in sections:
        lines.append(",".join(["I", namespace, report, str(version), *columns]))
        lines += [",".join(["D", namespace, report, str(version), *row]) for row in rows]
    count = len(lines) + 1 if closing is None else closing
    lines.append(f'C,"END OF REPORT",{count}')
    return newline.join(lines) + newline


def manifest_counts(contents: str) -> dict[tuple[str, str], int]:
    """Rows per (namespace, report) from a MANIFEST ``contents`` cell."""
    counts: dict[tuple[str, str], int] = {}
    for namespace, report, rows in re.findall(r"(\w+)\.([\w: ]*?) v\d+: (\d+) rows", contents):
        key = (namespace, "" if report.startswith("Unnamed") else report)
        counts[key] = counts.get(key, 0) + int(rows)
    return counts


def manifest_table_rows(contents: str) -> dict[str, int]:
    """Rows per MMS table named in a MANIFEST ``contents`` cell of a cache or database
    (``"parquet (...): BIDDAYOFFER_D 1289 rows; ..."``, ``"SQLite: DISPATCHLOAD 497 rows + ..."``).
    """
    found = re.findall(r"\b([A-Z][A-Z0-9_]+) (\d+)\b", contents)
    return {name: int(rows) for name, rows in found if find_table(name) is not None}


@dataclass(frozen=True)
class Ingested:
    """A store and what ingest did with each file, by path relative to the samples folder."""

    store: Path
    outcomes: dict[str, Outcome]
