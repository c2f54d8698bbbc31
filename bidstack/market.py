"""Market rules shared by the backtest and the market service, free of heavy imports.

Gate closure (the bidding round's timeout, SPEC §4): the bid for the interval ending at ``t``
(period-ending NEM time) must be received by ``t − interval − gate_closure_seconds``; one
received later is late. The backtest's bidding round (:mod:`bidstack.stages.bidding`) and the
market service (:mod:`bidstack.service`) both apply :func:`gate_closes`, so they cannot disagree.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

Moment = TypeVar("Moment")


def gate_closes(interval_end: Moment, gate_seconds: float, interval_minutes: float) -> Moment:
    """When the gate closes for the interval ending at ``interval_end``.

    Works on a :class:`~datetime.datetime` or a Polars expression. A bid received at
    ``submitted`` is on time iff ``submitted <= gate_closes(...)``.

    >>> from datetime import datetime
    >>> gate_closes(datetime(2024, 9, 2, 10, 5), 3600, 5)
    datetime.datetime(2024, 9, 2, 9, 0)
    """
    return interval_end - timedelta(minutes=interval_minutes, seconds=gate_seconds)
