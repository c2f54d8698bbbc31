"""Variant groups: a month's variants run as several tasks (the baseline in the first only), and
their outputs merged are the bytes one task would have written (``../shared/design/scaleout.md``
§4.4).

Each scenario's tables belong to one group and move as they are. Two files hold every group's:

- ``allocation``: the fleet's offers with each variant's result columns. Allocation is per row
  and per variant, so the merged file is the first group's offer columns, every group's result
  columns in variant order (named as one task names them) and the derived PT and PP;
- ``problems``: a scenario's rows come from the group that runs it (every group reads the
  market's own, the baseline's among them); rows found before the scenarios part (scenario
  ``all``) are found by every group, and those that depend on the variants (offers the
  allocation could not evaluate, under some variant) by some: each is kept as often as the
  group that found it most often did, and the rows are sorted as one task sorts them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from bidstack.allocation import output_columns
from bidstack.config import RunConfig
from bidstack.month import MonthResult, write_partition, write_problems
from bidstack.problems import EVERY_SCENARIO

ALLOCATION, PROBLEMS = "allocation", "problems"


def merge_groups(
    results: list[MonthResult], folders: list[Path], groups: list[RunConfig]
) -> MonthResult:
    """One month's results and attempt ``folders``, one per variant group (``groups``, in
    order), as one group's: the first folder gets the merged ``allocation`` and ``problems``
    partitions, the others lose theirs."""
    if len(results) == 1:
        return results[0]
    month, file, compression = results[0].month, results[0].file, groups[0].compression
    parts = [folder / ALLOCATION / f"month={month}" for folder in folders]
    if parts[0].exists():
        frames = [pl.read_parquet(part / file) for part in parts]
        names = [group.names for group in groups]
        allocation = merge_allocation(frames, names)
        write_partition(allocation, folders[0] / ALLOCATION, month, compression, file)
    problems = [pl.read_parquet(folder / PROBLEMS / f"month={month}" / file) for folder in folders]
    merged = merge_problems(problems, [group.scenarios for group in groups])
    counts = write_problems([merged], folders[0], month, compression, file)
    for folder in folders[1:]:
        for table in (ALLOCATION, PROBLEMS):
            shutil.rmtree(folder / table / f"month={month}", ignore_errors=True)
    first = results[0]
    stacks = [result.stack for result in results if result.stack is not None]
    return MonthResult(
        month,
        {s: frame for result in results for s, frame in result.head.items()},
        {s: frame for result in results for s, frame in result.tails.items()},
        [figures for result in results for figures in result.figures],
        [counts for result in results for counts in result.allocation],
        counts,
        first.calibration,
        first.peak,
        pl.concat(stacks) if stacks else None,
        first.file,
    )


def merge_allocation(frames: list[pl.DataFrame], groups: list[tuple[str, ...]]) -> pl.DataFrame:
    """Each group's ``allocation`` partition (``frames``) as one group's.

    >>> one = pl.DataFrame({"duid": ["A"], "band": [1], "outcome": ["x"], "within_limits": [True]})
    >>> two = one.with_columns(band=pl.lit(2))
    >>> merge_allocation([one, two], [("v1",), ("v2",)]).columns[:4]
    ['duid', 'band_v1', 'outcome_v1', 'within_limits_v1']
    """
    named = output_columns([name for group in groups for name in group])
    first_columns = [c for out in output_columns(groups[0]).values() for c in out.values()]
    at = frames[0].columns.index(first_columns[0])
    offers = frames[0].columns[:at]
    derived = frames[0].columns[at + len(first_columns) :]
    results = [
        frame.get_column(column).alias(named[name][field])
        for frame, group in zip(frames, groups, strict=True)
        for name, columns in output_columns(group).items()
        for field, column in columns.items()
    ]
    return pl.DataFrame(
        [*frames[0].select(offers).get_columns(), *results,
         *frames[0].select(derived).get_columns()]
    )  # fmt: skip


def merge_problems(frames: list[pl.DataFrame], scenarios: list[tuple[str, ...]]) -> pl.DataFrame:
    """Each group's ``problems`` rows (``scenarios``: each group's) as one group's, before
    sorting: a scenario's rows from the group that runs it (the first for any other), each
    ``all`` row as many times as in the group that has it most often.

    >>> row = {"scenario": "all", "kind": "invalid_input", "duid": "A"}
    >>> one = pl.DataFrame([row, row | {"scenario": "baseline"}, row | {"scenario": "v1"}])
    >>> two = pl.DataFrame([row, row | {"duid": "B"}, row | {"scenario": "baseline"},
    ...                     row | {"scenario": "v2"}])
    >>> merge_problems([one, two], [("baseline", "v1"), ("v2",)]).sort(pl.all()).rows()
    [('all', 'invalid_input', 'A'), ('all', 'invalid_input', 'B'), \
('baseline', 'invalid_input', 'A'), ('v1', 'invalid_input', 'A'), ('v2', 'invalid_input', 'A')]
    """
    scenario = pl.col("scenario")
    every = scenario == EVERY_SCENARIO
    columns = frames[0].columns
    shared = pl.concat(
        frame.filter(every).with_columns(
            pl.int_range(pl.len(), dtype=pl.UInt32).over(columns).alias("_copy")
        )
        for frame in frames
    )
    pairs = zip(frames, scenarios, strict=True)
    own = [frame.filter(scenario.is_in(group)) for frame, group in pairs]
    run = [name for group in scenarios for name in group]
    others = frames[0].filter(~every & ~scenario.is_in(run))
    return pl.concat([shared.unique(maintain_order=True).drop("_copy"), *own, others])
