"""What a backtest records beside its results, so that its report and a reader can rebuild every
figure from the output folder alone: the rule variants it ran (``variants/<name>.txt`` as
``bidstack rules show`` prints them, and the rule file itself) and AEMO's dispatch prices over its
window (``history_prices.parquet``: ``regionid, interval_datetime, rrp``, where the store has
DISPATCHPRICE)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path

from bidstack.market_reads import history_prices
from bidstack.rules import Variant, format_variant

#: How :func:`bidstack.rules.load_variant` names the source of a built-in variant.
BUILT_IN = "built-in "


def rule_text(variant: Variant) -> str:
    """The TOML a variant was read from: its file, or the built-in rule file."""
    if variant.source.startswith(BUILT_IN):
        name = variant.source.removeprefix(BUILT_IN)
        return resources.files("bidstack.rules").joinpath(f"{name}.toml").read_text("utf-8")
    return Path(variant.source).read_text("utf-8")


def write_variants(out: Path, variants: Sequence[Variant]) -> None:
    folder = out / "variants"
    folder.mkdir(exist_ok=True)
    for variant in variants:
        (folder / f"{variant.name}.txt").write_text(format_variant(variant))
        (folder / f"{variant.name}.toml").write_text(rule_text(variant))


def write_history_prices(
    out: Path, store: str | os.PathLike, start: datetime, end: datetime, compression: str = "zstd"
) -> None:
    prices = history_prices(store, start, end).sort("regionid", "interval_datetime")
    if not prices.is_empty():
        prices.write_parquet(out / "history_prices.parquet", compression=compression)
