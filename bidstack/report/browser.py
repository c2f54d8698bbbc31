"""The report in a real headless browser (Chromium through Playwright): what its scripts drew,
and a screenshot. Needs the ``browser`` extra (``pip install -e ".[browser]"``, also in ``dev``)
and a Chromium: Debian's ``chromium`` package, or the path in ``BIDSTACK_CHROMIUM``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bidstack.errors import InputError

#: Every named Bokeh plot of the page once its scripts have run: its size on screen and the
#: number of points of each of its glyphs.
DRAWN_PLOTS = """() => {
  const out = {};
  const visit = (view) => {
    const model = view.model;
    if (model && model.name && view.canvas_view) {
      const box = view.el.getBoundingClientRect();
      out[model.name] = {
        width: box.width, height: box.height,
        points: model.renderers.filter(r => r.data_source).map(r => r.data_source.get_length()),
      };
    }
    for (const child of (view.child_views || [])) visit(child);
  };
  for (const root of Bokeh.index.roots) visit(root);
  return out;
}"""


def chromium() -> str:
    """The Chromium executable: ``BIDSTACK_CHROMIUM``, else ``chromium`` on the PATH."""
    found = os.environ.get("BIDSTACK_CHROMIUM") or shutil.which("chromium")
    if not found:
        raise InputError(
            "no Chromium found: install Debian's chromium package or set BIDSTACK_CHROMIUM"
        )
    return found


@contextmanager
def opened(report: Path, width: int = 1280, height: int = 900) -> Iterator[tuple]:
    """``(page, errors)``: the report loaded in headless Chromium at ``width`` px, its charts
    drawn; ``errors`` collects script errors and console errors as they happen."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise InputError('the browser needs Playwright: pip install -e ".[browser]"') from exc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(Path(report).resolve().as_uri())
            page.wait_for_function(
                "window.Bokeh !== undefined && Bokeh.index.roots.length > 0", timeout=30_000
            )
            page.wait_for_timeout(300)  # the last layout pass after the charts are drawn
            yield page, errors
        finally:
            browser.close()


def screenshot(report: Path, png: Path, width: int = 1280) -> Path:
    """A full-page PNG of the report as Chromium draws it at ``width`` px."""
    with opened(report, width) as (page, errors):
        if errors:
            raise InputError(f"{report}: the page's scripts failed: {errors[0]}")
        page.screenshot(path=str(png), full_page=True)
    return png
