"""The months of a run, in order: a left fold over the month step, serial or warmed up and
verified (``../shared/design/scaleout.md`` §4).

Serial (no executor): each month runs in this process from the exact carry of the month before,
as it always has. With an executor, every month is submitted at once; month m > 1 starts
speculatively ``warmup`` early from the store's INITIALMW (and, with administered pricing on, 8
days earlier still: the running sum of a scenario's own prices over the 7 days and a trading day
before the month is part of its state, and a warm-up of a day would leave it at history's).
The driver then takes the months in order: a month whose start (each scenario's
``initial_mw``, and the prices administered pricing read before it) equals, bit for bit, what
the months before it carry is kept (``exact``); otherwise it runs again from the exact carry
(``recomputed``). Either way a kept attempt is committed by rename and the fold goes on from its
last dispatch: the worst case is the serial run plus wasted work, never a different answer.

With ``variant_groups`` G > 1, each month is G tasks, one per group of variants (the baseline in
the first), verified and recomputed each on its own; the driver merges a month's groups
(:mod:`bidstack.scaleout.groups`) before it commits them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from bidstack.config import RunConfig
from bidstack.errors import BidstackError, TaskError
from bidstack.market_data import PRICE_HISTORY
from bidstack.month import MonthResult, price_history
from bidstack.scaleout import attempts
from bidstack.scaleout.executors import SpawnPool, lost
from bidstack.scaleout.groups import merge_groups
from bidstack.scaleout.snapshot import check_snapshot, snapshot
from bidstack.scaleout.tasks import (
    TEST_HOOK,
    MonthTask,
    TaskResult,
    died_running,
    release,
    run_task,
)
from bidstack.stages.dispatch import carry_initial_mw

#: How often a task may be lost with a local pool's worker that died (the pool is started again
#: each time and the task resubmitted): one lost more often fails the run.
RESPAWNS = 3
PRICE_KEYS = ["regionid", "interval_datetime"]


@dataclass
class Fold:
    """A run's months (``windows``), folded in order by :meth:`months`, each as one task per
    variant group (``groups``, :meth:`~bidstack.config.RunConfig.groups`; default: ``config``
    alone); ``execution`` records how (the executor, each boundary ``exact`` or
    ``recomputed``, retries) for ``backtest.json``."""

    store: str
    config: RunConfig
    windows: list[tuple[datetime, datetime]]
    end: datetime
    out: Path
    executor: Executor | None = None
    warmup: timedelta = timedelta(days=1)
    progress: bool | None = None
    groups: tuple[RunConfig, ...] = ()
    run: str = field(default_factory=lambda: uuid.uuid4().hex)
    execution: dict = field(default_factory=dict)

    def months(self) -> Iterator[MonthResult]:
        """Each month's result, in order, once its partitions are committed under ``out``."""
        self.groups = self.groups or (self.config,)
        self.snapshot = snapshot(self.store)
        self.execution.update(executor=_describe(self.executor), snapshot=self.snapshot,
                              variant_groups=len(self.groups))  # fmt: skip
        bar = tqdm(total=len(self.windows), desc="backtest", unit=self.config.window_kind,
                   disable=None if self.progress is None else not self.progress)  # fmt: skip
        with bar:
            if self.executor is None:
                try:
                    yield from self._serial(bar)
                finally:  # the serial run's tasks ran here: their store is not to outlive it
                    release()
            else:
                yield from self._parallel(_Runner(self.executor, bar, self.out))
        attempts.clear(self.out)

    def _task(self, left: datetime, right: datetime, group: int, **how) -> MonthTask:
        return MonthTask(self.run, self.store, self.snapshot, self.groups[group], left, right,
                         self.end, str(self.out), group=group if len(self.groups) > 1 else None,
                         hook=os.environ.get(TEST_HOOK, ""), **how)  # fmt: skip

    def _serial(self, bar: tqdm) -> Iterator[MonthResult]:
        carry = None
        # each task reads the next one's window while its last scenarios settle
        order = [(window, group) for window in self.windows for group in range(len(self.groups))]
        following = dict(zip(order[:-1], [window for window, _ in order[1:]], strict=True))
        for left, right in self.windows:
            bar.set_postfix_str(self.config.window_name(left))
            results = [
                run_task(self._task(left, right, group, carry=carry, history=str(self.out),
                                    following=following.get(((left, right), group))))
                for group in range(len(self.groups))
            ]  # fmt: skip
            month = self._commit(results)
            carry = month.tails or carry
            bar.update()
            yield month

    def _parallel(self, runner: _Runner) -> Iterator[MonthResult]:
        start = self.windows[0][0]
        # administered pricing remembers a scenario's own prices of the days before a month
        memory = PRICE_HISTORY if self.config.fleet.market.administered_pricing else timedelta()
        self.execution.update(warmup=str(self.warmup), boundaries=[], retries=runner.retries)
        groups = range(len(self.groups))
        submitted = [[runner.submit(self._task(*self.windows[0], g, history=str(self.out)))
                      for g in groups]]  # fmt: skip
        for left, right in self.windows[1:]:
            warmup_from = max(start, left - self.warmup - memory)
            speculative = {"warmup_from": warmup_from} if warmup_from < left else {}
            submitted.append([runner.submit(self._task(left, right, g, **speculative))
                              for g in groups])  # fmt: skip
        carry = None
        for index, handles in enumerate(submitted):
            results = [runner.result(handle) for handle in handles]
            if index:
                self._verify(results, carry, runner)
            month = self._commit(results)
            carry = month.tails or carry
            runner.bar.update()
            yield month

    def _verify(self, results: list[TaskResult], carry: dict | None, runner: _Runner) -> None:
        """Keep each group's speculative month if it started from ``carry``, else run it again
        from there (in place in ``results``); record the boundary."""
        again = {}
        for group, result in enumerate(results):
            if not _verified(result, carry, self.out):
                attempts.discard(Path(result.folder))
                task = result.task
                exact = self._task(task.left, task.right, group, carry=carry,
                                   history=str(self.out))  # fmt: skip
                again[group] = runner.submit(exact, recompute=True)
        for group, handle in again.items():
            results[group] = runner.result(handle)
        for group, result in enumerate(results):
            boundary = {"month": result.task.month}
            if self.config.window_days:
                boundary["window"] = result.task.window
            if len(results) > 1:
                boundary["group"] = group
            boundary["boundary"] = "recomputed" if group in again else "exact"
            self.execution["boundaries"].append(boundary)

    def _commit(self, results: list[TaskResult]) -> MonthResult:
        """A month's groups merged, then committed by rename."""
        check_snapshot(self.store, self.snapshot)
        folders = [Path(result.folder) for result in results]
        month = merge_groups([result.month for result in results], folders, self.groups)
        for folder in folders:
            attempts.commit(folder, self.out)
        return month


