"""Gate closure by the server's (injected) clock, on SQLite and PostgreSQL: the bid for the
interval ending at t is accepted up to t − 5 min − gate_closure_seconds and refused 1 µs
later, with the rule the backtest applies; a batch with one late interval stores nothing."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from bidstack.market import gate_closes
from bidstack.stages.bidding import _gate_closure

from service_helpers import NEM, bids, interval, offer, open_market

MICROSECOND = timedelta(microseconds=1)


def _naive(moment):
    return moment.astimezone(NEM).replace(tzinfo=None)


def test_a_bid_is_accepted_until_its_gate_closes_and_refused_a_microsecond_after(market) -> None:
    server, key = market.server, market.key_a
    assert server.post("/v1/offers", key, offer("A1", intervals=range(1, 2))).status_code == 201
    target = interval(30)  # ends 06:30; its gate closes at 05:25 (3600 s + 5 min before)
    closes = target - timedelta(minutes=5, seconds=3600)
    assert _naive(closes) == gate_closes(_naive(target), 3600, 5)
    answers = {}
    for label, moment in (
        ("before", closes - MICROSECOND),
        ("at", closes),
        ("after", closes + MICROSECOND),
    ):
        server.set_clock(moment)
        answers[label] = server.post("/v1/bids", key, bids("A1", [30]))
    assert answers["before"].status_code == 201
    assert answers["at"].status_code == 201
    late = answers["after"]
    assert late.status_code == 409
    assert late.headers["content-type"] == "application/problem+json"
    problem = late.json()
    assert problem["type"] == "urn:bidstack:problem:gate-closed"
    [item] = problem["errors"]
    assert item["interval_datetime"] == target.isoformat()
    assert item["gate_closed_at"] == closes.isoformat()
    assert item["received_at"] == (closes + MICROSECOND).isoformat()
    stored = server.get("/v1/bids", key, duid="A1", **{"from": interval(29).isoformat()}).json()
    received = [b["received_at"] for b in stored["bids"]]
    assert received == [(closes - MICROSECOND).isoformat(), closes.isoformat()]
    # the backtest's bidding round judges the stored bids the same way: none is late
    frame = pl.DataFrame(
        {
            "regionid": "NSW1",
            "duid": "A1",
            "interval_datetime": [_naive(target)] * 3,
            "offerdate": [
                _naive(closes - MICROSECOND),
                _naive(closes),
                _naive(closes + MICROSECOND),
            ],
        }
    )
    on_time, rejected = _gate_closure(frame, "offerdate", 3600, 5)
    assert on_time.height == 2 and rejected["interval_datetime"].to_list() == [_naive(target)]


def test_a_batch_with_one_late_interval_stores_nothing(market) -> None:
    server, key = market.server, market.key_a
    assert server.post("/v1/offers", key, offer("A1", intervals=range(1, 2))).status_code == 201
    before = server.get("/v1/bids", key).json()["bids"]
    # at 03:00:00.000001 on the trading day, interval 1 (04:05) has just closed; 2 is open
    server.set_clock(interval(1) - timedelta(minutes=65) + MICROSECOND)
    refused = server.post("/v1/bids", key, bids("A1", [2, 3, 1, 4]))
    assert refused.status_code == 409
    assert [e["interval_datetime"] for e in refused.json()["errors"]] == [interval(1).isoformat()]
    assert server.get("/v1/bids", key).json()["bids"] == before
    assert server.post("/v1/bids", key, bids("A1", [2, 3, 4])).status_code == 201


def test_the_days_prices_close_with_its_first_interval(market) -> None:
    server, key = market.server, market.key_a
    first_closes = interval(1) - timedelta(minutes=65)
    server.set_clock(first_closes)
    assert server.post("/v1/offers", key, offer("A1", intervals=range(2, 3))).status_code == 201
    server.set_clock(first_closes + MICROSECOND)
    late = server.post("/v1/offers", key, offer("A1", intervals=range(20, 21)))
    assert late.status_code == 409
    assert late.json()["errors"][0]["interval_datetime"] == interval(1).isoformat()
    # a rebid of a later interval of the day is still open
    assert server.post("/v1/bids", key, bids("A1", [20])).status_code == 201
    # and the server says what its clock reads
    now = server.client.get("/v1/time").json()
    assert now["nem_time"] == (first_closes + MICROSECOND).isoformat()
    assert now["gate_closure_seconds"] == 3600


def test_the_fleet_files_gate_closure_setting_applies(tmp_path, sqlite_url) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text("[market]\ngate_closure_seconds = 600\n")
    market = open_market(sqlite_url, tmp_path, "--fleet", str(fleet))
    try:
        server, key = market.server, market.key_a
        assert server.client.get("/v1/time").json()["gate_closure_seconds"] == 600
        server.set_clock(interval(1) - timedelta(minutes=15))  # the day's first gate
        assert server.post("/v1/offers", key, offer("A1", intervals=range(1, 2))).status_code == 201
        closes = interval(30) - timedelta(minutes=15)
        server.set_clock(closes)
        assert server.post("/v1/bids", key, bids("A1", [30])).status_code == 201
        server.set_clock(closes + MICROSECOND)
        assert server.post("/v1/bids", key, bids("A1", [30])).status_code == 409
    finally:
        market.server.stop()
