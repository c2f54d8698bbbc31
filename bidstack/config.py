"""A run's configuration, resolved once: the fleet, its rule variants compiled, their names.

Every month of a backtest (and every task that runs one elsewhere) takes the same
:class:`RunConfig`; nothing below it loads a rule file or re-reads the fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bidstack.errors import InputError
from bidstack.fleet import Fleet
from bidstack.rules import load_variants

#: Dispatch intervals in the store (DISPATCHREGIONSUM, DISPATCHPRICE) are 5 minutes long.
INTERVAL_MINUTES = 5.0
#: The scenario of every unit's historical bids.
BASELINE = "baseline"
#: Folder names a variant may not take.
RESERVED = frozenset({BASELINE, "allocation", "problems", "variants"})


@dataclass(frozen=True)
class RunConfig:
    """``variants``: the rule variants, each loaded once (names inside); ``names``: theirs, in
    order; ``interval_minutes``: the dispatch interval."""

    fleet: Fleet
    variants: tuple
    names: tuple[str, ...]
    interval_minutes: float = INTERVAL_MINUTES

    @classmethod
    def resolve(cls, fleet: Fleet, variants: Sequence[str | Path]) -> RunConfig:
        """Load each rule variant once; refuse a name that would clash with an output folder."""
        loaded = tuple(load_variants(variants)) if variants else ()
        names = tuple(variant.name for variant in loaded)
        clash = sorted(set(names) & RESERVED)
        if clash:
            raise InputError(f"a rule variant may not be named {clash[0]!r}: it names an output")
        return cls(fleet, loaded, names)

    @property
    def scenarios(self) -> tuple[str, ...]:
        return (BASELINE, *self.names)