def _describe(executor: Executor | None) -> dict:
    if executor is None:
        return {"kind": "serial"}
    if isinstance(executor, SpawnPool):
        return {"kind": "processes", "workers": executor.workers}
    return {"kind": type(executor).__name__}


def _verified(result: TaskResult, carry: dict | None, out: Path) -> bool:
    """Whether a speculative month started where the serial run would have started it."""
    left, head = result.task.left, result.month.head
    for scenario, used in head.items():
        expected = (
            result.store_head if carry is None else carry_initial_mw(carry.get(scenario), left)
        )
        if not identical(used, expected):
            return False
    for scenario, used in (result.prices or {}).items():
        exact = price_history(out / scenario / "dispatch_regions", result.stored_prices, left)
        if not identical(used.sort(PRICE_KEYS), exact.sort(PRICE_KEYS)):
            return False
    return True


def identical(a: pl.DataFrame | None, b: pl.DataFrame | None) -> bool:
    """Same columns, dtypes, rows and nulls, and floats equal bit for bit (0.0 is not -0.0).

    >>> identical(pl.DataFrame({"x": [0.0]}), pl.DataFrame({"x": [-0.0]}))
    False
    """
    if a is None or b is None:
        return a is b
    if a.schema != b.schema or a.height != b.height:
        return False
    for name in a.columns:
        x, y = a.get_column(name), b.get_column(name)
        if not x.is_null().equals(y.is_null()):
            return False
        if x.dtype.is_float():
            bits = [s.fill_null(0.0).to_numpy().view(np.uint64) for s in (x, y)]
            if not np.array_equal(*bits):
                return False
        elif not x.equals(y, null_equal=True):
            return False
    return True


