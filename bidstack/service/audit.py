"""The audit log: append-only and hash-chained.

Every change (a submission, a participant or key added or revoked) and every refusal is one
row of ``audit_events``, written in the transaction that makes the change. Row ``n`` carries
``prev_hash``, the hash of row ``n - 1`` (64 zeros for the first), and
``hash = sha256(prev_hash ‖ canonical JSON of its fields)``; the ``audit_head`` row holds the
last sequence number and hash. Editing, removing or inserting any row therefore breaks the
chain, and :func:`verify` says where. Secrets and meter files are never logged: a request
appears by the SHA-256 of its body.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, Engine, insert, select, update

from bidstack.service.db import audit_events, audit_head

GENESIS = "0" * 64
HASHED = (
    "seq",
    "at_utc",
    "participant_id",
    "key_id",
    "method",
    "path",
    "status",
    "idempotency_key",
    "request_sha256",
    "outcome",
)


@dataclass(frozen=True)
class Event:
    """What happened: who (participant and key, if known), the request, the answer."""

    method: str
    path: str
    status: int
    outcome: str
    participant_id: str | None = None
    key_id: str | None = None
    idempotency_key: str | None = None
    request_sha256: str | None = None


def row_hash(prev_hash: str, row: dict) -> str:
    """The hash of an audit row, chained to the one before it."""
    fields = {name: row[name] for name in HASHED}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def lock_head(connection: Connection) -> None:
    """Lock the chain's head for this transaction (PostgreSQL: ``SELECT ... FOR UPDATE``;
    SQLite's ``BEGIN IMMEDIATE`` has already locked the whole database). Every write takes it
    first, so that writers queue in one order and the chain has no forks."""
    connection.execute(select(audit_head.c.seq).where(audit_head.c.id == 1).with_for_update())


def append(connection: Connection, event: Event, at_utc: str) -> int:
    """Append ``event`` to the chain inside the caller's transaction; return its ``seq``."""
    seq, prev = connection.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
    ).one()
    row = {"seq": seq + 1, "at_utc": at_utc, **asdict(event)}
    row["outcome"] = row["outcome"][:255]
    row["hash"] = row_hash(prev, row)
    connection.execute(insert(audit_events).values(prev_hash=prev, **row))
    connection.execute(
        update(audit_head).where(audit_head.c.id == 1).values(seq=row["seq"], hash=row["hash"])
    )
    return row["seq"]


@dataclass(frozen=True)
class Verification:
    """``rows`` checked; ``error`` names the first row that breaks the chain, or is None."""

    rows: int
    error: str | None


def verify(engine: Engine) -> Verification:
    """Recompute the chain from its first row to the head."""
    prev, expected, rows = GENESIS, 1, 0
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=1000).execute(
            select(audit_events).order_by(audit_events.c.seq)
        )
        for row in result.mappings():
            rows += 1
            if row["seq"] != expected:
                return Verification(rows, f"row {row['seq']}: expected row {expected} (a gap)")
            if row["prev_hash"] != prev:
                return Verification(
                    rows, f"row {row['seq']}: prev_hash is not row {expected - 1}'s hash"
                )
            if row_hash(prev, dict(row)) != row["hash"]:
                return Verification(rows, f"row {row['seq']}: its fields do not match its hash")
            prev, expected = row["hash"], expected + 1
        head = connection.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    if (head.seq, head.hash) != (expected - 1, prev):
        return Verification(
            rows,
            f"the head says row {head.seq}, the chain ends at row "
            f"{expected - 1} (rows removed or the head edited)",
        )
    return Verification(rows, None)
