"""The contract: schemathesis, with every check, against the live server's /openapi.json and a
test key (bounded: 20 examples per operation, a fixed seed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service_helpers import PEPPER, cli, open_market

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_the_live_api_keeps_its_openapi_contract(sqlite_url, tmp_path) -> None:
    unlimited = ("--rate-write", "100000/minute", "--rate-read", "100000/minute",
                 "--rate-upload", "100000/minute")  # fmt: skip
    market = open_market(sqlite_url, tmp_path, *unlimited)
    try:
        key = cli("key", "create", "GENA", "--db", sqlite_url)
        command = [
            os.path.join(os.path.dirname(sys.executable), "st"), "--config-file", str(CONFIG),
            "run", f"{market.server.url}/openapi.json", "--checks", "all",
            "-H", f"Authorization: Bearer {key}", "--max-examples", "20", "--seed", "1",
            "--no-color", "--workers", "1",
        ]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                             env=os.environ | {"BIDSTACK_SERVICE_PEPPER": PEPPER})  # fmt: skip
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert "Tested: 11" in run.stdout
    finally:
        market.server.stop()
