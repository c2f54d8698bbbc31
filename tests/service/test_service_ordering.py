"""Receipt order is version order: a submission's receipt time is read while its transaction
holds the write lock, where its VERSIONNO is given, and the export keeps the highest VERSIONNO
of each unit and interval, whatever the receipt times say."""

from __future__ import annotations

import threading
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bidstack.io import read
from bidstack.service.app import create_app
from bidstack.service.clock import nem_time
from bidstack.service.db import _WRITERS, bids, day_offers, make_engine, submissions
from bidstack.service.export import export
from bidstack.service.runtime import Settings

from service_helpers import START, cli, offer
from service_helpers import bids as rebids

with warnings.catch_warnings():  # starlette's note that its test client will move to httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class LockWatchingClock:
    """A clock that moves 1 ms at every reading and notes whether the write lock was held."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.moment = START
        self.held: dict[datetime, bool] = {}
        self.guard = threading.Lock()

    def now(self) -> datetime:
        with self.guard:
            self.moment += timedelta(milliseconds=1)
            self.held[nem_time(self.moment)] = self.lock.locked()
            return self.moment


def test_receipt_times_are_read_under_the_write_lock(sqlite_url: str) -> None:
    cli("participant", "add", "GENA", "--units", "A1", "--db", sqlite_url)
    key = cli("key", "create", "GENA", "--db", sqlite_url)
    app = create_app(Settings(db_url=sqlite_url, gate_closure_seconds=3600))
    service = app.state.service
    clock = service.clock = LockWatchingClock(_WRITERS[service.engine])
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answers = [
            client.post("/v1/offers", json=offer("A1"), headers=headers | {"Idempotency-Key": "o"}),
            *(
                client.post(
                    "/v1/bids", json=rebids("A1", [2]), headers=headers | {"Idempotency-Key": k}
                )
                for k in ("b1", "b2", "b3")
            ),
        ]
    assert [answer.status_code for answer in answers] == [201] * 4
    stored = [
        (bid["versionno"], datetime.fromisoformat(bid["received_at"]).replace(tzinfo=None))
        for answer in answers
        for bid in answer.json()["bids"]
        if bid["interval_datetime"].startswith(f"{date(2024, 1, 2)}T04:10")
    ]
    assert [version for version, _ in stored] == [1, 2, 3, 4]
    received = [moment for _, moment in stored]
    assert received == sorted(received) and len(set(received)) == 4
    assert all(clock.held[moment] for moment in received), clock.held


def test_the_export_keeps_the_highest_version_whatever_the_receipt_times(
    sqlite_url: str, tmp_path: Path
) -> None:
    cli("participant", "add", "GENA", "--units", "A1", "--db", sqlite_url)
    day, interval = date(2030, 1, 2), datetime(2030, 1, 2, 4, 5)
    # version 2 was stamped 1 µs before version 1, as racing requests were before the fix
    stamped = {1: datetime(2030, 1, 1, 12, 0, 0, 2), 2: datetime(2030, 1, 1, 12, 0, 0, 1)}
    engine = make_engine(sqlite_url, pool_size=1)
    with engine.begin() as connection:
        for version, received in stamped.items():
            submission_id = connection.execute(
                insert(submissions)
                .values(participant_id="GENA", kind="offer", received_at=received,
                        idempotency_key=f"k{version}")
                .returning(submissions.c.submission_id)
            ).scalar_one()  # fmt: skip
            row = {"submission_id": submission_id, "participant_id": "GENA", "duid": "A1",
                   "trading_date": day, "versionno": version, "received_at": received}  # fmt: skip
            prices = {f"priceband{k}": 10.0 * k + version for k in range(1, 11)}
            connection.execute(insert(day_offers).values(**row, **prices))
            volumes = {f"bandavail{k}": 0.0 for k in range(1, 11)} | {"bandavail1": version}
            connection.execute(
                insert(bids).values(**row, interval_datetime=interval, maxavail=100.0,
                                    rocup=5.0, rocdown=5.0, **volumes)
            )  # fmt: skip
    export(engine, tmp_path / "store", "2030-01")
    engine.dispose()
    [interval_row] = read(tmp_path / "store", "BIDPEROFFER_D", raw=True).collect().to_dicts()
    assert (interval_row["versionno"], interval_row["bandavail1"]) == (2, 2.0)
    assert interval_row["offerdate"] == stamped[2]
    [day_row] = read(tmp_path / "store", "BIDDAYOFFER_D", raw=True).collect().to_dicts()
    assert (day_row["versionno"], day_row["priceband1"]) == (2, 12.0)
