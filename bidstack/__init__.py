"""bidstack: what-if bidding backtests for the Australian National Electricity Market."""

from bidstack.errors import (
    BidstackError,
    ConfigError,
    IngestError,
    InputError,
    RuleError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "BidstackError",
    "ConfigError",
    "IngestError",
    "InputError",
    "RuleError",
    "StoreError",
    "__version__",
]
