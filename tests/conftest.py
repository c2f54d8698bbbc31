"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Conftest files are plugins, not doctest modules: collected for doctests (``--doctest-modules``),
#: the rootless ``conftest`` modules of two folders would be imported under one name and clash.
collect_ignore_glob = ["conftest.py", "*/conftest.py"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's shared folder (``../shared`` beside the repository, or ``$BIDSTACK_SHARED``).

    CI always has it; a missing folder is an error, not a skip, so that no test passes vacuously.
    """
    path = Path(os.environ.get("BIDSTACK_SHARED", REPO.parent / "shared"))
    if not (path / "data" / "mms").is_dir():
        pytest.fail(f"shared data not found at {path}; set BIDSTACK_SHARED")
    return path


@pytest.fixture(scope="session")
def mms_dir(shared_dir: Path) -> Path:
    """The real AEMO MMS sample files (see MANIFEST.tsv in that folder)."""
    return shared_dir / "data" / "mms"


@pytest.fixture(scope="session")
def sample_ingest(tmp_path_factory: pytest.TempPathFactory, mms_dir: Path) -> tuple[Path, list]:
    """Every shared sample file ingested into one store, once per session: (store, outcomes)."""
    from bidstack.io.ingest import ingest

    store = tmp_path_factory.mktemp("samples") / "store"
    return store, ingest([mms_dir], store, progress=False)
