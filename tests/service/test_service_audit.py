"""The audit log: every change and refusal is a row of a hash chain that verifies, and any
edit, removal or insertion breaks it. And the request path never imports Numba."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import delete, select, update

from bidstack.cli import main
from bidstack.service.audit import verify
from bidstack.service.db import audit_events, make_engine

from service_helpers import bids, cli, offer


def test_every_change_and_refusal_is_logged_and_the_chain_verifies(sqlite_market, capsys) -> None:
    server, key, db = sqlite_market.server, sqlite_market.key_a, sqlite_market.db_url
    assert server.post("/v1/offers", key, offer("A1"), idempotency="o1").status_code == 201
    assert server.post("/v1/offers", key, offer("A1"), idempotency="o1").status_code == 201
    assert server.post("/v1/bids", sqlite_market.key_b, bids("A1", [1])).status_code == 403
    assert server.get("/v1/bids", "bsk_0000000000000000_" + "x" * 43).status_code == 401
    assert server.post("/v1/bids", key, bids("A1", [1], maxavail=-1.0)).status_code == 422
    engine = make_engine(db, pool_size=1)
    with engine.connect() as connection:
        rows = connection.execute(select(audit_events).order_by(audit_events.c.seq)).all()
    # 2 participants and 2 keys from the CLI, then the five requests
    assert [(r.method, r.status, r.outcome.split(":")[0]) for r in rows[4:]] == [
        ("POST", 201, "offer A1 2024-01-02"),
        ("POST", 201, "replayed"),
        ("POST", 403, "not-your-unit"),
        ("GET", 401, "unauthorized"),
        ("POST", 422, "invalid-content"),
    ]
    assert rows[4].participant_id == "GENA" and rows[4].idempotency_key == "o1"
    assert rows[6].participant_id == "GENB" and rows[7].key_id == "0" * 16
    assert all(len(r.request_sha256) == 64 for r in rows[4:] if r.method == "POST")
    assert key.split("_", 2)[2] not in str([tuple(r) for r in rows])  # no secret is logged
    assert verify(engine).error is None and verify(engine).rows == 9
    assert main(["service", "audit", "verify", "--db", db]) == 0
    assert "audit chain verified: 9 rows" in capsys.readouterr().out


EDITS = {
    "outcome": "ok",
    "status": 200,
    "participant_id": "GENB",
    "at_utc": "2020-01-01",
    "path": "/v1/x",
    "hash": "f" * 64,
    "prev_hash": "e" * 64,
}


def test_editing_any_row_breaks_the_chain(sqlite_market) -> None:
    server, key, db = sqlite_market.server, sqlite_market.key_a, sqlite_market.db_url
    assert server.post("/v1/offers", key, offer("A1")).status_code == 201
    assert server.post("/v1/bids", key, bids("A1", [2])).status_code == 201
    engine = make_engine(db, pool_size=1)
    assert verify(engine).error is None
    for column, value in EDITS.items():
        for seq in (1, 5, 6):  # the first row, one in the middle, the last
            with engine.begin() as connection:
                before = connection.execute(
                    select(audit_events.c[column]).where(audit_events.c.seq == seq)
                ).scalar()
                connection.execute(
                    update(audit_events).where(audit_events.c.seq == seq).values({column: value})
                )
            broken = verify(engine)
            assert broken.error is not None and f"row {seq}" in broken.error, (column, seq)
            with engine.begin() as connection:
                connection.execute(
                    update(audit_events).where(audit_events.c.seq == seq).values({column: before})
                )
            assert verify(engine).error is None
    with engine.begin() as connection:
        connection.execute(update(audit_events).where(audit_events.c.seq == 5).values(status=200))
    assert main(["service", "audit", "verify", "--db", db]) == 2


def test_removing_a_row_breaks_the_chain(sqlite_market) -> None:
    assert (
        sqlite_market.server.post("/v1/offers", sqlite_market.key_a, offer("A1")).status_code == 201
    )
    engine = make_engine(sqlite_market.db_url, pool_size=1)
    for seq in (5, 2):  # the last row, then one inside
        with engine.begin() as connection:
            connection.execute(delete(audit_events).where(audit_events.c.seq == seq))
        assert verify(engine).error is not None


def test_cli_changes_are_logged(sqlite_url) -> None:
    cli("participant", "add", "GENC", "--units", "C1", "--db", sqlite_url)
    key = cli("key", "create", "GENC", "--db", sqlite_url)
    cli("key", "revoke", key.split("_")[1], "--db", sqlite_url)
    engine = make_engine(sqlite_url, pool_size=1)
    with engine.connect() as connection:
        paths = connection.execute(select(audit_events.c.path).order_by("seq")).scalars().all()
    assert paths == ["participant add", "key create", "key revoke"]
    assert verify(engine).error is None


def test_the_request_path_does_not_import_numba() -> None:
    code = (
        "import sys\n"
        "import bidstack.service.app, bidstack.service.export, bidstack.cli.service\n"
        "from bidstack.service.content import content_problems\n"
        "content_problems([{'duid': 'A', 'maxavail': 1.0}], prices=True)\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
