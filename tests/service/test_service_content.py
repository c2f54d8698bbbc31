"""What a schema-valid request may still be refused for, on a live server: the content checks
JSON Schema cannot express, each a 422 naming its field and kind, with nothing stored."""

from __future__ import annotations

from datetime import date

import pytest

from service_helpers import nem12_file, offer, volumes


def _reads(*reads: tuple[str, float]) -> dict:
    return {
        "nmi": "NMIA000001",
        "nmi_suffix": "B1",
        "uom": "kWh",
        "interval_minutes": 5,
        "reads": [
            {"interval_datetime": end, "value": value, "quality_method": "A"}
            for end, value in reads
        ],
    }


def test_a_meter_upload_that_reads_an_interval_twice_is_refused(sqlite_market) -> None:
    server, key = sqlite_market.server, sqlite_market.key_a
    once = [("2024-01-03T00:05:00", 1.0), ("2024-01-03T00:10:00", 2.0)]
    # the first interval again, as UTC: the same instant
    refused = server.post("/v1/meter-reads", key, _reads(*once, ("2024-01-02T14:05:00Z", 999.0)))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    [error] = refused.json()["errors"]
    assert error["kind"] == "duplicate_read"
    assert error["field"] == "body.reads.2"
    assert "reads[0]" in error["detail"]
    assert server.get("/v1/meter-reads", key).json() == {"reads": []}
    stored = server.post("/v1/meter-reads", key, _reads(*once))
    assert stored.status_code == 201 and stored.json()["rows"] == 2


def test_dates_are_iso_8601_in_the_years_the_service_takes(sqlite_market) -> None:
    server, key = sqlite_market.server, sqlite_market.key_a
    prices_only = offer("A1", intervals=range(0))
    for trading_date, kind in (
        ("9999-12-31", "interval_out_of_range"),
        ("1999-12-31", "interval_out_of_range"),
        (1704153600, "invalid_field"),  # 2024-01-02 as a Unix timestamp
        ("1704153600", "invalid_field"),
    ):
        refused = server.post("/v1/offers", key, prices_only | {"trading_date": trading_date})
        assert refused.status_code == 422, (trading_date, refused.text)
        [error] = refused.json()["errors"]
        assert (error["kind"], error["field"]) == (kind, "body.trading_date"), error
    timestamped = offer("A1", intervals=range(0))
    timestamped["bids"] = [{"interval_datetime": 1704153600, **volumes()}]  # 10:00 on DAY
    refused = server.post("/v1/offers", key, timestamped)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "body.bids.0.interval_datetime"
    assert server.get("/v1/bids", key, **{"from": "1704153600"}).status_code == 422
    assert server.get("/v1/statements", key, **{"from": "1704153600"}).status_code == 422
    assert server.get("/v1/bids", key).json() == {"bids": []}
    assert server.post("/v1/offers", key, prices_only).status_code == 201


@pytest.mark.parametrize(
    ("day", "kind"),
    [(date(1995, 1, 1), "interval_out_of_range"),  # a day NEM12 files hold, before the service's
     (date(1900, 1, 1), "nem12_rejected")],  # one the NEM12 reader itself refuses
)  # fmt: skip
def test_a_nem12_day_outside_the_years_the_service_takes_is_refused(
    sqlite_market, day: date, kind: str
) -> None:
    server, key = sqlite_market.server, sqlite_market.key_a
    refused = server.client.post(
        "/v1/meter-reads/nem12",
        files={"file": ("old.csv", nem12_file("NMIA000001", day))},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"old-{day}"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "urn:bidstack:problem:nem12-rejected"
    [error] = refused.json()["errors"]
    assert (error["kind"], error["where"]) == (kind, "old.csv:3")
    assert server.get("/v1/meter-reads", key).json() == {"reads": []}
