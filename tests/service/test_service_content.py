"""What a schema-valid request may still be refused for, on a live server: the content checks
JSON Schema cannot express, each a 422 naming its field and kind, with nothing stored."""

from __future__ import annotations


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
