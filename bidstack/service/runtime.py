"""The running service's state: settings, database, key secret, clock, rate limits, and the
write path every POST takes (idempotency, the change and its audit row in one transaction).

Idempotency (draft-ietf-httpapi-idempotency-key-header): a POST's ``Idempotency-Key`` is
claimed, per participant, in the transaction that stores the submission, together with the
SHA-256 of the request (method, path, canonical body) and the response. A repeat with the same
request replays that response (``Idempotent-Replayed: true``), even after gate closure; with
another request it is refused (422); while the first is still being processed in this server it
is refused (409). Refusals are not stored as outcomes: a refused request can be corrected and
sent again under the same key. Keys are kept :data:`IDEMPOTENCY_HOURS` hours.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Connection, delete, insert, select

from bidstack.service import audit
from bidstack.service.clock import Clock, FileClock, SystemClock, nem_time, utc_text
from bidstack.service.db import check_revision, idempotency, make_engine, writing
from bidstack.service.keys import Principal, load_pepper
from bidstack.service.problems import Problem

IDEMPOTENCY_HOURS = 72
MAX_BODY_BYTES = 20 * 1024 * 1024
#: Rate limits per key and class of request (``limits`` notation), by default.
RATES = {"write": "120/minute", "upload": "10/minute", "read": "600/minute"}


@dataclass(frozen=True)
class Settings:
    """How ``bidstack service run`` was started."""

    db_url: str
    gate_closure_seconds: float
    results: Path | None = None
    clock_file: Path | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    rates: tuple[tuple[str, str], ...] = tuple(RATES.items())
    docs: bool = False


@dataclass(frozen=True)
class Request:
    """What the audit log and idempotency need of an HTTP request."""

    method: str
    path: str
    request_sha256: str | None
    idempotency_key: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A stored response: status, JSON body, Location; ``replayed`` if from an earlier request."""

    status: int
    body: dict
    location: str | None
    replayed: bool = False


class Service:
    """One per server process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pepper = load_pepper()
        self.clock: Clock = FileClock(settings.clock_file) if settings.clock_file else SystemClock()
        self.engine = make_engine(settings.db_url)
        check_revision(self.engine)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.rates = {name: parse(rate) for name, rate in settings.rates}
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self.clock.now()

    def rate_limit(self, principal: Principal, kind: str) -> int | None:
        """None if the key may go on, else the seconds until it may."""
        rate = self.rates[kind]
        if self.limiter.hit(rate, principal.key_id, kind):
            return None
        reset = self.limiter.get_window_stats(rate, principal.key_id, kind).reset_time
        return max(1, math.ceil(reset - time.time()))

    def record_refusal(
        self,
        request: Request,
        problem: Problem,
        principal: Principal | None,
        key_id: str | None = None,
        outcome: str | None = None,
    ) -> None:
        """Log a refusal in a transaction of its own (nothing else changed); ``outcome`` says
        more than the answer does, where that would help an attacker (why a key failed)."""
        if problem.audited:
            return
        with writing(self.engine) as connection:
            audit.lock_head(connection)
            self._audit(
                connection, request, problem.status, outcome or problem.kind, principal, key_id
            )
        problem.audited = True

    def _audit(
        self,
        connection: Connection,
        request: Request,
        status: int,
        outcome: str,
        principal: Principal | None,
        key_id: str | None = None,
    ) -> None:
        event = audit.Event(
            method=request.method,
            path=request.path,
            status=status,
            outcome=outcome,
            participant_id=principal.participant_id if principal else None,
            key_id=principal.key_id if principal else key_id,
            idempotency_key=request.idempotency_key,
            request_sha256=request.request_sha256,
        )
        audit.append(connection, event, utc_text(self.now()))

    @contextmanager
    def _claim(self, principal: Principal, key: str) -> Iterator[None]:
        claim = (principal.participant_id, key)
        with self._lock:
            if claim in self._in_flight:
                raise Problem(
                    409,
                    "idempotency-in-flight",
                    "a request with this Idempotency-Key is still being processed",
                )
            self._in_flight.add(claim)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight.discard(claim)

    def submit(
        self,
        principal: Principal,
        request: Request,
        work: Callable[[Connection, datetime], tuple[dict, str, str]],
    ) -> Outcome:
        """Run ``work`` (which returns the 201 body, its Location and the audit outcome, or
        raises :class:`Problem`) under the request's Idempotency-Key, in one transaction with
        the idempotency record and the audit row.

        ``work`` is given the time the request is received (naive NEM time), read from the
        clock once the transaction holds the write lock: submissions are received, versioned
        and committed in one order, and gate closure is judged at that moment."""
        key = request.idempotency_key
        assert key is not None and request.fingerprint is not None
        refusal: Problem | None = None
        with self._claim(principal, key), writing(self.engine) as connection:
            audit.lock_head(connection)
            received = nem_time(self.now())
            stored = self._stored(connection, principal, key)
            if stored is not None and stored.fingerprint != request.fingerprint:
                refusal = Problem(
                    422,
                    "idempotency-key-reused",
                    "this Idempotency-Key was used with another request",
                )
            elif stored is not None:
                self._audit(connection, request, stored.status_code, "replayed", principal)
                result = Outcome(
                    stored.status_code,
                    json.loads(stored.response_body),
                    stored.location,
                    replayed=True,
                )
            else:
                try:
                    with connection.begin_nested():  # a refusal leaves nothing of the work
                        body, location, outcome = work(connection, received)
                except Problem as problem:
                    refusal = problem
                else:
                    connection.execute(
                        insert(idempotency).values(
                            participant_id=principal.participant_id,
                            idempotency_key=key,
                            fingerprint=request.fingerprint,
                            status_code=201,
                            location=location,
                            response_body=json.dumps(body),
                            created_at=nem_time(self.now()),
                        )
                    )
                    self._audit(connection, request, 201, outcome, principal)
                    result = Outcome(201, body, location)
            if refusal is not None:  # logged, and committed, before it is answered
                self._audit(connection, request, refusal.status, refusal.kind, principal)
                refusal.audited = True
        if refusal is not None:
            raise refusal
        return result

    def _stored(self, connection: Connection, principal: Principal, key: str):
        """The live idempotency record of this key; an expired one is removed."""
        match = (idempotency.c.participant_id == principal.participant_id) & (
            idempotency.c.idempotency_key == key
        )
        row = connection.execute(select(idempotency).where(match)).first()
        oldest = nem_time(self.now()) - timedelta(hours=IDEMPOTENCY_HOURS)
        if row is not None and row.created_at < oldest:
            connection.execute(delete(idempotency).where(match))
            return None
        return row
