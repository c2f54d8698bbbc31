"""Load on the market service: a bounded loop of bid POSTs against a live server on 127.0.0.1.

Starts ``bidstack service run`` on SQLite (WAL) in a temporary folder, registers 16 participants
with a unit each, posts their offers, then sends ``--requests`` rebids, ``--concurrency`` at a
time, each with its own Idempotency-Key, within ``--cap`` seconds. It prints the throughput and
the latency percentiles, and exits non-zero if any answer is a 5xx or the bids stored differ
from the 201 answers. Only 127.0.0.1 is ever addressed.

    python bench/bench_service.py                      # 2,000 requests, 16 at a time, 60 s cap
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bidstack.cli import main
from bidstack.service.db import bids, make_engine

NEM = timezone(timedelta(hours=10))
DAY = date(2024, 1, 2)
PEPPER = "bench-pepper-" + "0123456789abcdef" * 4


def _quiet(*args: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["service", *args]) == 0
    return out.getvalue().strip()


def _bid(duid: str, number: int) -> dict:
    end = datetime(DAY.year, DAY.month, DAY.day, 4, tzinfo=NEM) + timedelta(minutes=5 * number)
    volumes = {f"bandavail{k}": 0.0 for k in range(1, 11)} | {"bandavail1": 50.0}
    return {"duid": duid, "interval_datetime": end.isoformat(), "maxavail": 50.0,
            "rocup": 5.0, "rocdown": 5.0, **volumes}  # fmt: skip


def _offer(duid: str) -> dict:
    prices = {f"priceband{k}": float(10 * k) for k in range(1, 11)}
    return {"duid": duid, "trading_date": DAY.isoformat(), **prices, "bids": []}


async def _load(url: str, keys: list[tuple[str, str]], requests: int, concurrency: int,
                cap: float) -> tuple[list[int], list[float], float]:  # fmt: skip
    statuses, latencies = [], []
    queue = iter(range(requests))
    deadline = time.monotonic() + cap

    async def worker(client: httpx.AsyncClient) -> None:
        for n in queue:
            if time.monotonic() > deadline:
                return
            duid, key = keys[n % len(keys)]
            body = {"bids": [_bid(duid, 1 + n % 288)]}
            headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"load-{n}"}
            began = time.perf_counter()
            answer = await client.post("/v1/bids", json=body, headers=headers)
            latencies.append(time.perf_counter() - began)
            statuses.append(answer.status_code)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return statuses, latencies, elapsed


def run(requests: int, concurrency: int, cap: float, folder: Path) -> int:
    os.environ["BIDSTACK_SERVICE_PEPPER"] = PEPPER
    db = f"sqlite:///{folder / 'service.db'}"
    _quiet("init", "--db", db)
    keys = []
    for k in range(concurrency):
        _quiet("participant", "add", f"P{k:02d}", "--units", f"U{k:02d}", "--db", db)
        keys.append((f"U{k:02d}", _quiet("key", "create", f"P{k:02d}", "--db", db)))
    clock = folder / "clock"
    clock.write_text(datetime(2024, 1, 1, tzinfo=NEM).isoformat())
    log = folder / "server.log"
    command = [sys.executable, "-m", "bidstack", "service", "run", "--db", db, "--host",
               "127.0.0.1", "--port", "0", "--clock-file", str(clock), "--rate-write",
               "100000/minute"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = _wait(log, server)
        with httpx.Client(base_url=url) as client:
            for duid, key in keys:
                headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"offer-{duid}"}
                assert (
                    client.post("/v1/offers", json=_offer(duid), headers=headers).status_code == 201
                )
        statuses, latencies, elapsed = asyncio.run(_load(url, keys, requests, concurrency, cap))
    finally:
        server.terminate()
        server.wait(timeout=30)
    engine = make_engine(db, pool_size=1)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(bids)).scalar()
    created = statuses.count(201)
    errors = sum(status >= 500 for status in statuses)
    cuts = statistics.quantiles(latencies, n=100)
    print(f"{len(statuses):,} requests in {elapsed:.1f} s at concurrency {concurrency}: "
          f"{len(statuses) / elapsed:,.0f} req/s; p50 {cuts[49] * 1000:.0f} ms, "
          f"p99 {cuts[98] * 1000:.0f} ms; {created:,} created, {errors} 5xx, "
          f"{stored:,} bids stored")  # fmt: skip
    statuses_seen = sorted(set(statuses))
    print(f"statuses: {statuses_seen}")
    ok = errors == 0 and stored == created and len(statuses) == requests
    return 0 if ok else 1


def _wait(log: Path, server: subprocess.Popen) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            return found.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the server did not start: {log.read_text()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sys.exit(run(arguments.requests, arguments.concurrency, arguments.cap, Path(folder)))
