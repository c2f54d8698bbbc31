"""Scale-out: a backtest's months (and an ingest's files) as tasks on many processes or a Dask
cluster, with results identical to one machine (``../shared/design/scaleout.md``).

- :mod:`~bidstack.scaleout.executors`: ``--workers``/``--scheduler`` to a
  :class:`concurrent.futures.Executor`;
- :mod:`~bidstack.scaleout.tasks`: a month as a picklable task, :func:`run_task`;
- :mod:`~bidstack.scaleout.driver`: the fold over months, warmed up and verified;
- :mod:`~bidstack.scaleout.groups`: a month's variant groups merged into one group's output;
- :mod:`~bidstack.scaleout.attempts`: attempt folders committed by rename;
- :mod:`~bidstack.scaleout.snapshot`: the store's manifest hash, checked by every task;
- :mod:`~bidstack.scaleout.ingest`: files parsed and staged on workers, committed by the driver.
"""
