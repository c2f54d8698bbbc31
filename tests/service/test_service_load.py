"""Load: the loop of bench/bench_service.py (200 bid POSTs, 16 at a time, 127.0.0.1 only): no
5xx, and the bids stored are exactly the 201 answers. Its speed is the bench's to measure (2,000
requests, README, Market service), never asserted here: the cap of 300 s only stops a hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_service.py"


def test_two_hundred_bids_sixteen_at_a_time() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "200", "--concurrency", "16", "--cap", "300"],
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "200 created, 0 5xx, 200 bids stored" in run.stdout
