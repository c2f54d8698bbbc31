"""Isolation between participants and keys, on a live server, on SQLite and PostgreSQL: the
participant is the key's; another's objects are not found (404), another's unit or NMI is
forbidden (403); no key, a wrong, revoked or expired key is 401; a key without the scope 403."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from bidstack.stages.statements import statements

from service_helpers import DAY, START, Server, bids, cli, nem12_file, offer


def _own_objects(market) -> dict:
    """A's offer, rebid and meter upload, each checked stored."""
    server, key_a = market.server, market.key_a
    offered = server.post("/v1/offers", key_a, offer("A1"))
    rebid = server.post("/v1/bids", key_a, bids("A1", [1]))
    upload = server.client.post(
        "/v1/meter-reads/nem12",
        files={"file": ("a.csv", nem12_file("NMIA000001", DAY))},
        headers={"Authorization": f"Bearer {key_a}", "Idempotency-Key": "a-upload"},
    )
    assert [r.status_code for r in (offered, rebid, upload)] == [201, 201, 201], upload.text
    return {
        "offer": offered.json()["submission_id"],
        "bid": rebid.json()["submission_id"],
        "upload": upload.json()["upload_id"],
    }


def test_another_participants_objects_are_not_found(market) -> None:
    server, key_a, key_b = market.server, market.key_a, market.key_b
    ids = _own_objects(market)
    for submission in (ids["offer"], ids["bid"]):
        assert server.get(f"/v1/bids/{submission}", key_a).status_code == 200
        refused = server.get(f"/v1/bids/{submission}", key_b)
        assert refused.status_code == 404
        assert refused.headers["content-type"] == "application/problem+json"
    assert server.get(f"/v1/meter-reads/{ids['upload']}", key_a).status_code == 200
    assert server.get(f"/v1/meter-reads/{ids['upload']}", key_b).status_code == 404
    # by filter: A's unit and NMI are not B's to read
    assert server.get("/v1/bids", key_b, duid="A1").status_code == 404
    assert server.get("/v1/meter-reads", key_b, nmi="NMIA000001").status_code == 404
    # and B's own lists hold nothing of A's
    assert server.get("/v1/bids", key_b).json() == {"bids": []}
    assert server.get("/v1/meter-reads", key_b).json() == {"reads": []}
    mine = server.get("/v1/bids", key_a, duid="A1").json()["bids"]
    assert {b["duid"] for b in mine} == {"A1"} and len(mine) == 3  # two offered, one rebid
    # statements: B has none (no results given to this server), A's never show
    refused = server.get("/v1/statements", key_b)
    assert refused.status_code == 404 and "started without --results" in refused.text


