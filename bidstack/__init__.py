"""bidstack: what-if bidding backtests for the Australian National Electricity Market.

>>> import bidstack
>>> sorted(bidstack.output_columns(["v1", "v2"])["v2"].values())
['band_v2', 'outcome_v2', 'within_limits_v2']
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from bidstack.errors import (
    BidstackError,
    ConfigError,
    IngestError,
    InputError,
    RuleError,
    StoreError,
)

__version__ = "0.1.0"

#: Polars' allocator (jemalloc) gives memory it has freed back to the system after half a second,
#: so each month-sized frame a backtest builds takes a page fault every 4 KiB of it again. Kept
#: for three seconds, a fleet-year runs in 366 s instead of 406 s and peaks at 6.0 GB instead of
#: 5.8 (kept for ten, 354 s at 7.0 GB; README, Benchmarks). Set before Polars loads, which reads
#: it then (it has no effect once Polars is imported); a ``_RJEM_MALLOC_CONF`` of the user's own
#: is left as it is.
POLARS_ALLOCATOR = "dirty_decay_ms:3000,muzzy_decay_ms:3000"
os.environ.setdefault("_RJEM_MALLOC_CONF", POLARS_ALLOCATOR)

# Public names that need NumPy, Numba or Polars load on first use, so that the command line's
# --help and error paths stay fast.
_LAZY = {
    "allocate": "bidstack.allocation",
    "allocate_with_report": "bidstack.allocation",
    "output_columns": "bidstack.allocation",
    "derive_price_type_phase": "bidstack.phase",
    "Allocation": "bidstack.allocation",
}

__all__ = [
    "Allocation",
    "BidstackError",
    "ConfigError",
    "IngestError",
    "InputError",
    "RuleError",
    "StoreError",
    "__version__",
    "allocate",
    "allocate_with_report",
    "derive_price_type_phase",
    "output_columns",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bidstack' has no attribute {name!r}")
