"""A month of a backtest (or a window of days of one) as a task that any process can run:
:class:`MonthTask` in, :class:`TaskResult` out, through :func:`run_task` (top level, so it
pickles by name).

A task opens the store (once per process and run, see :func:`_market_data`), checks the run's
snapshot (:mod:`bidstack.scaleout.snapshot`) at its start and before it returns, and writes
nothing but its own attempt folder, ``OUT/_attempts/<window>[-g<group>]-<uuid>/`` (the month, or
a window of days' first day), laid out as the output folder is; the driver commits it by rename
(:mod:`bidstack.scaleout.attempts`).

A task starts either from an exact carry (the serial step) or, speculatively, ``warmup`` early
from the store's INITIALMW: it then runs the warm-up ``(warmup_from, left]`` first (in the run's
windows), discards its outputs and starts the month from the warm-up's last dispatch. The result
holds what the month started from (``head``, and the prices administered pricing read) for the
driver to verify.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import polars as pl

from bidstack.config import RunConfig
from bidstack.errors import OutputError
from bidstack.market_data import MarketData
from bidstack.month import MonthResult, price_history, run_month
from bidstack.scaleout.attempts import ATTEMPTS
from bidstack.scaleout.snapshot import check_snapshot

#: A test-only hook, read by the driver and carried by every task (so that it reaches workers
#: started before it was set): ``kill:NAME:MARKER`` makes the first attempt of the task whose
#: ``window`` (or ingested file) is NAME, while the file ``MARKER`` does not exist, SIGKILL its
#: own process; ``killall:NAME`` every attempt of it; ``fail:NAME`` makes every attempt raise.
TEST_HOOK = "BIDSTACK_TEST_HOOK"
#: The warm-up's scratch folder inside an attempt folder.
WARMUP = "_warmup"
#: The folder of ``_attempts`` where each task leaves a file ``<label>@<attempt>`` while it runs.
RUNNING = "_running"


@dataclass(frozen=True)
class MonthTask:
    """Month ``(left, right]`` of a run ending at ``end`` (``run``: the run's id), or a window of
    days of one when ``config.window_days`` is set.

    ``carry``: each scenario's last dispatch from the month before, as the serial run passes it
    (None: the store's INITIALMW at ``left``). ``history``: the folder of committed earlier
    months, whose prices administered pricing reads (None for a speculative task: it reads its
    warm-up's, else the store's). ``warmup_from``: if set, start from the store's INITIALMW there
    instead of ``carry`` and warm up to ``left``. ``group``: the variant group ``config`` holds
    (:meth:`~bidstack.config.RunConfig.groups`), None when the run has one. ``following``: the
    window of the task this process runs next (a serial run's), read ahead once this month's
    scenarios are dispatched. ``hook``: see :data:`TEST_HOOK`.
    """

    run: str
    store: str
    snapshot: str
    config: RunConfig
    left: datetime
    right: datetime
    end: datetime
    out: str
    carry: dict[str, pl.DataFrame | None] | None = None
    history: str | None = None
    warmup_from: datetime | None = None
    group: int | None = None
    following: tuple[datetime, datetime] | None = None
    hook: str = ""

    @property
    def month(self) -> str:
        return f"{self.left:%Y-%m}"

    @property
    def window(self) -> str:
        """The task's month, or its first day in a run of windows of days: ``2024-02-11``."""
        return self.config.window_name(self.left)

    @property
    def label(self) -> str:
        """The window, and its variant group if the run has several: ``2024-02 group 1``."""
        return self.window if self.group is None else f"{self.window} group {self.group}"

    @property
    def name(self) -> str:
        """The label for messages: ``month 2024-02 group 1``, ``window 2024-02-11``."""
        return f"{self.config.window_kind} {self.label}"


@dataclass(frozen=True)
class TaskResult:
    """``month``: what :func:`~bidstack.month.run_month` returned; ``folder``: the attempt
    folder; ``store_head``: the store's INITIALMW at ``left``; ``prices``: per scenario, the
    prices administered pricing read before ``left``, and ``stored_prices`` the store's (both
    None when it is off); ``worker``: host and process; ``seconds``: the task's time."""

    task: MonthTask
    month: MonthResult
    folder: str
    store_head: pl.DataFrame | None
    prices: dict[str, pl.DataFrame] | None
    stored_prices: pl.DataFrame | None
    worker: str
    seconds: float


def run_task(task: MonthTask) -> TaskResult:
    """Run ``task`` (see the module docstring)."""
    began = time.perf_counter()
    out = Path(task.out)
    if not out.is_dir():  # made by the driver: a worker that cannot see it must not make another
        raise OutputError(
            f"{out}: no such output folder where {task.name} runs ({socket.gethostname()}, "
            f"process {os.getpid()}): a cluster's workers need it at the same path as the driver"
        )
    running = out / ATTEMPTS / RUNNING / f"{task.label}@{uuid.uuid4().hex[:12]}"
    running.parent.mkdir(parents=True, exist_ok=True)
    running.touch()
    try:
        return _run_task(task, out, began)
    finally:  # left behind only where the worker died with the task
        running.unlink(missing_ok=True)


def died_running(out: Path, label: str = "*") -> list[str]:
    """The label of each attempt whose worker died while it ran (``label``: of that task's
    only); their files are removed, so that the next death counts only its own."""
    found = []
    for path in sorted((out / ATTEMPTS / RUNNING).glob(f"{label}@*")):
        found.append(path.name.rsplit("@", 1)[0])
        path.unlink(missing_ok=True)
    return found


def _run_task(task: MonthTask, out: Path, began: float) -> TaskResult:
    test_hook(task.hook, task.window)
    check_snapshot(task.store, task.snapshot)
    data = _market_data(task)
    group = "" if task.group is None else f"-g{task.group}"
    folder = out / ATTEMPTS / f"{task.window}{group}-{uuid.uuid4().hex[:12]}"
    carry = task.carry
    history = Path(task.history) if task.history is not None else folder / WARMUP
    if task.warmup_from is not None:
        carry = _warm_up(data, task, folder / WARMUP)
    window = data.window(task.left, task.right, task.end)
    ahead = None
    if task.following is not None:
        ahead = partial(data.read_ahead, *task.following, task.end)
    month = run_month(window, task.config, folder, carry, history=history, dispatched=ahead)
    prices = None
    if window.stored_prices is not None:
        prices = {
            scenario: price_history(
                history / scenario / "dispatch_regions", window.stored_prices, task.left
            )
            for scenario in month.head
        }
    shutil.rmtree(folder / WARMUP, ignore_errors=True)
    check_snapshot(task.store, task.snapshot)
    return TaskResult(
        task,
        month,
        str(folder),
        window.initial_mw,
        prices,
        window.stored_prices,
        f"{socket.gethostname()}:{os.getpid()}",
        time.perf_counter() - began,
    )


_opened: dict[tuple[str, str, str], MarketData] = {}


def _market_data(task: MonthTask) -> MarketData:
    """The run's store and fleet, opened once per process (a worker keeps the last run's)."""
    key = (task.run, task.store, task.snapshot)
    if key not in _opened:
        _opened.clear()
        _opened[key] = MarketData.open(task.store, task.config.fleet)
    return _opened[key]


def release() -> None:
    """Let go of the store and fleet this process opened for a run's tasks (and of a window
    read ahead): the driver of a serial run, once it is over."""
    for data in _opened.values():
        data.close()
    _opened.clear()


def _warm_up(data: MarketData, task: MonthTask, folder: Path) -> dict[str, pl.DataFrame] | None:
    """Run ``(warmup_from, left]`` into ``folder`` from the store's INITIALMW, in the run's
    windows (of days, where it has them: a warm-up of nine days then holds no more at once than
    a window does); each scenario's last dispatch (None: none)."""
    carry = None
    for left, right in task.config.windows(task.warmup_from, task.left):
        warmup = data.window(left, right, task.end)
        carry = run_month(warmup, task.config, folder, carry).tails or carry
    return carry


def test_hook(hook: str, name: str) -> None:
    """Act on the test-only ``hook`` (:data:`TEST_HOOK`) if it names ``name``."""
    action, _, rest = hook.partition(":")
    target, _, marker = rest.partition(":")
    if target != name:
        return
    if action == "fail":
        raise RuntimeError(f"{TEST_HOOK}: {name} always fails")
    if action == "kill" and not Path(marker).exists():
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "killall":
        os.kill(os.getpid(), signal.SIGKILL)