def test_bidding_for_another_participants_unit_or_nmi_is_forbidden(market) -> None:
    server, key_b = market.server, market.key_b
    assert server.post("/v1/offers", market.key_a, offer("A1")).status_code == 201
    for path, body in (
        ("/v1/offers", offer("A1")),
        ("/v1/bids", bids("A1", [1])),
        ("/v1/bids", {"bids": [*bids("B1", [1])["bids"], *bids("A2", [2])["bids"]]}),
    ):
        refused = server.post(path, key_b, body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "urn:bidstack:problem:not-your-unit"
    reads = {
        "nmi": "NMIA000001",
        "nmi_suffix": "B1",
        "uom": "kWh",
        "interval_minutes": 5,
        "reads": [
            {"interval_datetime": "2024-01-02T00:05:00+10:00", "value": 1.0, "quality_method": "A"}
        ],
    }
    refused = server.post("/v1/meter-reads", key_b, reads)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:bidstack:problem:not-your-nmi"
    upload = server.client.post(
        "/v1/meter-reads/nem12",
        files={"file": ("a.csv", nem12_file("NMIA000001", DAY))},
        headers={"Authorization": f"Bearer {key_b}", "Idempotency-Key": "b-upload"},
    )
    assert upload.status_code == 403
    # nothing of B's attempts was stored
    assert server.get("/v1/bids", market.key_a, duid="A1").json()["bids"][0]["submission_id"] == 1
    assert server.get("/v1/meter-reads", market.key_a).json() == {"reads": []}


def test_keys_missing_wrong_revoked_or_expired_are_unauthorized(market) -> None:
    server, db = market.server, market.db_url
    good = server.get("/v1/bids", market.key_a)
    assert good.status_code == 200
    key_id, secret = market.key_a.removeprefix("bsk_").split("_", 1)
    wrong_secret = f"bsk_{key_id}_{'A' * 43}"
    unknown_id = f"bsk_{'0' * 16}_{secret}"
    for key in (None, "nonsense", wrong_secret, unknown_id):
        refused = server.get("/v1/bids", key)
        assert refused.status_code == 401, key
        assert refused.headers["www-authenticate"].startswith("Bearer")
    posted = server.client.post("/v1/bids", json=bids("A1", [1]), headers={"Idempotency-Key": "x"})
    assert posted.status_code == 401
    revoked = cli("key", "create", "GENA", "--db", db)
    assert server.get("/v1/bids", revoked).status_code == 200
    cli("key", "revoke", revoked, "--db", db)
    assert server.get("/v1/bids", revoked).status_code == 401
    # expiry goes by the server's clock: valid before, refused from the moment it expires
    expires = START + timedelta(hours=1)
    expiring = cli("key", "create", "GENA", "--expires", expires.isoformat(), "--db", db)
    assert server.get("/v1/bids", expiring).status_code == 200
    server.set_clock(expires)
    assert server.get("/v1/bids", expiring).status_code == 401
    assert server.get("/v1/bids", market.key_a).status_code == 200


def test_a_key_without_the_routes_scope_is_forbidden(market) -> None:
    server, db = market.server, market.db_url
    reader = cli("key", "create", "GENA", "--scope", "statements:read", "--db", db)
    metering = cli("key", "create", "GENA", "--scope", "meter:write", "--db", db)
    for key in (reader, metering):
        for refused in (
            server.post("/v1/offers", key, offer("A1")),
            server.post("/v1/bids", key, bids("A1", [1])),
            server.get("/v1/bids", key),
        ):
            assert refused.status_code == 403
            assert refused.json()["type"] == "urn:bidstack:problem:insufficient-scope"
    reads = {
        "nmi": "NMIA000001",
        "nmi_suffix": "B1",
        "uom": "kWh",
        "interval_minutes": 5,
        "reads": [
            {"interval_datetime": "2024-01-02T00:05:00+10:00", "value": 1.0, "quality_method": "A"}
        ],
    }
    assert server.post("/v1/meter-reads", reader, reads).status_code == 403
    assert server.post("/v1/meter-reads", metering, reads).status_code == 201
    assert server.get("/v1/statements", metering).status_code == 403


def test_a_text_statement_is_the_callers_own_where_two_ids_make_one_file_name(
    sqlite_url: str, tmp_path
) -> None:
    """``GEN.A`` and ``GEN_A``: a file name cannot hold the ``.``, so the backtest's files for
    the two must not be one, and ``GEN_A``, with no statement of its own, must not be served
    ``GEN.A``'s text (it once was: the service read ``statement_<id>.txt`` by name)."""
    amounts = pl.DataFrame(
        {"participantid": ["GEN.A"], "interval_datetime": [datetime(2024, 1, 2, 4, 5)],
         "duid": ["UA"], "energy_mwh": [10.0], "amount_microdollars": [123_456_789]}
    )  # fmt: skip
    results = tmp_path / "results"
    written = statements(amounts).write(results / "baseline" / "statements")
    assert not any(path.name == "statement_GEN_A.txt" for path in written)
    cli("participant", "add", "GEN.A", "--units", "UA", "--db", sqlite_url)
    cli("participant", "add", "GEN_A", "--units", "UB", "--db", sqlite_url)
    keys = {who: cli("key", "create", who, "--db", sqlite_url) for who in ("GEN.A", "GEN_A")}
    server = Server(sqlite_url, tmp_path, "--results", str(results))
    try:
        own = server.get("/v1/statements", keys["GEN.A"], format="txt")
        assert own.status_code == 200 and own.text.startswith("Settlement statement: GEN.A\n")
        assert "net position $123.46" in own.text
        other = server.get("/v1/statements", keys["GEN_A"], format="txt")
        assert other.status_code == 404 and "GEN.A" not in other.text
    finally:
        server.stop()


def test_a_key_created_already_expired_is_warned_of(sqlite_url: str, capsys) -> None:
    """The key is made (a server on a test clock may still take it), with a warning."""
    from bidstack.cli import main

    cli("participant", "add", "GENA", "--units", "A1", "--db", sqlite_url)
    assert main(["service", "key", "create", "GENA", "--expires", "2020-01-01",
                 "--db", sqlite_url]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert captured.out.startswith("bsk_")
    assert "--expires 2020-01-01 is already past" in captured.err
