"""Fixtures for the market service's tests: databases (SQLite always, PostgreSQL when one is
reachable at ``$BIDSTACK_TEST_POSTGRES``), and a market of two participants on a live server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from service_helpers import PEPPER, cli, open_market

POSTGRES_ENV = "BIDSTACK_TEST_POSTGRES"


@pytest.fixture(autouse=True)
def _pepper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIDSTACK_SERVICE_PEPPER", PEPPER)


def _postgres_database():
    """A fresh PostgreSQL database (URL, and how to drop it), or a skip saying why not."""
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(
            f"PostgreSQL: no server given; set {POSTGRES_ENV}=postgresql://USER:PASS@"
            "127.0.0.1/postgres (.ci/run starts one)"
        )
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {url.render_as_string()} is not reachable: {exc}")
    name = f"bidstack_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A new, migrated database on each backend."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'service.db'}", None
    else:
        url, drop = _postgres_database()
    cli("init", "--db", url)
    yield url
    if drop is not None:
        drop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    cli("init", "--db", url)
    return url


@pytest.fixture
def market(db_url: str, tmp_path: Path):
    """The two participants' market, on SQLite and on PostgreSQL."""
    opened = open_market(db_url, tmp_path)
    yield opened
    opened.server.stop()


@pytest.fixture
def sqlite_market(sqlite_url: str, tmp_path: Path):
    """The two participants' market, on SQLite alone."""
    opened = open_market(sqlite_url, tmp_path)
    yield opened
    opened.server.stop()
