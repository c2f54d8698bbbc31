"""Participants, their units and meters, and their API keys.

A key reads ``bsk_<key_id>_<secret>``: ``key_id`` (16 hex digits) finds the row, and the
secret (32 random bytes, URL-safe base64) is stored only as ``HMAC-SHA256(pepper, secret)``,
compared in constant time. The pepper is the server's secret, from ``BIDSTACK_SERVICE_PEPPER``
or the file named by ``BIDSTACK_SERVICE_PEPPER_FILE``, never the database: a copy of the
database alone cannot be used to forge or test keys. A fast HMAC, not a password hash, since
the secrets are random and long, and a slow hash on every request would only help an attacker
load the server.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update

from bidstack.errors import ConfigError
from bidstack.service import audit
from bidstack.service.db import api_keys, nmis, participants, units, writing
from bidstack.service.problems import Problem, ProblemItem

SCOPES = ("bids:write", "meter:write", "statements:read", "admin")
DEFAULT_SCOPES = ("bids:write", "meter:write", "statements:read")
KEY_FORMAT = re.compile(r"bsk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DUID = re.compile(r"[A-Za-z0-9_#.-]{1,32}")
NMI = re.compile(r"[A-Za-z0-9]{10,11}")
PEPPER_ENV = "BIDSTACK_SERVICE_PEPPER"
PEPPER_FILE_ENV = "BIDSTACK_SERVICE_PEPPER_FILE"
MIN_PEPPER = 32


def load_pepper() -> bytes:
    """The server secret keys are hashed with, from the environment or a secret file."""
    value = os.environ.get(PEPPER_ENV)
    if value is None and (path := os.environ.get(PEPPER_FILE_ENV)):
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{PEPPER_FILE_ENV}={path}: cannot read it ({exc})") from exc
    if value is None:
        raise ConfigError(
            f"set {PEPPER_ENV} or {PEPPER_FILE_ENV} to the server secret that API keys are "
            "hashed with (e.g. the output of `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`)"
        )
    if len(value) < MIN_PEPPER:
        raise ConfigError(f"the server secret must be at least {MIN_PEPPER} characters")
    return value.encode()


def secret_hmac(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: always taken from its key, never from the request."""

    participant_id: str
    key_id: str
    scopes: frozenset[str]


def authenticate(
    connection: Connection, pepper: bytes, token: str, now: datetime
) -> tuple[Principal | None, str | None, str]:
    """The key's principal, or None; with the key id (when the token has one) and why."""
    match = KEY_FORMAT.fullmatch(token)
    if match is None:
        return None, None, "malformed key"
    key_id, secret = match.groups()
    row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    digest = secret_hmac(pepper, secret)
    if row is None:
        hmac.compare_digest(digest, "0" * 64)  # the same work as for a known key
        return None, key_id, "unknown key"
    if not hmac.compare_digest(digest, row.secret_hmac):
        return None, key_id, "wrong secret"
    if row.revoked_at is not None:
        return None, key_id, "revoked key"
    if row.expires_at is not None and now >= row.expires_at:
        return None, key_id, "expired key"
    principal = Principal(row.participant_id, key_id, frozenset(row.scopes.split()))
    return principal, key_id, "authenticated"


def add_participant(
    engine: Engine,
    participant_id: str,
    duids: Iterable[str],
    meter_nmis: Iterable[str],
    now: datetime,
    at_utc: str,
) -> None:
    """Register a participant (or add to one) with its units and NMIs. A unit or NMI that is
    another participant's is a :class:`ConfigError`."""
    _check(PARTICIPANT_ID, "participant id", participant_id)
    duids, meter_nmis = list(duids), list(meter_nmis)
    for duid in duids:
        _check(DUID, "DUID", duid)
    for nmi in meter_nmis:
        _check(NMI, "NMI (10 or 11 letters and digits)", nmi)
    with writing(engine) as connection:
        audit.lock_head(connection)
        known = connection.execute(
            select(participants.c.participant_id).where(
                participants.c.participant_id == participant_id
            )
        ).first()
        if known is None:
            connection.execute(
                insert(participants).values(participant_id=participant_id, created_at=now)
            )
        for table, column, values in ((units, "duid", duids), (nmis, "nmi", meter_nmis)):
            for value in values:
                owner = connection.execute(
                    select(table.c.participant_id).where(table.c[column] == value)
                ).scalar()
                if owner is None:
                    connection.execute(
                        insert(table).values({column: value, "participant_id": participant_id})
                    )
                elif owner != participant_id:
                    raise ConfigError(f"{column} {value} is registered to {owner}")
        outcome = f"participant {participant_id}: units {duids}, nmis {meter_nmis}"
        audit.append(
            connection, audit.Event("CLI", "participant add", 0, outcome, participant_id), at_utc
        )


