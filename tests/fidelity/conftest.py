"""Dataset A (``../shared/data/mms/fullmarket/``): every unit of the NEM, 2022-01-01 00:05-04:00.

Ingested with what the market model needs beside it: the registration derived from AEMO's
workbook (loss factors 1.0: the workbook has none), the interconnector tables of nempy's
2024-07-10 snapshot as the last-known loss model (the archives hold no 2021-22 coefficients for
most links; ``[market] network_as_of`` reads them for every interval), the market price thresholds
of the 2021-05 archive, and VIC1-NSW1's dispatch results of 2022-01 (NEMDE's per-interval limits).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

WINDOW = ("2022-01-01 00:00", "2022-01-01 04:00")
NETWORK_AS_OF = date(2024, 7, 10)


@pytest.fixture(scope="session")
def dataset_a(tmp_path_factory: pytest.TempPathFactory, mms_dir: Path) -> Path:
    from bidstack.io import ingest

    store = tmp_path_factory.mktemp("dataset_a") / "store"
    files = [
        mms_dir / "fullmarket" / "nem-bidding-dashboard",
        mms_dir / "nempy" / "market_management_system.db",
        mms_dir / "nemosis/MMSDM_2021_05/PUBLIC_DVD_MARKET_PRICE_THRESHOLDS_202105010000.zip",
        mms_dir / "nemosis/MMSDM_2022_01/PUBLIC_DVD_DISPATCHINTERCONNECTORRES_202201010000.zip",
    ]
    outcomes = ingest(files, store, progress=False)
    assert {o.status for o in outcomes} <= {"ingested", "not-mms"}
    return store


@pytest.fixture(scope="session")
def baseline(dataset_a: Path, tmp_path_factory: pytest.TempPathFactory):
    """The baseline of dataset A as shipped: NEMDE's behaviour by default, interconnectors
    optimised on the snapshot's loss model."""
    from bidstack.backtest import backtest
    from bidstack.fleet import parse_fleet

    fleet = parse_fleet(
        {"market": {"network_as_of": NETWORK_AS_OF}}, source="dataset A", units_required=False
    )
    out = tmp_path_factory.mktemp("dataset_a_run") / "out"
    return backtest(dataset_a, fleet, [], *WINDOW, out, progress=False)