@dataclass
class _Handle:
    task: MonthTask
    future: Future


class _Runner:
    """Submits tasks and waits for their results, keeping the progress bar current; a local
    pool whose worker died is started again and its unfinished tasks resubmitted."""

    def __init__(self, executor: Executor, bar: tqdm, out: Path) -> None:
        self.executor = executor
        self.bar = bar
        self.out = out
        self.handles: list[_Handle] = []
        self.losses: dict[str, int] = {}  # times each task was lost with a worker
        self.retries: list[dict] = []
        self.recomputed = 0
        self.began = time.perf_counter()

    def submit(self, task: MonthTask, recompute: bool = False) -> _Handle:
        self.recomputed += recompute
        handle = _Handle(task, self.executor.submit(run_task, task))
        self.handles.append(handle)
        return handle

    def result(self, handle: _Handle) -> TaskResult:
        while True:
            done, _ = wait([handle.future], timeout=0.5, return_when=FIRST_COMPLETED)
            self._show()
            if not done:
                continue
            try:
                result = handle.future.result()
            except BrokenProcessPool:
                self._respawn(handle.task)
            except BidstackError:
                raise
            except Exception as exc:
                raise TaskError(
                    f"{handle.task.name} failed: {type(exc).__name__}: {exc}"
                ) from exc
            else:
                # a cluster retries a task whose worker died itself: its attempt's file says so
                for label in died_running(self.out, handle.task.label):
                    self.retries.append({"after": "worker died", "resubmitted": [label]})
                return result

    def _respawn(self, task: MonthTask) -> None:
        """Start the pool again and resubmit its lost tasks, unless one of those running when
        it broke has now been lost more than :data:`RESPAWNS` times: the run then fails naming
        them (the task that kills its worker is among them; the one waited on when the pool
        broke, or one queued behind, need not be)."""
        if not isinstance(self.executor, SpawnPool):
            raise TaskError(f"{task.name} failed: a worker process died")
        unfinished = [h for h in self.handles if lost(h.future)]
        running = set(died_running(self.out))
        for handle in unfinished:
            if handle.task.label in running:
                self.losses[handle.task.name] = self.losses.get(handle.task.name, 0) + 1
        failed = [h.task.name for h in unfinished if self.losses.get(h.task.name, 0) > RESPAWNS]
        if failed:
            raise TaskError(
                f"{', '.join(failed)} failed: lost with a worker process that died, "
                f"{RESPAWNS + 1} times"
            )
        self.retries.append(
            {"after": "worker died", "resubmitted": sorted({h.task.label for h in unfinished})}
        )
        self.executor.respawn()
        for handle in unfinished:
            handle.future = self.executor.submit(run_task, handle.task)

    def _show(self) -> None:
        done = sum(h.future.done() for h in self.handles)
        minutes = (time.perf_counter() - self.began) / 60
        self.bar.set_postfix_str(
            f"tasks done {done}, running {len(self.handles) - done}, "
            f"recomputed {self.recomputed}, {done / max(minutes, 1e-9):.1f} tasks/min"
        )
