"""Load: the bounded loop of bench/bench_service.py (2,000 bid POSTs, 16 at a time, 127.0.0.1
only): no 5xx, and the bids stored are exactly the 201 answers. Its speed is printed, never
asserted (README, Market service): the cap is 300 s here, not the bench's 60 s, so that a
loaded machine (26 requests/s beside another test run, 45-64 alone: README) cannot fail it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "bench" / "bench_service.py"


def test_two_thousand_bids_sixteen_at_a_time() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "2000", "--concurrency", "16", "--cap", "300"],
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "2,000 created, 0 5xx, 2,000 bids stored" in run.stdout
