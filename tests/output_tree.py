"""Fingerprints of a backtest's output tree, for tests that compare two runs byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

#: What may differ between two runs of the same backtest: how long it took and how it ran.
RUN_RECORD_VOLATILE = ("seconds", "execution")


def digests(out: Path) -> dict[str, str]:
    """sha256 of every file under ``out``; ``backtest.json`` without its timing and its record of
    how the run was executed, and ``bidstack-output.json`` without the fingerprint of
    ``backtest.json`` (which holds that timing)."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        content = path.read_bytes()
        if path.name == "backtest.json":
            run = json.loads(content)
            for key in RUN_RECORD_VOLATILE:
                run.pop(key, None)
            content = json.dumps(run, sort_keys=True).encode()
        elif path.name == "bidstack-output.json" and path.parent == out:
            listing = json.loads(content)
            listing["files"].pop("backtest.json", None)
            content = json.dumps(listing, sort_keys=True).encode()
        found[str(path.relative_to(out))] = hashlib.sha256(content).hexdigest()
    return found
