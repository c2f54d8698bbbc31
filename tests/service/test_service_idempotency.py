"""Idempotency, rate limits and the size cap on a live server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from bidstack.service.db import bids as bid_rows
from bidstack.service.db import make_engine, submissions

from service_helpers import bids, offer, open_market


def _rows(db_url: str, key: str) -> tuple[int, int]:
    engine = make_engine(db_url, pool_size=1)
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count())
            .select_from(submissions)
            .where(submissions.c.idempotency_key == key)
        ).scalar()
        rows = connection.execute(
            select(func.count())
            .select_from(bid_rows.join(submissions))
            .where(submissions.c.idempotency_key == key)
        ).scalar()
    engine.dispose()
    return count, rows


def test_a_repeat_replays_and_another_body_under_the_same_key_is_refused(sqlite_market) -> None:
    server, key = sqlite_market.server, sqlite_market.key_a
    first = server.post("/v1/offers", key, offer("A1"), idempotency="offer-1")
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = server.post("/v1/offers", key, offer("A1"), idempotency="offer-1")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    other = server.post("/v1/offers", key, offer("A1", priceband10=14000.0), idempotency="offer-1")
    assert other.status_code == 422
    assert other.json()["type"] == "urn:bidstack:problem:idempotency-key-reused"
    # keys are per participant: B's "offer-1" is its own
    assert server.post("/v1/offers", sqlite_market.key_b, offer("B1"), "offer-1").status_code == 201
    assert _rows(sqlite_market.db_url, "offer-1") == (2, 4)
    missing = server.client.post(
        "/v1/bids", json=bids("A1", [1]), headers={"Authorization": f"Bearer {key}"}
    )
    assert missing.status_code == 400
    assert missing.json()["type"] == "urn:bidstack:problem:idempotency-key-missing"


def test_a_refused_request_can_be_corrected_under_the_same_key(sqlite_market) -> None:
    server, key = sqlite_market.server, sqlite_market.key_a
    unpriced = server.post("/v1/bids", key, bids("A1", [1]), idempotency="bid-1")
    assert unpriced.status_code == 422
    assert unpriced.json()["errors"][0]["kind"] == "no_price_bands"
    prices_only = offer("A1", intervals=range(0))
    assert server.post("/v1/offers", key, prices_only, idempotency="offer-1").status_code == 201
    assert server.post("/v1/bids", key, bids("A1", [1]), idempotency="bid-1").status_code == 201
    descending = offer("A1", intervals=range(0), priceband9=20000.0)
    refused = server.post("/v1/offers", key, descending)
    assert refused.status_code == 422
    assert [e["kind"] for e in refused.json()["errors"]] == ["prices_not_ascending"]


def test_twenty_concurrent_identical_posts_leave_exactly_one_row(sqlite_market) -> None:
    server, key = sqlite_market.server, sqlite_market.key_a
    assert server.post("/v1/offers", key, offer("A1")).status_code == 201
    body = bids("A1", range(3, 13))
    start = threading.Barrier(20)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            start.wait()
            return client.post(
                "/v1/bids",
                json=body,
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "same"},
            )

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = [a for a in answers if a.status_code == 201]
    assert sum("idempotent-replayed" not in a.headers for a in created) == 1
    assert len({a.text for a in created}) == 1
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["type"] == "urn:bidstack:problem:idempotency-in-flight"
    assert _rows(sqlite_market.db_url, "same") == (1, 10)


def test_rate_limits_answer_429_with_retry_after(sqlite_url, tmp_path) -> None:
    market = open_market(
        sqlite_url, tmp_path, "--rate-write", "3/minute", "--rate-read", "2/minute"
    )
    try:
        server, key = market.server, market.key_a
        answers = [server.post("/v1/offers", key, offer("A1")).status_code for _ in range(4)]
        assert answers == [201, 201, 201, 429]
        limited = server.post("/v1/offers", key, offer("A1"))
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
        assert [server.get("/v1/bids", key).status_code for _ in range(3)] == [200, 200, 429]
        # per key: B is not held back by A
        assert server.post("/v1/offers", market.key_b, offer("B1")).status_code == 201
    finally:
        market.server.stop()


def test_bodies_over_the_size_cap_are_refused(sqlite_url, tmp_path) -> None:
    market = open_market(sqlite_url, tmp_path, "--max-body-mb", "0.01")
    try:
        server, key = market.server, market.key_a
        big = offer("A1", intervals=range(1, 200))
        refused = server.post("/v1/offers", key, big)
        assert refused.status_code == 413
        assert refused.json()["type"] == "urn:bidstack:problem:too-large"
        chunked = server.client.post(  # no Content-Length: counted as it arrives
            "/v1/offers",
            content=iter([b"{" + b" " * 6000, b" " * 6000 + b"}"]),
            headers={
                "Authorization": f"Bearer {key}",
                "Idempotency-Key": "chunked",
                "Content-Type": "application/json",
            },
        )
        assert chunked.status_code == 413
        assert server.post("/v1/offers", key, offer("A1")).status_code == 201
    finally:
        market.server.stop()
