"""Grid evaluation: reserve margins and lack-of-reserve flags per region and interval."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bidstack.errors import InputError
from bidstack.stages import evaluation
from bidstack.stages.evaluation import ScenarioEvaluation, evaluate

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


def market(seed: int, units: list[str], intervals: int, regions: list[str]) -> pl.DataFrame:
    """Random offers of ``units`` over ``intervals`` five-minute intervals, each unit-interval in
    a random region, in random row order, with capacities of many magnitudes."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            **offer(duid, T1 + timedelta(minutes=5 * i), list(rng.random(3) * scale), None),
            "regionid": regions[rng.integers(len(regions))],
            "maxavail": None if rng.random() < 0.3 else float(rng.random() * 200),
        }
        for duid in units
        for i in range(intervals)
        for scale in [10 ** rng.uniform(-4, 4)]  # sums that depend on their order
    ]
    return pl.DataFrame(rows).sample(fraction=1.0, shuffle=True, seed=seed)


def demand_of(offers: pl.DataFrame) -> pl.DataFrame:
    keys = offers.select("regionid", "interval_datetime").unique().sort(pl.all())
    return keys.with_columns(demand=pl.lit(150.0)).vstack(
        pl.DataFrame(
            {"regionid": ["TAS1"], "interval_datetime": [T1], "demand": [5.0]}
        )  # a region nobody offers in
    )


def spied(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the scenarios evaluated whole (the fallback calls :func:`evaluate`)."""
    calls: list[int] = []
    whole = evaluation.evaluate

    def counted(offers: pl.DataFrame, demand: pl.DataFrame) -> pl.DataFrame:
        calls.append(offers.height)
        return whole(offers, demand)

    monkeypatch.setattr(evaluation, "evaluate", counted)
    return calls


def assert_same_bits(left: pl.DataFrame, right: pl.DataFrame) -> None:
    assert_frame_equal(left, right, check_exact=True)
    for name in ("offered_mw", "reserve_mw", "largest_unit_mw", "two_largest_mw"):
        assert left[name].to_numpy().tobytes() == right[name].to_numpy().tobytes(), name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scenarios_sharing_offers_evaluate_as_their_whole_offers(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    regions = ["NSW1", "SA1"]
    shared = market(seed, ["B1", "D1", "D1", "F1", "DEMAND:X", "H1"], 48, regions)  # D1 twice
    demand = demand_of(shared)
    evaluator = ScenarioEvaluation(shared, demand)
    calls = spied(monkeypatch)
    owns = [
        market(seed + 10, ["A1", "C1", "C2", "G1", "Z1"], 48, regions),  # between and around
        market(seed + 20, ["D1", "C1", "C1"], 48, regions),  # a shared duid, and one twice
        market(seed + 30, ["E1"], 48, regions).head(5),  # part of the month
        market(seed + 40, ["E1"], 48, regions).clear(),  # nothing of its own
    ]
    for own in owns:
        whole = evaluation.evaluate(pl.concat([shared, own], how="diagonal_relaxed"), demand)
        assert_same_bits(evaluator.evaluate(own), whole)
    assert len(calls) == len(owns)  # only the reference's own calls: no scenario fell back


def test_offers_the_shared_cannot_take_are_evaluated_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = market(4, ["B1", "D1"], 6, ["SA1"])
    demand = demand_of(shared).vstack(
        pl.DataFrame({"regionid": ["VIC1"], "interval_datetime": [T2], "demand": [1.0]})
    )
    evaluator = ScenarioEvaluation(shared, demand)
    elsewhere = market(5, ["C1"], 6, ["VIC1"])  # a region the shared offers are not in
    later = market(6, ["C1"], 6, ["SA1"]).with_columns(
        pl.col("interval_datetime") + timedelta(hours=1)
    )  # intervals the shared offers are not in
    narrower = market(7, ["C1"], 6, ["SA1"]).with_columns(pl.col("maxavail").cast(pl.Float32))
    endless = market(8, ["C1"], 6, ["SA1"]).with_columns(maxavail=pl.lit(float("-inf")))
    calls = spied(monkeypatch)
    for own in (elsewhere, later, narrower, endless):
        assert_same_bits(
            evaluator.evaluate(own),
            evaluation.evaluate(pl.concat([shared, own], how="diagonal_relaxed"), demand),
        )
    assert len(calls) == 2 * 4  # each fell back to evaluate, as did the reference