def create_key(
    engine: Engine,
    pepper: bytes,
    participant_id: str,
    scopes: Iterable[str],
    expires_at: datetime | None,
    now: datetime,
    at_utc: str,
) -> str:
    """A new key for ``participant_id``: returned once, stored only as its HMAC."""
    scopes = sorted(set(scopes))
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ConfigError(f"scopes must be some of {', '.join(SCOPES)}; got {unknown or 'none'}")
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with writing(engine) as connection:
        audit.lock_head(connection)
        if (
            connection.execute(
                select(participants.c.participant_id).where(
                    participants.c.participant_id == participant_id
                )
            ).first()
            is None
        ):
            raise ConfigError(f"no participant {participant_id}: add it first")
        connection.execute(
            insert(api_keys).values(
                key_id=key_id,
                participant_id=participant_id,
                secret_hmac=secret_hmac(pepper, secret),
                scopes=" ".join(scopes),
                created_at=now,
                expires_at=expires_at,
            )
        )
        outcome = f"key created, scopes {' '.join(scopes)}, expires {expires_at or 'never'}"
        audit.append(
            connection, audit.Event("CLI", "key create", 0, outcome, participant_id, key_id), at_utc
        )
    return f"bsk_{key_id}_{secret}"


def revoke_key(engine: Engine, key_id: str, now: datetime, at_utc: str) -> str:
    """Revoke a key (by its id, or the whole key); return its participant."""
    match = KEY_FORMAT.fullmatch(key_id)
    key_id = match.group(1) if match else key_id
    with writing(engine) as connection:
        audit.lock_head(connection)
        row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise ConfigError(f"no key {key_id}")
        if row.revoked_at is None:
            connection.execute(
                update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=now)
            )
        audit.append(
            connection,
            audit.Event("CLI", "key revoke", 0, "key revoked", row.participant_id, key_id),
            at_utc,
        )
    return row.participant_id


def owned(connection: Connection, table, column: str, participant_id: str) -> set[str]:
    """The units (``units``, ``duid``) or meters (``nmis``, ``nmi``) of a participant."""
    return set(
        connection.execute(
            select(table.c[column]).where(table.c.participant_id == participant_id)
        ).scalars()
    )


def check_owned(
    connection: Connection,
    principal: Principal,
    table,
    column: str,
    found: Iterable[str],
    noun: str,
) -> None:
    """403 unless every unit (``units``, ``duid``, ``"unit"``) or meter (``nmis``, ``nmi``,
    ``"NMI"``) found is registered to the caller."""
    mine = owned(connection, table, column, principal.participant_id)
    foreign = sorted(set(found) - mine)
    if foreign:
        slug = noun.lower()
        raise Problem(
            403,
            f"not-your-{slug}",
            f"{noun}(s) {', '.join(foreign)} are not yours",
            errors=[
                ProblemItem(
                    kind=f"not_your_{slug}",
                    detail=f"{value} is not registered to you",
                    **{column: value},
                )
                for value in foreign
            ],
        )


def callers_rows(
    connection: Connection,
    principal: Principal,
    query,
    table,
    registry,
    column: str,
    value: str | None,
    start: datetime | None,
    end: datetime | None,
):
    """``query`` over ``table`` narrowed to the caller's rows, to ``column == value`` when given
    (404 when the caller has no such unit or NMI in ``registry``) and to intervals in
    ``(start, end]``."""
    query = query.where(table.c.participant_id == principal.participant_id)
    if value is not None:
        if value not in owned(connection, registry, column, principal.participant_id):
            noun = "NMI" if column == "nmi" else "unit"
            raise Problem(404, "not-found", f"you have no {noun} {value}")
        query = query.where(table.c[column] == value)
    if start is not None:
        query = query.where(table.c.interval_datetime > start)
    if end is not None:
        query = query.where(table.c.interval_datetime <= end)
    return query


def _check(pattern: re.Pattern, what: str, value: str) -> None:
    if not pattern.fullmatch(value):
        raise ConfigError(f"{value!r} is not a valid {what}")
