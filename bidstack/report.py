"""The backtest report: one self-contained HTML page (tables, and plots as inline SVG)."""

from __future__ import annotations

import html
import io
from datetime import timedelta
from pathlib import Path

import polars as pl

from bidstack.backtest import BacktestResult
from bidstack.outputs import record
from bidstack.stages.bidding import BASELINE
from bidstack.stages.settlement import format_cents

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; } .note { color: #666; font-size: 0.9em; } svg { max-width: 100%; }
"""

COLUMNS = [
    ("scenario", "scenario", str),
    ("fleet_energy_mwh", "fleet energy (MWh)", "{:,.1f}"),
    ("fleet_net_cents", "fleet net position", format_cents),
    ("net_change_cents", "change vs baseline", format_cents),
    ("mean_price", "mean price ($/MWh)", "{:,.2f}"),
    ("price_impact", "price impact ($/MWh)", "{:+,.2f}"),
    ("max_price", "max price ($/MWh)", "{:,.2f}"),
    ("unserved_mwh", "unserved (MWh)", "{:,.1f}"),
    ("lor2_intervals", "LOR2 intervals", "{:,}"),
    ("lor3_intervals", "LOR3 intervals", "{:,}"),
    ("allocated", "allocated", "{:,}"),
    ("not_applicable", "not applicable", "{:,}"),
    ("no_band", "no band", "{:,}"),
    ("invalid_input", "invalid input", "{:,}"),
    ("within_limits_rate", "within limits", "{:.1%}"),
]


def write_report(result: BacktestResult, *, title: str = "bidstack backtest") -> Path:
    """Write ``report.html`` into the backtest's output folder and return its path."""
    out = result.out
    summary = result.summary
    if "fleet_net_cents" in summary.columns:
        base = summary.filter(pl.col("scenario") == BASELINE).get_column("fleet_net_cents")
        summary = summary.with_columns(
            (pl.col("fleet_net_cents") - (base[0] if base.len() else 0)).alias("net_change_cents")
        )
    totals = {s: st.totals for s, st in result.statements.items()}
    window = _window(totals)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{window}; scenarios: {', '.join(map(html.escape, result.scenarios))}; "
        f"run in {result.seconds:,.1f} s. Files: <code>{html.escape(str(out))}</code>.</p>",
        "<h2>Scenarios</h2>",
        _table(summary, COLUMNS),
        "<p class=note>Fleet figures are the re-bid units' own. Mean price is demand-weighted "
        "over every region and interval; price impact is the change from the baseline. The "
        "baseline is metered from SCADA/NEM12 where the store has it, every variant from its "
        "dispatch; all scenarios settle at their own dispatch prices (30-minute trading prices "
        "before 1 October 2021), administered when their seven-day sum passes the cumulative "
        "price threshold.</p>",
        "<h2>Fleet net position per settlement date</h2>",
        _daily_plot(result.fleet_daily),
    ]
    parts += [
        "<h2>Baseline prices and interconnector flows</h2>",
        _network_plot(out / BASELINE),
        "<p class=note>Regional prices (top; symlog when the cap or floor is in view) beside "
        "the flow on each interconnector (bottom, positive from its from-region to its "
        "to-region, links of one interconnector added); interval values over a window of up "
        "to three days, else daily means. Where a region's price is another's times a link's "
        "marginal loss, the price came over that link: "
        "<code>dispatch_regions.price_source</code> says which.</p>",
    ]
    stack_file = out / "bid_stack.parquet"
    if stack_file.exists():
        stack = pl.read_parquet(stack_file)
        parts += [
            "<h2>Bid stack at the peak interval</h2>",
            _stack_plot(stack),
            "<p class=note>Every offered band in the fleet's largest region at its interval of "
            "highest demand, cheapest first, prices referred to the regional reference node; "
            "the fleet's bands are drawn darker. Dashed: demand.</p>",
        ]
    parts += ["<h2>Net position per participant</h2>", _participants(totals)]
    parts += ["<h2>Problems reported</h2>", _problems(result.problems)]
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    record(out, path)
    return path


def _window(totals: dict[str, pl.DataFrame]) -> str:
    frames = [t for t in totals.values() if t.height]
    if not frames:
        return "no intervals settled"
    every = pl.concat(frames)
    first, last = every.get_column("first_interval").min(), every.get_column("last_interval").max()
    return f"intervals ending {first} to {last} (market time)"


def _cell(value: object, format_: object) -> str:
    if value is None:
        return "–"
    if callable(format_):
        return html.escape(str(format_(value)))
    return html.escape(format_.format(value))


