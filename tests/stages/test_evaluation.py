"""Grid evaluation: reserve margins and lack-of-reserve flags per region and interval."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from bidstack.errors import InputError
from bidstack.stages.evaluation import evaluate

T1, T2 = datetime(2024, 1, 1, 4, 5), datetime(2024, 1, 1, 4, 10)


def offer(duid: str, t: datetime, volumes: list[float], maxavail: float | None) -> dict:
    bands = dict.fromkeys([f"bandavail{k}" for k in range(1, 11)], 0.0)
    bands.update({f"bandavail{k + 1}": v for k, v in enumerate(volumes)})
    return {"regionid": "SA1", "duid": duid, "interval_datetime": t, **bands, "maxavail": maxavail}


def test_margin_and_flags() -> None:
    offers = pl.DataFrame(
        [
            offer("A", T1, [100.0, 100.0], 150.0),  # capped at 150
            offer("B", T1, [80.0], None),
            offer("C", T1, [50.0], 60.0),
            offer("A", T2, [100.0], 100.0),
        ]
    )
    demand = pl.DataFrame(
        {
            "regionid": ["SA1", "SA1", "VIC1"],
            "interval_datetime": [T1, T2, T1],
            "demand": [200.0, 150.0, 10.0],
        }
    )
    table = evaluate(offers, demand)
    sa1 = table.filter(pl.col("regionid") == "SA1").rows(named=True)
    assert sa1[0]["offered_mw"] == 280.0 and sa1[0]["reserve_mw"] == 80.0
    assert (sa1[0]["lor3"], sa1[0]["lor2"], sa1[0]["lor1"]) == (False, True, True)
    assert sa1[1]["reserve_mw"] == -50.0 and sa1[1]["lor3"]
    vic = table.filter(pl.col("regionid") == "VIC1").row(0, named=True)
    assert vic["offered_mw"] == 0.0 and vic["units_offering"] == 0 and vic["lor3"]


def test_missing_columns() -> None:
    with pytest.raises(InputError, match="demand is missing column"):
        evaluate(pl.DataFrame([offer("A", T1, [1.0], None)]), pl.DataFrame({"regionid": ["SA1"]}))


def test_a_volume_that_is_not_a_number_counts_as_nothing() -> None:
    offers = pl.DataFrame(
        [offer("A", T1, [100.0, float("nan")], None), offer("B", T1, [float("inf")], None)]
    )
    demand = pl.DataFrame({"regionid": ["SA1"], "interval_datetime": [T1], "demand": [300.0]})
    row = evaluate(offers, demand).row(0, named=True)
    assert row["offered_mw"] == 100.0 and row["reserve_mw"] == -200.0 and row["lor3"]
