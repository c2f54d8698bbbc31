"""What importing bidstack sets up: Polars' allocator keeps freed memory (POLARS_ALLOCATOR)."""

from __future__ import annotations

import os
import subprocess
import sys

import bidstack

SHOW = "import bidstack, polars, os; print(os.environ['_RJEM_MALLOC_CONF'])"


def _allocator_conf(**environment: str) -> str:
    """``_RJEM_MALLOC_CONF`` as Polars leaves it in a fresh process that imports bidstack first."""
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"} | environment
    run = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


def test_importing_bidstack_first_keeps_polars_freed_memory_for_three_seconds() -> None:
    # jemalloc reads its options left to right: the last of each name is the one in force
    options = dict(item.split(":") for item in _allocator_conf().split(","))
    assert options["dirty_decay_ms"] == options["muzzy_decay_ms"] == "3000"
    assert bidstack.POLARS_ALLOCATOR == "dirty_decay_ms:3000,muzzy_decay_ms:3000"


def test_a_users_own_allocator_setting_is_left_as_it_is() -> None:
    conf = _allocator_conf(_RJEM_MALLOC_CONF="narenas:2")
    assert conf.endswith(",narenas:2")
    assert "3000" not in conf
