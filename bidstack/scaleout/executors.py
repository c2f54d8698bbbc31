"""Where tasks run: one code path through :class:`concurrent.futures.Executor`.

- no flag: None, every task in this process, one after another (the serial run);
- ``--workers N``: :class:`SpawnPool`, a local pool of N spawned processes (no new dependency);
- ``--scheduler local``: a Dask ``LocalCluster`` of N worker processes (default: one per core);
- ``--scheduler tcp://HOST:8786`` (or ``BIDSTACK_SCHEDULER``): an existing Dask cluster.

Dask's executor is ``distributed.Client.get_executor()``. Every worker process runs one task at a
time, with ``cores // workers`` threads for Numba and Polars (:func:`worker_environment`): Numba's
threading layer is not safe when two threads enter ``parallel=True`` code at once, and the two
libraries read their thread counts when a process starts, so the counts go into the environment
the worker is spawned with (for Dask, ``distributed.nanny.pre-spawn-environ``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from bidstack.errors import ConfigError

#: The environment variable naming a Dask scheduler when ``--scheduler`` is not given.
SCHEDULER = "BIDSTACK_SCHEDULER"
#: The thread counts a worker process is spawned with.
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "POLARS_MAX_THREADS", "OMP_NUM_THREADS")


def worker_environment(workers: int, cores: int | None = None) -> dict[str, str]:
    """The environment of each of ``workers`` processes sharing ``cores`` (default: this
    machine's): ``cores // workers`` threads each, at least one.

    >>> worker_environment(4, cores=8)["NUMBA_NUM_THREADS"]
    '2'
    """
    threads = max(1, (cores or os.cpu_count() or 1) // workers)
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


class SpawnPool(Executor):
    """A :class:`ProcessPoolExecutor` of ``workers`` spawned processes, each started with
    :func:`worker_environment`. A process pool is broken for good once one of its processes
    died: :meth:`respawn` replaces it, in place, with a fresh one of the same size."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.environment = worker_environment(workers)
        self.pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, /, *args: Any, **kwargs: Any) -> Future:
        # processes are spawned on submit, and inherit this process's environment then
        saved = {name: os.environ.get(name) for name in self.environment}
        os.environ.update(self.environment)
        try:
            return self.pool.submit(fn, *args, **kwargs)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self) -> None:
        """Stop every worker now (a failed run does not wait for the tasks still running)."""
        for process in list((self.pool._processes or {}).values()):
            process.terminate()
        self.shutdown(wait=False, cancel_futures=True)

    def respawn(self) -> None:
        """A fresh pool in place of this one, whose tasks are lost (see :func:`lost`)."""
        self.shutdown(wait=False, cancel_futures=True)
        self.pool = self._start()


def lost(future: Future) -> bool:
    """Whether ``future`` will not give its task's result because its process pool broke."""
    if not future.done():
        return True
    return isinstance(future.exception(), BrokenProcessPool)


@contextmanager
def open_executor(
    workers: int | None = None, scheduler: str | None = None
) -> Iterator[Executor | None]:
    """The executor for ``--workers``/``--scheduler`` (see the module docstring), shut down on
    exit; None for a serial run."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    if scheduler is None:
        if workers is None:
            yield None
            return
        pool = SpawnPool(workers)
        try:
            yield pool
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    with _dask_client(workers, scheduler) as client:
        executor = client.get_executor(pure=False)
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)


@contextmanager
def _dask_client(workers: int | None, scheduler: str) -> Iterator[Any]:
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            "--scheduler needs Dask: pip install 'bidstack[dask]' (or use --workers N)"
        ) from exc
    if scheduler != "local":
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from exc
        with client:
            yield client
        return
    count = workers or os.cpu_count() or 1
    environ = dask.config.get("distributed.nanny.pre-spawn-environ", {})
    spawn = {"distributed.nanny.pre-spawn-environ": environ | worker_environment(count)}
    with (
        dask.config.set(spawn),
        LocalCluster(
            n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def default_scheduler(workers: int | None, scheduler: str | None) -> str | None:
    """``scheduler``, else ``BIDSTACK_SCHEDULER`` unless ``--workers`` asks for a local pool."""
    if scheduler is not None or workers is not None:
        return scheduler
    return os.environ.get(SCHEDULER) or None
