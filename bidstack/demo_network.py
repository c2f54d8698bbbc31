"""The demo market's interconnectors: the NEM's five regions joined as the NEM joins them
(QLD1-NSW1-VIC1-SA1, and TAS1 to VIC1 by an MNSP like Basslink), with AEMO-style loss models
scaled to the demo's smaller regions, as the MMS tables ``bidstack.network`` reads.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

SINCE = datetime(2023, 7, 1)
REGIONS = ("QLD1", "NSW1", "VIC1", "SA1", "TAS1")

#: (id, from, to, type, import limit, export limit, loss constant, flow coefficient, share,
#: demand coefficients): AEMO's 2024-25 coefficients (``../shared/data/mms/nempy``), with loss
#: constants that suit the demo's smaller demand and limits about half the real ones.
LINKS = (
    (
        "NSW1-QLD1",
        "NSW1",
        "QLD1",
        "REGULATED",
        1200.0,
        1100.0,
        0.9650,
        1.79e-4,
        0.63,
        {"NSW1": 7.7e-6, "QLD1": 1.85e-5},
    ),
    (
        "VIC1-NSW1",
        "VIC1",
        "NSW1",
        "REGULATED",
        1100.0,
        1200.0,
        1.0400,
        1.65e-4,
        0.36,
        {"NSW1": 1.2e-6, "VIC1": 2.2e-6, "SA1": -6.4e-5},
    ),
    (
        "V-SA",
        "VIC1",
        "SA1",
        "REGULATED",
        450.0,
        500.0,
        0.9936,
        2.30e-4,
        0.67,
        {"SA1": 6.2e-5, "VIC1": -1.6e-5},
    ),
    ("T-V-MNSP1", "TAS1", "VIC1", "MNSP", 240.0, 300.0, 0.9961, 2.08e-4, 1.0, {"VIC1": 0.0}),
)
#: Basslink's two one-way links: (link, from, to, from-end TLF, to-end TLF, LHS factor).
MNSP_LINKS = (
    ("BLNKTAS", "TAS1", "VIC1", 1.0, 0.9777, 1.0),
    ("BLNKVIC", "VIC1", "TAS1", 0.9852, 1.0, -1.0),
)
#: MW between loss-model breakpoints.
SEGMENT_MW = 40.0


def network_tables() -> dict[str, pl.DataFrame]:
    """INTERCONNECTOR, INTERCONNECTORCONSTRAINT, LOSSFACTORMODEL, LOSSMODEL and
    MNSP_INTERCONNECTOR rows for the demo's links, in force from 2023-07-01."""
    interconnector = pl.DataFrame(
        [(name, a, b, SINCE) for name, a, b, *_ in LINKS],
        schema=["interconnectorid", "regionfrom", "regionto", "lastchanged"],
        orient="row",
    )
    constraint = pl.DataFrame(
        [
            {
                "interconnectorid": name,
                "effectivedate": SINCE,
                "versionno": 1,
                "fromregionlossshare": share,
                "lossconstant": constant,
                "ictype": kind,
                "lossflowcoefficient": coefficient,
                "importlimit": imports,
                "exportlimit": exports,
            }
            for name, _, _, kind, imports, exports, constant, coefficient, share, _ in LINKS
        ]
    )
    factors = pl.DataFrame(
        [
            {
                "interconnectorid": name,
                "effectivedate": SINCE,
                "versionno": 1,
                "regionid": region,
                "demandcoefficient": value,
            }
            for name, *_, demand in LINKS
            for region, value in demand.items()
        ]
    )
    segments = []
    for name, _, _, _, imports, exports, *_ in LINKS:
        points = np.arange(-imports - 1.0, exports + 1.0 + SEGMENT_MW, SEGMENT_MW)
        points[-1] = exports + 1.0
        segments += [
            {
                "interconnectorid": name,
                "effectivedate": SINCE,
                "versionno": 1,
                "losssegment": k + 1,
                "mwbreakpoint": float(p),
            }
            for k, p in enumerate(points)
        ]
    mnsp = pl.DataFrame(
        [
            {
                "linkid": link,
                "effectivedate": SINCE,
                "versionno": 1,
                "interconnectorid": "T-V-MNSP1",
                "fromregion": a,
                "toregion": b,
                "maxcapacity": 300.0 if link == "BLNKTAS" else 240.0,
                "from_region_tlf": from_tlf,
                "to_region_tlf": to_tlf,
                "lhsfactor": lhs,
            }
            for link, a, b, from_tlf, to_tlf, lhs in MNSP_LINKS
        ]
    )
    return {
        "INTERCONNECTOR": interconnector,
        "INTERCONNECTORCONSTRAINT": constraint,
        "LOSSFACTORMODEL": factors,
        "LOSSMODEL": pl.DataFrame(segments),
        "MNSP_INTERCONNECTOR": mnsp,
    }
