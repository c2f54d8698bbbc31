"""Statements: settled amounts (:func:`bidstack.stages.settlement.settle`) summed per participant
and interval, per settlement date and in total, and shown to the cent (see
:mod:`bidstack.stages.settlement` for how cents relate to the micro-dollars carried)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from bidstack.stages.settlement import MICRODOLLARS_PER_CENT, round_half_away, settlement_date
from bidstack.sums import group_sums


@dataclass(frozen=True)
class Statements:
    """Net positions from settled amounts: per participant and interval, per settlement date,
    in total (see the module docstring for how cents relate to the micro-dollars carried).

    ``amounts`` (one row per unit and interval, from :func:`settle`) may be lazy, for runs too
    long to hold in memory; the three sums are always collected. ``intervals``:
    ``participantid, interval_datetime, energy_mwh, net_microdollars``. ``daily``:
    ``participantid, settlement_date, energy_mwh, net_microdollars, net_cents``. ``totals``:
    ``participantid, energy_mwh, net_microdollars, net_cents, rounding_microdollars, days,
    first_interval, last_interval``.
    """

    amounts: pl.LazyFrame
    intervals: pl.DataFrame
    daily: pl.DataFrame
    totals: pl.DataFrame

    def write(self, folder: Path, compression: str = "zstd") -> list[Path]:
        """The three sums as Parquet (in ``compression``) and CSV, and a readable summary per
        participant."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name in ("intervals", "daily", "totals"):
            table = getattr(self, name)
            table.write_parquet(folder / f"{name}.parquet", compression=compression)
            table.write_csv(folder / f"{name}.csv")
            written += [folder / f"{name}.parquet", folder / f"{name}.csv"]
        for row in self.totals.iter_rows(named=True):
            path = folder / f"statement_{_file_name(row['participantid'])}.txt"
            path.write_text(self.summary(row["participantid"]))
            written.append(path)
        return written

    def summary(self, participant: str) -> str:
        return statement_text(self.totals, self.daily, participant)


def statement_text(totals: pl.DataFrame, daily: pl.DataFrame, participant: str) -> str:
    """A participant's readable statement from :class:`Statements`' ``totals`` and ``daily``
    (those of other participants are not read)."""
    total = totals.filter(pl.col("participantid") == participant).row(0, named=True)
    days = daily.filter(pl.col("participantid") == participant).sort("settlement_date")
    lines = [
        f"Settlement statement: {participant}",
        f"intervals {total['first_interval']} .. {total['last_interval']} "
        "(market time, period ending)",
        f"energy {total['energy_mwh']:,.3f} MWh, "
        f"net position {format_cents(total['net_cents'])}",
        f"exact {format_microdollars(total['net_microdollars'])}: each day is rounded half "
        "away from zero to the cent, and the total is the sum of the days",
        "",
        f"{'settlement date':<16}{'energy MWh':>16}{'net position':>20}",
    ]
    for day in days.iter_rows(named=True):
        net = format_cents(day["net_cents"])
        lines.append(f"{day['settlement_date']!s:<16}{day['energy_mwh']:>16,.3f}{net:>20}")
    return "\n".join(lines) + "\n"


