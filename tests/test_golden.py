"""The redesign changes no result: the golden backtest's figures, as recorded before it."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from golden import figures, recorded, run


@pytest.fixture(scope="module")
def golden_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("golden"))


def test_fixture_is_complete() -> None:
    assert sorted(recorded()) == [
        "dispatch_regions", "statements_daily", "statements_intervals", "statements_totals",
        "summary",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["summary", "statements_daily", "statements_totals", "statements_intervals",
     "dispatch_regions"],
)  # fmt: skip
def test_figures_are_unchanged(golden_out: Path, name: str) -> None:
    # integers (cents, micro-dollars, counts) exactly; energy and prices to 1e-12 relative, the
    # last bits of a float sum in a different order. Columns added since the recording (the
    # summary's fleet cost and margin, issue 13) are not in it.
    expected = recorded()[name]
    found = figures(golden_out)[name].select(expected.columns)
    assert_frame_equal(found, expected, rel_tol=1e-12, abs_tol=1e-9)