def _table(frame: pl.DataFrame, columns: list) -> str:
    present = [(key, label, fmt) for key, label, fmt in columns if key in frame.columns]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, fmt in present)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(row[key], fmt)}</td>" for key, _, fmt in present) + "</tr>"
        for row in frame.iter_rows(named=True)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _pyplot():
    """Matplotlib's pyplot on its file-only backend (imported here: it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, and searchable
    import matplotlib.pyplot as plt

    return plt


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _daily_plot(daily: pl.DataFrame) -> str:
    if daily.is_empty():
        return "<p>No fleet energy was settled.</p>"
    from matplotlib.ticker import StrMethodFormatter

    figure, axes = _pyplot().subplots(figsize=(10, 3.6))
    for (scenario,), days in daily.partition_by("scenario", as_dict=True).items():
        axes.plot(
            days.get_column("settlement_date").to_list(),
            (days.get_column("net_cents") / 100).to_list(),
            marker=".",
            label=scenario,
        )
    axes.set_ylabel("net position ($)")
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.autofmt_xdate()
    return _svg(figure)


def _network_plot(scenario_dir: Path) -> str:
    """Regional prices over regional flows, sharing the time axis (daily means beyond 3 days)."""
    if not (scenario_dir / "dispatch_regions").exists():
        return "<p>No dispatch was written.</p>"
    regions = _scan(scenario_dir / "dispatch_regions")
    regions = regions.select("regionid", "interval_datetime", "price")
    links = _scan(scenario_dir / "dispatch_links").select(
        "interconnectorid", "interval_datetime", "flow_mw"
    )
    links = links.group_by("interconnectorid", "interval_datetime").agg(pl.col("flow_mw").sum())
    span = regions.select(pl.col("interval_datetime").max() - pl.col("interval_datetime").min())
    if (span.collect().item() or timedelta(0)) > timedelta(days=3):
        day = pl.col("interval_datetime").dt.date()
        regions = regions.group_by("regionid", day).agg(pl.col("price").mean())
        links = links.group_by("interconnectorid", day).agg(pl.col("flow_mw").mean())
    figure, (top, bottom) = _pyplot().subplots(2, 1, sharex=True, figsize=(10, 6))
    for axes, frame, key, value in [
        (top, regions.collect(), "regionid", "price"),
        (bottom, links.collect(), "interconnectorid", "flow_mw"),
    ]:
        for (name,), rows in sorted(frame.partition_by(key, as_dict=True).items()):
            rows = rows.sort("interval_datetime")
            axes.plot(rows["interval_datetime"].to_list(), rows[value].to_list(), label=name)
        axes.grid(alpha=0.3)
        if frame.height:
            axes.legend(fontsize=8, ncols=3)
    from matplotlib.ticker import StrMethodFormatter

    low, high = top.get_ylim()
    if high > 1000 or low < -100:  # the cap or the floor in view: keep the rest readable
        top.set_yscale("symlog", linthresh=100)
    top.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    top.set_ylabel("price ($/MWh)")
    bottom.set_ylabel("flow (MW)")
    figure.autofmt_xdate()
    return _svg(figure)


def _scan(table: Path) -> pl.LazyFrame:
    """A written table (hive partitions by month), or an empty one when it was not written."""
    if not table.exists():
        return pl.LazyFrame(
            schema={
                "regionid": pl.String,
                "interconnectorid": pl.String,
                "interval_datetime": pl.Datetime("us"),
                "price": pl.Float64,
                "flow_mw": pl.Float64,
            }
        )
    return pl.scan_parquet(table / "**" / "*.parquet", hive_partitioning=True)


def _stack_plot(stack: pl.DataFrame) -> str:
    figure, axes = _pyplot().subplots(figsize=(10, 4.2))
    first = stack.row(0, named=True)
    for (scenario,), bands in stack.partition_by("scenario", as_dict=True).items():
        ordered = bands.filter(pl.col("mw") > 0).sort("price")
        edges = ordered.get_column("mw").cum_sum().to_list()
        prices = ordered.get_column("price").to_list()
        line = axes.step(
            [0.0, *edges],
            [prices[0], *prices] if prices else [0.0],
            where="pre",
            label=f"{scenario}: {_cell(bands.get_column('clearing_price')[0], '{:,.2f}')} $/MWh",
        )
        fleet = ordered.get_column("fleet").to_list()
        starts = [0.0, *edges[:-1]]
        for start, end, price, own in zip(starts, edges, prices, fleet, strict=True):
            if own:
                axes.plot([start, end], [price, price], color=line[0].get_color(), linewidth=4)
    axes.axvline(first["demand"], linestyle="--", color="#555")
    axes.set_yscale("symlog", linthresh=100)
    axes.set_xlabel("cumulative offered MW")
    axes.set_ylabel("price ($/MWh, symlog)")
    axes.set_title(f"{first['regionid']}, interval ending {first['interval_datetime']}")
    axes.grid(alpha=0.3)
    axes.legend(title="scenario: clearing price")
    return _svg(figure)


def _participants(totals: dict[str, pl.DataFrame]) -> str:
    frames = [
        t.select("participantid", "net_cents").with_columns(scenario=pl.lit(s))
        for s, t in totals.items()
    ]
    if not frames:
        return "<p>Nothing settled.</p>"
    wide = pl.concat(frames).pivot("scenario", index="participantid", values="net_cents")
    columns = [("participantid", "participant", str)] + [(s, s, format_cents) for s in totals]
    return _table(wide.sort("participantid"), columns)


def _problems(counts: pl.DataFrame) -> str:
    if counts.is_empty():
        return "<p>None: every input row was used.</p>"
    return _table(
        counts, [("scenario", "scenario", str), ("kind", "kind", str), ("rows", "rows", "{:,}")]
    ) + (
        "<p class=note>Every row is in <code>problems/</code> with its unit, interval and "
        "detail.</p>"
    )
