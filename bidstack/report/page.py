"""The report's HTML: key figures, tables that scroll inside their own box with headers that stay
visible, and the chart placeholders Bokeh fills."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import polars as pl

from bidstack.stages.statements import format_cents

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 76em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2em; }
.figures { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 10em; }
.figure .value { font-size: 1.35em; font-weight: 600; } .figure .label { color: #555; }
.scroll { overflow: auto; max-width: 100%; width: fit-content; max-height: 30em;
          border: 1px solid #eee; }
table { border-collapse: collapse; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; position: sticky; top: 0; z-index: 1; }
.note { color: #555; font-size: 0.9em; } .warn { color: #8a4b00; }
pre { background: #f7f7f7; padding: 0.8em; overflow: auto; max-width: 100%; }
details { margin: 0.4em 0; } summary { cursor: pointer; }
"""

Column = tuple[str, str, Callable[[object], str]]


#: What a table or figure shows where it has no value (a run whose fleet never offered).
MISSING = "–"


def money(value: object) -> str:
    return MISSING if value is None else format_cents(int(value))  # type: ignore[arg-type]


def signed_money(value: object) -> str:
    if value is None:
        return MISSING
    text = format_cents(int(value))  # type: ignore[arg-type]
    return text if text.startswith("-") else "+" + text


def number(fmt: str) -> Callable[[object], str]:
    return lambda value: fmt.format(value)


def text(value: object) -> str:
    return str(value)


def table(frame: pl.DataFrame, columns: Sequence[Column], *, name: str) -> str:
    """``frame`` as a table of the ``columns`` it has, in a box that scrolls."""
    present = [c for c in columns if c[0] in frame.columns]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in present)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row[key], fmt)}</td>" for key, _, fmt in present) + "</tr>"
        for row in frame.iter_rows(named=True)
    )
    return (
        f'<div class=scroll><table data-name="{name}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def key_figures(items: Sequence[tuple[str, str, str]]) -> str:
    """``(label, value, name)`` cards."""
    cards = "".join(
        f'<div class=figure data-name="{name}"><div class=label>{html.escape(label)}</div>'
        f"<div class=value>{html.escape(value)}</div></div>"
        for label, value, name in items
    )
    return f"<div class=figures>{cards}</div>"


def chart(div: str | None, missing: str) -> str:
    return div if div is not None else f"<p class=note>{html.escape(missing)}</p>"


def page(title: str, head_js: str, charts_script: str, body: Sequence[str]) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>{head_js}</head>"
        f"<body>{''.join(body)}{charts_script}</body></html>"
    )


def _cell(value: object, fmt: Callable[[object], str]) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return html.escape(fmt(value))
