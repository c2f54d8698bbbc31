"""The report's interactive charts (Bokeh): hover for values, drag to pan, wheel to zoom, click
a legend entry to hide or show its line. Each figure is named, so a test can find it in the page
and check it was drawn with its data."""

from __future__ import annotations

import itertools
from datetime import datetime, time

import numpy as np
import polars as pl
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, HoverTool, NumeralTickFormatter, Range1d, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from bidstack.report.data import HISTORY, ReportData

TOOLS = "pan,xwheel_zoom,box_zoom,reset,save"
WIDTH = 1100


def colours(names: list[str]) -> dict[str, str]:
    """One colour per series, the same in every chart; history in grey."""
    palette = itertools.cycle(Category10_10)
    return {name: "#666666" if name == HISTORY else next(palette) for name in names}


def fleet_daily(data: ReportData):
    """The fleet's margin and net position per settlement date, per scenario."""
    daily = data.daily
    if daily.is_empty() or "margin_cents" not in daily.columns:
        return None
    plot = _figure("fleet_daily", "Fleet per settlement date", "$", x_axis_type="datetime",
                   height=320)  # fmt: skip
    palette = colours(data.scenarios)
    for (scenario,), days in daily.partition_by("scenario", as_dict=True).items():
        source = ColumnDataSource(
            {
                "day": [_midday(d) for d in days["settlement_date"]],
                "margin": (days["margin_cents"] / 100).to_list(),
                "net": (days["net_cents"] / 100).to_list(),
            }
        )
        colour = palette.get(scenario, "black")
        plot.line("day", "margin", source=source, color=colour, line_width=2,
                  legend_label=f"{scenario}: margin")  # fmt: skip
        plot.scatter("day", "margin", source=source, color=colour, size=5,
                     legend_label=f"{scenario}: margin")  # fmt: skip
        plot.line("day", "net", source=source, color=colour, line_dash="dashed",
                  legend_label=f"{scenario}: net position")  # fmt: skip
    plot.yaxis.formatter = NumeralTickFormatter(format="$0,0")
    plot.add_tools(HoverTool(tooltips=[("day", "@day{%F}"), ("margin", "@margin{$0,0.00}"),
                                       ("net position", "@net{$0,0.00}")],
                             formatters={"@day": "datetime"}))  # fmt: skip
    return _finish(plot)


def prices(data: ReportData):
    """Per region, each scenario's price (and AEMO's) over time; linked time axes."""
    if data.prices.is_empty():
        return None
    palette = colours([*data.scenarios, HISTORY])
    plots, shared = [], None
    for (region,), rows in sorted(data.prices.partition_by("regionid", as_dict=True).items()):
        plot = _figure(f"prices_{region}", f"{region} price ({data.step})", "$/MWh",
                       x_axis_type="datetime", height=230, x_range=shared)  # fmt: skip
        shared = shared or plot.x_range
        for (series,), points in rows.partition_by("series", as_dict=True).items():
            source = ColumnDataSource({"time": _ms(points["time"]),
                                       "price": _floats(points["price"])})  # fmt: skip
            plot.line("time", "price", source=source, color=palette.get(series, "black"),
                      line_width=1.5, legend_label=series,
                      line_dash="dotted" if series == HISTORY else "solid")  # fmt: skip
        plot.yaxis.formatter = NumeralTickFormatter(format="0,0")
        plot.add_tools(HoverTool(tooltips=[("time", "@time{%F %H:%M}"),
                                           ("price", "@price{0,0.00}")],
                                 formatters={"@time": "datetime"}))  # fmt: skip
        plots.append(_finish(plot))
    return gridplot([[p] for p in plots], merge_tools=False, sizing_mode="stretch_width")


def durations(data: ReportData):
    """Per region, each scenario's price-duration curve (and AEMO's)."""
    if data.durations.is_empty():
        return None
    palette = colours([*data.scenarios, HISTORY])
    plots = []
    for (region,), rows in sorted(data.durations.partition_by("regionid", as_dict=True).items()):
        plot = _figure(f"duration_{region}", f"{region} price duration", "$/MWh", height=280,
                       width=360)  # fmt: skip
        for (series,), points in rows.partition_by("series", as_dict=True).items():
            source = ColumnDataSource({"share": _floats(points["share"] * 100),
                                       "price": _floats(points["price"])})  # fmt: skip
            plot.line("share", "price", source=source, color=palette.get(series, "black"),
                      line_width=1.5, legend_label=series,
                      line_dash="dotted" if series == HISTORY else "solid")  # fmt: skip
        plot.xaxis.axis_label = "% of intervals at or above"
        plot.yaxis.formatter = NumeralTickFormatter(format="0,0")
        plot.add_tools(HoverTool(tooltips=[("share", "@share{0.0}%"),
                                           ("price", "@price{0,0.00}")]))  # fmt: skip
        plots.append(_finish(plot, legend_size="8pt", outside=False))
    return gridplot(plots, ncols=3, merge_tools=False, sizing_mode="stretch_width")


