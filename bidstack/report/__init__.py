"""The backtest report: one self-contained HTML page that opens offline.

Key figures first (the best variant's margin change, its price impact and within-limits rate,
and what shaped the baseline: problems, late bids, days without data), then the scenarios ranked
by the fleet's margin, the fleet per settlement date and per unit, prices against AEMO's with
price-duration curves, the baseline against history, interconnector flows, the bid stack at the
peak interval, the rule variants, participants and problems. Charts are Bokeh (its script
embedded once); every number is read from the written outputs (:mod:`bidstack.report.data`).
"""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl
from bokeh.embed import components
from bokeh.resources import Resources

from bidstack.outputs import LISTING, record
from bidstack.report import charts
from bidstack.report.data import ReportData, load
from bidstack.report.page import (
    chart,
    key_figures,
    money,
    number,
    page,
    signed_money,
    table,
    text,
)
from bidstack.stages.bidding import BASELINE

__all__ = ["write_report"]

SCENARIO_COLUMNS = [
    ("scenario", "scenario", text),
    ("fleet_margin_cents", "fleet margin", money),
    ("margin_change_cents", "margin change", signed_money),
    ("fleet_net_cents", "net position", money),
    ("fleet_cost_cents", "running cost", money),
    ("fleet_energy_mwh", "fleet energy (MWh)", number("{:,.1f}")),
    ("mean_price", "mean price ($/MWh)", number("{:,.2f}")),
    ("price_impact", "price impact ($/MWh)", number("{:+,.2f}")),
    ("max_price", "max price ($/MWh)", number("{:,.2f}")),
    ("unserved_mwh", "unserved (MWh)", number("{:,.1f}")),
    ("lor2_intervals", "LOR2 intervals", number("{:,}")),
    ("lor3_intervals", "LOR3 intervals", number("{:,}")),
    ("within_limits_rate", "within limits", number("{:.1%}")),
    ("allocated", "allocated", number("{:,}")),
    ("not_applicable", "not applicable", number("{:,}")),
    ("no_band", "no band", number("{:,}")),
    ("invalid_input", "invalid input", number("{:,}")),
]
UNIT_COLUMNS = [
    ("duid", "unit", text),
    ("scenario", "scenario", text),
    ("regionid", "region", text),
    ("energy_mwh", "energy (MWh)", number("{:,.1f}")),
    ("capacity_factor", "capacity factor", number("{:.1%}")),
    ("starts", "starts", number("{:,}")),
    ("revenue_cents", "net position", money),
    ("cost_cents", "running cost", money),
    ("margin_cents", "margin", money),
    ("margin_change_cents", "margin change", signed_money),
    ("within_limits_rate", "within limits", number("{:.1%}")),
    ("allocated", "allocated", number("{:,}")),
    ("not_applicable", "not applicable", number("{:,}")),
    ("no_band", "no band", number("{:,}")),
    ("invalid_input", "invalid input", number("{:,}")),
]
CALIBRATION_COLUMNS = [
    ("scope", "scope", text),
    ("compared", "compared", number("{:,}")),
    ("within_1", "within $1 (units: 1 MW)", number("{:,}")),
    ("within_5pct", "within 5%", number("{:,}")),
    ("mae", "mean absolute error", number("{:,.2f}")),
]


def write_report(result, *, title: str = "bidstack backtest") -> Path:
    """Write ``report.html`` into a backtest's output folder and return its path. ``result``:
    a :class:`~bidstack.backtest.BacktestResult` or the output folder."""
    out = Path(getattr(result, "out", result))
    data = load(out)
    models = {
        name: model
        for name, model in {
            "fleet_daily": charts.fleet_daily(data),
            "prices": charts.prices(data),
            "durations": charts.durations(data),
            "flows": charts.flows(data),
            "bid_stack": charts.bid_stack(data),
        }.items()
        if model is not None
    }
    script, divs = components(models) if models else ("", {})
    body = [
        f"<h1>{html.escape(title)}</h1>",
        _window(data),
        key_figures(_figures(data)),
        _gaps(data),
        "<h2 id=scenarios>Scenarios, by the fleet's margin</h2>",
        table(_ranked(data.summary), SCENARIO_COLUMNS, name="scenarios"),
        "<p class=note>The fleet's figures are the re-bid units' own: net position is what they "
        "were settled (energy × price × loss factor), running cost is energy × SRMC plus start "
        "costs, margin is the difference. Mean price is demand-weighted over every region and "
        "interval; price impact is its change from the baseline.</p>",
        "<h2 id=fleet>The fleet per settlement date</h2>",
        chart(divs.get("fleet_daily"), "No fleet energy was settled."),
        "<h2 id=units>The fleet per unit</h2>",
        table(_units(data.units), UNIT_COLUMNS, name="units"),
        "<h2 id=prices>Prices</h2>",
        chart(divs.get("prices"), "No prices were dispatched."),
        chart(divs.get("durations"), ""),
        "<h2 id=calibration>The baseline against history</h2>",
        table(data.calibration, CALIBRATION_COLUMNS, name="calibration")
        if not data.calibration.is_empty()
        else "<p class=note>The store holds no AEMO prices for the window.</p>",
        "<p class=note>Per region, region-intervals whose baseline price is within $1 and 5% of "
        "DISPATCHPRICE.RRP; <code>units</code>: unit-intervals within 1 MW of "
        "DISPATCHLOAD.TOTALCLEARED.</p>",
        "<h2 id=flows>Interconnector flows</h2>",
        chart(divs.get("flows"), "No interconnector was dispatched (islands)."),
        "<h2 id=stack>Bid stack at the peak interval</h2>",
        chart(divs.get("bid_stack"), "No bid stack was recorded."),
        "<p class=note>Every offered band in the fleet's largest region at its interval of "
        "highest demand, cheapest first, prices referred to the regional reference node; the "
        "fleet's bands drawn thick; dashed: demand. Bands priced far below zero or far above "
        "the clearing prices are outside the first view: zoom out to see them.</p>",
        "<h2 id=variants>Rule variants</h2>",
        _variants(data.variants),
        "<h2 id=participants>Net position per participant</h2>",
        table(data.participants, _participant_columns(data), name="participants"),
        "<h2 id=problems>Problems reported</h2>",
        _problems(data.problems),
    ]
    js = Resources(mode="inline", components=["bokeh"]).render_js()
    path = out / "report.html"
    path.write_text(page(title, js, script, body), encoding="utf-8")
    if (out / LISTING).exists():  # listed among bidstack's files, so a rerun may replace it
        record(out, path)
    return path