def format_cents(cents: int) -> str:
    """``-123456`` -> ``-$1,234.56``."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def format_microdollars(micro: int) -> str:
    """``-1234567891`` -> ``-$1,234.567891``."""
    sign = "-" if micro < 0 else ""
    dollars, rest = divmod(abs(int(micro)), 1_000_000)
    return f"{sign}${dollars:,}.{rest:06d}"


def to_cents(microdollars: pl.Expr) -> pl.Expr:
    """Integer micro-dollars as integer cents, rounded half away from zero (exact).

    >>> pl.select(to_cents(pl.Series([5_000, -5_000, 4_999, -15_000]))).to_series().to_list()
    [1, -1, 0, -2]
    """
    return round_half_away(microdollars, MICRODOLLARS_PER_CENT)


#: A backtest scenario's table of :func:`interval_sums`, a partition per month (its
#: statements are summed from these at the end of the run, not from every month's amounts).
STATEMENT_INTERVALS = "statement_intervals"


def interval_sums(amounts: pl.DataFrame) -> pl.DataFrame:
    """``participantid, interval_datetime, energy_mwh, net_microdollars``: each participant's
    amounts per interval, added in row order (:mod:`bidstack.sums`): in unit order for amounts
    as :func:`settle` sorts them, so the same bits every run."""
    return group_sums(
        amounts.select("participantid", "interval_datetime", "energy_mwh",
                       pl.col("amount_microdollars").alias("net_microdollars")),
        ["participantid", "interval_datetime"],
        ["energy_mwh", "net_microdollars"],
    )


def statements(
    amounts: pl.DataFrame | pl.LazyFrame, intervals: pl.DataFrame | None = None
) -> Statements:
    """Net position per participant and interval, per settlement date, and over the whole run.

    ``intervals``: :func:`interval_sums` of ``amounts``, where the caller has them (a backtest
    sums each month's amounts as it goes); else they are summed here, from ``amounts`` whole.
    Days and totals add intervals in time order, so every sum has the same bits in every run.
    """
    amounts = amounts.lazy()
    if intervals is None:
        columns = ["participantid", "interval_datetime", "duid", "energy_mwh",
                   "amount_microdollars"]  # fmt: skip
        rows = amounts.select(columns).sort("participantid", "duid", "interval_datetime")
        intervals = interval_sums(rows.collect(engine="streaming"))
    in_order = intervals.sort("participantid", "interval_datetime")
    daily = group_sums(
        in_order.with_columns(settlement_date(pl.col("interval_datetime")).alias("settlement_date")),
        ["participantid", "settlement_date"],
        ["energy_mwh", "net_microdollars"],
    ).with_columns(to_cents(pl.col("net_microdollars")).alias("net_cents"))
    by_day = daily.group_by("participantid").agg(
        pl.col("net_cents").sum(), pl.len().cast(pl.Int64).alias("days")
    )
    span = in_order.group_by("participantid").agg(
        pl.col("interval_datetime").min().alias("first_interval"),
        pl.col("interval_datetime").max().alias("last_interval"),
    )
    totals = (
        group_sums(in_order, ["participantid"], ["energy_mwh", "net_microdollars"])
        .join(span, on="participantid")
        .join(by_day, on="participantid")
        .with_columns(
            (pl.col("net_microdollars") - pl.col("net_cents") * MICRODOLLARS_PER_CENT).alias(
                "rounding_microdollars"
            )
        )
        .select("participantid", "energy_mwh", "net_microdollars", "net_cents",
                "rounding_microdollars", "days", "first_interval", "last_interval")
        .sort("participantid")
    )  # fmt: skip
    result = Statements(amounts, in_order, daily, totals)
    reconcile(result)
    return result


def reconcile(result: Statements) -> None:
    """Check the statements against the amounts: intervals, days and totals are exact sums of
    the micro-dollars; each day's cents are its sum rounded half away from zero; each total's
    cents are the sum of its days' and differ from its exact sum by at most half a cent a day."""
    exact = (
        result.amounts.group_by("participantid")
        .agg(pl.col("amount_microdollars").sum().alias("net_microdollars"))
        .collect(engine="streaming")
        .sort("participantid")
    )
    sums = {
        "intervals": result.intervals.group_by("participantid").agg(
            pl.col("net_microdollars").sum()
        ),
        "daily": result.daily.group_by("participantid").agg(pl.col("net_microdollars").sum()),
        "totals": result.totals.select("participantid", "net_microdollars"),
    }
    for name, by_participant in sums.items():
        if by_participant.sort("participantid").rows() != exact.rows():
            raise AssertionError(f"settlement {name} do not reconcile with the amounts")
    daily = result.daily
    if daily.filter(pl.col("net_cents") != to_cents(pl.col("net_microdollars"))).height:
        raise AssertionError("settlement daily cents are not their day's amounts rounded")
    days = daily.group_by("participantid").agg(pl.col("net_cents").sum(), pl.len().alias("n"))
    totals = result.totals.join(days, on="participantid", how="left", suffix="_days")
    residue = pl.col("rounding_microdollars").abs() * 2 > MICRODOLLARS_PER_CENT * pl.col("n")
    if totals.filter((pl.col("net_cents") != pl.col("net_cents_days")) | residue).height:
        raise AssertionError("settlement totals are not the sum of their days' cents")


def _file_name(participant: str | None) -> str:
    """A participant's id as part of a file name: characters other than letters, digits, ``_``
    and ``-`` (a ``/`` or ``..`` from a fleet file or the data) become ``_``, and an id so
    changed takes a digest of itself, so that two ids (``GEN.A``, ``GEN_A``) never share a
    file."""
    name = participant or "none"
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    if safe == name:
        return name
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