def flows(data: ReportData):
    """The baseline's flow on each interconnector (positive from its from-region)."""
    if data.flows.is_empty():
        return None
    plot = _figure("flows", f"Baseline interconnector flows ({data.step})", "MW",
                   x_axis_type="datetime", height=300)  # fmt: skip
    palette = colours(sorted(set(data.flows["interconnectorid"])))
    for (name,), rows in data.flows.partition_by("interconnectorid", as_dict=True).items():
        source = ColumnDataSource({"time": _ms(rows["time"]),
                                   "flow": _floats(rows["flow_mw"])})  # fmt: skip
        plot.line("time", "flow", source=source, color=palette[name], line_width=1.5,
                  legend_label=name)  # fmt: skip
    plot.yaxis.formatter = NumeralTickFormatter(format="0,0")
    plot.add_tools(HoverTool(tooltips=[("time", "@time{%F %H:%M}"), ("flow", "@flow{0,0} MW")],
                             formatters={"@time": "datetime"}))  # fmt: skip
    return _finish(plot)


def bid_stack(data: ReportData):
    """Every offered band at the peak interval, cheapest first, per scenario (the baseline
    included); the fleet's bands drawn thick; demand dashed."""
    stack = data.stack
    if stack.is_empty():
        return None
    first = stack.row(0, named=True)
    title = f"Bid stack, {first['regionid']}, interval ending {first['interval_datetime']}"
    plot = _figure("bid_stack", title, "$/MWh (referred)", height=380)
    plot.xaxis.axis_label = "cumulative offered MW"
    palette = colours(data.scenarios)
    dashes = itertools.cycle(["solid", "dashed", "dotted", "dotdash"])
    clearing = []
    for (scenario,), bands in stack.partition_by("scenario", as_dict=True).items():
        ordered = bands.filter(pl.col("mw") > 0).sort("price", "duid")
        end = ordered["mw"].cum_sum()
        rows = ordered.with_columns(end.alias("end"), (end - pl.col("mw")).alias("start"))
        source = ColumnDataSource(rows.select("duid", "fleet", "price", "mw", "start", "end")
                                  .to_dict(as_series=False))  # fmt: skip
        colour = palette.get(scenario, "black")
        price = bands["clearing_price"][0]
        label = f"{scenario}: {price:,.2f} $/MWh" if price is not None else scenario
        plot.segment("start", "price", "end", "price", source=source, color=colour,
                     line_width=2.5, line_dash=next(dashes), alpha=0.85,
                     legend_label=label)  # fmt: skip
        own = ColumnDataSource(
            rows.filter(pl.col("fleet"))
            .select("duid", "price", "mw", "start", "end")
            .to_dict(as_series=False)
        )
        plot.segment("start", "price", "end", "price", source=own, color=colour, line_width=7,
                     alpha=0.6, legend_label=label)  # fmt: skip
        if price is not None:
            clearing.append(price)
    plot.add_layout(Span(location=first["demand"], dimension="height", line_dash="dashed",
                         line_color="#555555"))  # fmt: skip
    top = max([*clearing, 100.0]) * 2.5
    plot.y_range = Range1d(min(-100.0, -0.25 * top), top)
    plot.yaxis.formatter = NumeralTickFormatter(format="0,0")
    plot.add_tools(HoverTool(tooltips=[("unit", "@duid"), ("price", "@price{0,0.00}"),
                                       ("MW", "@mw{0,0.0}"), ("fleet", "@fleet")]))  # fmt: skip
    return _finish(plot)


def _figure(name: str, title: str, y_label: str, *, height: int, width: int = WIDTH, **extra):
    extra = {k: v for k, v in extra.items() if v is not None}
    plot = figure(name=name, title=title, width=width, height=height, tools=TOOLS,
                  active_scroll="xwheel_zoom", sizing_mode="stretch_width", **extra)  # fmt: skip
    plot.yaxis.axis_label = y_label
    return plot


def _finish(plot, legend_size: str = "9pt", outside: bool = True):
    """Legend entries toggle their lines; the legend sits right of the plot, off the data."""
    plot.legend.click_policy = "hide"
    plot.legend.label_text_font_size = legend_size
    plot.toolbar.logo = None
    if outside:
        plot.add_layout(plot.legend[0], "right")
    else:
        plot.legend.location = "top_right"
        plot.legend.background_fill_alpha = 0.6
    return plot


def _ms(times: pl.Series) -> np.ndarray:
    """Datetimes as Bokeh takes them: milliseconds since the epoch (sent as binary)."""
    return times.dt.epoch("us").cast(pl.Float64).to_numpy() / 1000.0


def _floats(values: pl.Series) -> np.ndarray:
    """Floats with NaN for nulls (a gap in a line), sent as binary."""
    return values.cast(pl.Float64).fill_null(np.nan).to_numpy()


def _midday(day) -> datetime:
    return datetime.combine(day, time(12))
