"""Small hand-made MMS-shaped frames for the pipeline stages' tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

DAY = date(2024, 3, 1)
MIDNIGHT = datetime(2024, 3, 1)
FIRST = datetime(2024, 3, 1, 4, 5)
PRICES = [-1000.0, -50.0, 0.0, 30.0, 60.0, 90.0, 150.0, 300.0, 1000.0, 15000.0]


def times(n: int) -> list[datetime]:
    return [FIRST + timedelta(minutes=5 * k) for k in range(n)]


def day_bid(duid: str, *, direction: str | None = "GEN", offerdate: datetime | None = None) -> dict:
    return {
        "settlementdate": MIDNIGHT,
        "duid": duid,
        "bidtype": "ENERGY",
        "direction": direction,
        "participantid": "P_" + duid,
        "versionno": 1,
        "offerdate": offerdate or MIDNIGHT - timedelta(hours=12),
        **{f"priceband{k + 1}": p for k, p in enumerate(PRICES)},
    }


def volume_bids(
    duid: str,
    n: int,
    *,
    mw: float = 100.0,
    direction: str | None = "GEN",
    offerdate: datetime | None = None,
) -> list[dict]:
    return [
        {
            "settlementdate": MIDNIGHT,
            "duid": duid,
            "bidtype": "ENERGY",
            "direction": direction,
            "interval_datetime": t,
            "periodid": k + 1,
            "versionno": 1,
            "offerdate": offerdate or MIDNIGHT - timedelta(hours=12),
            "maxavail": mw,
            "rocup": 10.0,
            "rocdown": 10.0,
            **{f"bandavail{b + 1}": (mw / 2 if b in (2, 5) else 0.0) for b in range(10)},
        }
        for k, t in enumerate(times(n))
    ]


def registration(*duids: str, region: str = "SA1", dispatchtype: str = "GENERATOR") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "settlement_date": [DAY] * len(duids),
            "duid": list(duids),
            "regionid": region,
            "participantid": [f"P_{d}" for d in duids],
            "mlf": 1.0,
            "dispatchtype": dispatchtype,
            "max_capacity": 200.0,
        }
    )
