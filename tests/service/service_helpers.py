"""A real market server for the tests: ``bidstack service run`` in a subprocess on 127.0.0.1
and a free port, its clock a file the test writes, and bodies to send it."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx

from bidstack.cli import main

PEPPER = "test-pepper-" + "0123456789abcdef" * 4
NEM = timezone(timedelta(hours=10))
#: Where the servers' clocks stand unless a test moves them: a day before the test days.
START = datetime(2024, 1, 1, 0, 0, tzinfo=NEM)
DAY = date(2024, 1, 2)  # the trading day tests bid for (2024-01-02 04:05 .. 2024-01-03 04:00)


def cli(*args: str) -> str:
    """Run ``bidstack service ...`` in this process; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["service", *args])
    assert status == 0, out.getvalue()
    return out.getvalue().strip()


class Server:
    """``bidstack service run`` on 127.0.0.1 with a clock file; ``client`` is httpx."""

    def __init__(self, db_url: str, folder: Path, *options: str) -> None:
        self.db_url = db_url
        self.clock = folder / f"clock-{uuid.uuid4().hex[:8]}"
        self.set_clock(START)
        self.log = folder / f"server-{uuid.uuid4().hex[:8]}.log"
        command = [
            sys.executable,
            "-m",
            "bidstack",
            "service",
            "run",
            "--db",
            db_url,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--clock-file",
            str(self.clock),
            *options,
        ]
        env = os.environ | {"BIDSTACK_SERVICE_PEPPER": PEPPER}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.url = self._wait()
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _wait(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", text)
            if found:
                url = found.group(1)
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    return url
            if self.process.poll() is not None:
                raise RuntimeError(f"the server stopped: {text}")
            time.sleep(0.1)
        raise RuntimeError(f"the server did not start: {self.log.read_text()}")

    def set_clock(self, moment: datetime) -> None:
        self.clock.write_text(moment.isoformat())

    def stop(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def post(
        self, path: str, key: str, body: dict, idempotency: str | None = None, **headers: str
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {key}", **headers}
        sent["Idempotency-Key"] = idempotency or uuid.uuid4().hex
        return self.client.post(path, json=body, headers=sent)

    def get(self, path: str, key: str | None, **params) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.get(path, params=params, headers=headers)


def volumes(**changes: float) -> dict:
    """One interval's bid: 100 MW, 40 in band 1 and 60 in band 10, ramp 5 MW/min."""
    bid = {
        "maxavail": 100.0,
        **{f"bandavail{k}": 0.0 for k in range(1, 11)},
        "rocup": 5.0,
        "rocdown": 5.0,
    }
    bid |= {"bandavail1": 40.0, "bandavail10": 60.0}
    return bid | changes


def interval(number: int, day: date = DAY) -> datetime:
    """The end of the trading day's ``number``-th interval (1 ends at 04:05), in NEM time."""
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=NEM) + timedelta(minutes=5 * number)


def offer(duid: str, day: date = DAY, intervals: range = range(1, 3), **prices: float) -> dict:
    bands = {
        f"priceband{k}": float(p)
        for k, p in enumerate((-1000, 0, 10, 20, 40, 80, 160, 320, 1000, 15000), start=1)
    }
    return {
        "duid": duid,
        "trading_date": day.isoformat(),
        **bands,
        **prices,
        "bids": [
            {"interval_datetime": interval(n, day).isoformat(), **volumes()} for n in intervals
        ],
    }


def bids(duid: str, numbers, day: date = DAY, **changes: float) -> dict:
    return {
        "bids": [
            {"duid": duid, "interval_datetime": interval(n, day).isoformat(), **volumes(**changes)}
            for n in numbers
        ]
    }


def nem12_file(nmi: str, day: date, kwh: float = 100.0) -> bytes:
    """One day of 5-minute reads of ``nmi``'s export channel (B1), ``kwh`` each."""
    values = ",".join([f"{kwh:g}"] * 288)
    return (
        "100,NEM12,202401010000,MDP1,RETAILX\n"
        f"200,{nmi},B1,1,B1,,M1,kWh,5,\n"
        f"300,{day:%Y%m%d},{values},A,,,20240101000000,\n"
        "900\n"
    ).encode()


@dataclass
class Market:
    """Participants GENA (units A1, A2; NMI NMIA000001) and GENB (unit B1; NMI NMIB000001),
    a key of each with every participant scope, and the server."""

    server: Server
    db_url: str
    key_a: str
    key_b: str


def open_market(db_url: str, folder: Path, *options: str) -> Market:
    cli("participant", "add", "GENA", "--units", "A1,A2", "--nmis", "NMIA000001", "--db", db_url)
    cli("participant", "add", "GENB", "--units", "B1", "--nmis", "NMIB000001", "--db", db_url)
    key_a = cli("key", "create", "GENA", "--db", db_url)
    key_b = cli("key", "create", "GENB", "--db", db_url)
    return Market(Server(db_url, folder, *options), db_url, key_a, key_b)