def _window(data: ReportData) -> str:
    run = data.run
    seconds = run.get("seconds")
    took = f", run in {seconds:,.1f} s" if seconds is not None else ""
    return (
        f"<p>Intervals ending after {html.escape(str(run.get('start')))} up to "
        f"{html.escape(str(run.get('end')))} (market time); scenarios: "
        f"{html.escape(', '.join(data.scenarios))}{took}. Files: "
        f"<code>{html.escape(str(data.out))}</code>.</p>"
    )


def _figures(data: ReportData) -> list[tuple[str, str, str]]:
    summary = data.summary
    base = summary.filter(pl.col("scenario") == BASELINE)
    items = []
    if (
        "fleet_margin_cents" in summary.columns
        and base.height
        and base["fleet_margin_cents"][0] is not None
    ):
        items.append(("fleet margin, baseline", money(base["fleet_margin_cents"][0]),
                      "baseline_margin"))  # fmt: skip
    variants = _ranked(summary).filter(pl.col("scenario") != BASELINE)
    if variants.height and "margin_change_cents" in variants.columns:
        best = variants.row(0, named=True)
        items += [
            (f"margin change, {best['scenario']}", signed_money(best["margin_change_cents"]),
             "margin_change"),
            (f"price impact, {best['scenario']}", "–" if best["price_impact"] is None
             else f"{best['price_impact']:+,.2f} $/MWh", "price_impact"),
        ]  # fmt: skip
        rate = best.get("within_limits_rate")
        items.append((f"within limits, {best['scenario']}",
                      "–" if rate is None else f"{rate:.1%}", "within_limits"))  # fmt: skip
    every = data.calibration.filter(pl.col("scope") == "all") if data.calibration.height else None
    if every is not None and every.height and every["compared"][0]:
        share = every["within_5pct"][0] / every["compared"][0]
        items.append(("baseline prices within 5% of AEMO's", f"{share:.1%}", "calibration"))
    return items


def _gaps(data: ReportData) -> str:
    """What shaped the baseline: problems by kind, late bids, days without data."""
    counts = data.problems.group_by("kind").agg(pl.col("rows").sum()).sort("rows", descending=True)
    total = int(counts["rows"].sum()) if counts.height else 0
    late = counts.filter(pl.col("kind") == "late_bid")["rows"].sum() if counts.height else 0
    parts = [f'<a href="#problems">{total:,} problem rows</a> of {counts.height} kinds']
    if counts.height:
        top = ", ".join(f"{k} {n:,}" for k, n in counts.head(4).iter_rows())
        parts[0] += f" ({top})"
    parts.append(f"{late:,} late bids")
    days = data.missing_days
    if days:
        parts.append(f"<span class=warn>{len(days)} days without data ({days[0]} to "
                     f"{days[-1]}): gaps in every chart</span>")  # fmt: skip
    else:
        parts.append("no day without data")
    return f"<p data-name=gaps>{'; '.join(parts)}.</p>"


def _ranked(summary: pl.DataFrame) -> pl.DataFrame:
    """The baseline first, then the variants by the fleet's margin, highest first."""
    if "fleet_margin_cents" not in summary.columns:
        return summary
    base = summary.filter(pl.col("scenario") == BASELINE)
    rest = summary.filter(pl.col("scenario") != BASELINE).sort(
        "fleet_margin_cents", "scenario", descending=[True, False], nulls_last=True
    )
    return pl.concat([base, rest])


def _units(units: pl.DataFrame) -> pl.DataFrame:
    return units.sort("duid", "scenario") if not units.is_empty() else units


def _variants(variants: dict[str, str]) -> str:
    if not variants:
        return "<p class=note>The baseline alone: no variant was run.</p>"
    blocks = []
    for tables in variants.values():
        first = tables.splitlines()[0].lstrip("# ")
        blocks.append(f"<details><summary>{html.escape(first)}</summary>"
                      f"<pre>{html.escape(tables)}</pre></details>")  # fmt: skip
    return "".join(blocks) + (
        "<p class=note>As <code>bidstack rules show</code> prints them; the rule files are in "
        "<code>variants/</code>.</p>"
    )


def _participant_columns(data: ReportData):
    return [("participantid", "participant", text)] + [
        (s, s, money) for s in data.scenarios if s in data.participants.columns
    ]


def _problems(counts: pl.DataFrame) -> str:
    if counts.is_empty():
        return "<p>None: every input row was used.</p>"
    columns = [("scenario", "scenario", text), ("kind", "kind", text),
               ("rows", "rows", number("{:,}"))]  # fmt: skip
    return table(counts, columns, name="problems") + (
        "<p class=note>Every row is in <code>problems/</code> with its unit, interval and "
        "detail.</p>"
    )
