"""MNSPs held at the flow AEMO dispatched (bidstack.mnsp): where the flow comes from, which
intervals are reported, and how a pair of one-way links carries it."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from bidstack.errors import ConfigError
from bidstack.fleet import parse_fleet
from bidstack.mnsp import held_flows, hold

T0 = datetime(2022, 1, 1, 0, 5)
TIMES = [T0 + timedelta(minutes=5 * k) for k in range(3)]
CONSTRAINT = pl.DataFrame(
    {
        "interconnectorid": ["T-V-MNSP1", "V-SA", "VIC1-NSW1"],
        "ictype": ["MNSP", "REGULATED", "REGULATED"],
    }
)
ENDS = pl.DataFrame(
    {
        "interconnectorid": ["T-V-MNSP1", "V-SA", "VIC1-NSW1"],
        "regionfrom": ["TAS1", "VIC1", "VIC1"],
        "regionto": ["VIC1", "SA1", "NSW1"],
    }
)


def sums(net: dict[str, list[float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"regionid": region, "interval_datetime": t, "netinterchange": value}
            for region, values in net.items()
            for t, value in zip(TIMES, values, strict=True)
        ],
        schema={"regionid": pl.String, "interval_datetime": pl.Datetime("us"),
                "netinterchange": pl.Float64},
    )  # fmt: skip


def recorded(flows: list[float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"interconnectorid": "T-V-MNSP1", "interval_datetime": TIMES, "mwflow": flows},
        schema_overrides={"interval_datetime": pl.Datetime("us"), "mwflow": pl.Float64},
    )


def test_the_recorded_flow_wins_and_the_net_interchange_fills_its_gaps() -> None:
    held, problems = held_flows(
        CONSTRAINT, ENDS, recorded([400.0, None, -50.0]), sums({"TAS1": [390.0, 380.0, -45.0]})
    )
    assert held["mwflow"].to_list() == [400.0, 380.0, -50.0]
    assert problems.is_empty()


def test_a_region_at_the_receiving_end_gives_the_flow_with_its_sign_turned() -> None:
    ends = ENDS.with_columns(
        pl.when(pl.col("interconnectorid") == "T-V-MNSP1").then(pl.lit("VIC1"))
        .otherwise(pl.col("regionfrom")).alias("regionfrom"),
        pl.when(pl.col("interconnectorid") == "T-V-MNSP1").then(pl.lit("TAS1"))
        .otherwise(pl.col("regionto")).alias("regionto"),
    )  # fmt: skip
    held, _ = held_flows(CONSTRAINT, ends, pl.DataFrame(), sums({"TAS1": [100.0, -20.0, 0.0]}))
    assert held["mwflow"].to_list() == [-100.0, 20.0, 0.0]


def test_an_mnsp_between_two_linked_regions_has_no_net_interchange_to_read() -> None:
    """With Murraylink beside V-SA, SA1's net interchange is not one interconnector's flow."""
    murraylink = pl.DataFrame(
        {"interconnectorid": ["V-S-MNSP1"], "regionfrom": ["VIC1"], "regionto": ["SA1"]}
    )
    constraint = pl.concat(
        [CONSTRAINT, pl.DataFrame({"interconnectorid": ["V-S-MNSP1"], "ictype": ["MNSP"]})]
    )
    held, problems = held_flows(
        constraint,
        pl.concat([ENDS, murraylink]),
        pl.DataFrame(),
        sums({"VIC1": [1.0] * 3, "SA1": [-1.0] * 3, "TAS1": [2.0] * 3}),
    )
    assert set(held["interconnectorid"]) == {"T-V-MNSP1"}
    assert set(problems["duid"]) == {"V-S-MNSP1"}
    assert set(problems["kind"]) == {"mnsp_flow_unknown"}
    assert problems.height == 3  # every interval


def test_intervals_with_no_flow_anywhere_are_reported_one_by_one() -> None:
    held, problems = held_flows(CONSTRAINT, ENDS, pl.DataFrame(), sums({"TAS1": [5.0, None, 7.0]}))
    assert held["mwflow"].to_list() == [5.0, 7.0]
    assert problems["interval_datetime"].to_list() == [TIMES[1]]
    assert "regulated" in problems["detail"][0]


def test_no_mnsp_in_force_holds_nothing() -> None:
    held, problems = held_flows(
        CONSTRAINT.filter(pl.col("ictype") == "REGULATED"), ENDS, recorded([1.0] * 3), sums({})
    )
    assert held.is_empty() and problems.is_empty()


def limits() -> pl.DataFrame:
    """Basslink's two one-way links (BLNKTAS with the interconnector's direction) and a lone
    MNSP link, with a regulated link that must keep its limits."""
    rows = [
        ("BLNKTAS", "T-V-MNSP1", 1.0, True, True, 0.0, 478.0),
        ("BLNKVIC", "T-V-MNSP1", -1.0, True, True, 0.0, 478.0),
        ("LONE", "LONE-MNSP", 1.0, True, False, -200.0, 200.0),
        ("V-SA", "V-SA", 1.0, False, False, -500.0, 600.0),
    ]
    return pl.DataFrame(
        [
            dict(zip(("linkid", "interconnectorid", "sign", "mnsp", "paired", "lower_mw",
                      "upper_mw"), row, strict=True)) | {"interval_datetime": t}
            for row in rows
            for t in TIMES[:2]
        ]
    )  # fmt: skip


def test_a_pair_carries_the_flow_on_the_link_of_its_direction_and_a_lone_link_whole() -> None:
    held = pl.DataFrame(
        {
            "interconnectorid": ["T-V-MNSP1", "T-V-MNSP1", "LONE-MNSP", "LONE-MNSP", "V-SA"],
            "interval_datetime": [TIMES[0], TIMES[1], TIMES[0], TIMES[1], TIMES[0]],
            "mwflow": [426.0, -120.0, -80.0, 999.0, 100.0],
        }
    )
    out = hold(limits(), held).sort("linkid", "interval_datetime")
    got = {(r["linkid"], r["interval_datetime"]): (r["lower_mw"], r["upper_mw"])
           for r in out.iter_rows(named=True)}  # fmt: skip
    assert got[("BLNKTAS", TIMES[0])] == (426.0, 426.0)
    assert got[("BLNKVIC", TIMES[0])] == (0.0, 0.0)
    assert got[("BLNKTAS", TIMES[1])] == (0.0, 0.0)
    assert got[("BLNKVIC", TIMES[1])] == (120.0, 120.0)
    assert got[("LONE", TIMES[0])] == (-80.0, -80.0)
    assert got[("LONE", TIMES[1])] == (200.0, 200.0)  # beyond its limit: held at the limit
    assert got[("V-SA", TIMES[0])] == (-500.0, 600.0)  # regulated: never held


def test_the_fleet_file_chooses_the_mnsp_mode() -> None:
    default = parse_fleet({"market": {}}, source="f", units_required=False)
    assert default.market.mnsp == "historical"
    chosen = parse_fleet({"market": {"mnsp": "optimised"}}, source="f", units_required=False)
    assert chosen.market.mnsp == "optimised"
    with pytest.raises(ConfigError, match="mnsp"):
        parse_fleet({"market": {"mnsp": "offers"}}, source="f", units_required=False)
