"""Fixtures for the ingest and store tests."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from iohelpers import Ingested, Section, mms_text


@pytest.fixture
def write_mms(tmp_path: Path) -> Callable[..., Path]:
    """Write :func:`iohelpers.mms_text` of the given sections to ``tmp_path/name``."""

    def write(name: str, *sections: Section, **options) -> Path:
        path = tmp_path / name
        path.write_bytes(mms_text(*sections, **options).encode())
        return path

    return write


@pytest.fixture(scope="session")
def manifest_rows(mms_dir: Path) -> list[dict[str, str]]:
    with (mms_dir / "MANIFEST.tsv").open() as tsv:
        return list(csv.DictReader(tsv, delimiter="\t"))


@pytest.fixture(scope="session")
def samples(sample_ingest: tuple[Path, list], mms_dir: Path) -> Ingested:
    """Every shared sample file ingested into one store, once per session."""
    store, outcomes = sample_ingest
    return Ingested(store, {str(o.path.relative_to(mms_dir)): o for o in outcomes})
