"""What bidstack adds to the MMS Data Model, per table, held as data (:data:`REGISTERED`).

Which file ids (the namespace and report name of an ``I`` row) hold a table, which versions
bidstack was checked against (others ingest by column name, with a warning), the interval column
to filter and partition on, columns real files carry that the data model dropped, which tables
hold several NEMDE runs (``pricing_run``) and whose versions are sets of rows (``version_of``).
Adding a table is adding an entry here; :func:`bidstack.io.schema.table_spec` combines it with
the data model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Registered:
    """What bidstack adds to the data model for one table (upper-case MMS names throughout)."""

    file_ids: tuple[tuple[str, str], ...] = ()
    versions: tuple[int, ...] = ()
    time_column: str | None = None
    by_trading_day: bool = False
    extra_columns: Mapping[str, str] = field(default_factory=dict)
    kind_overrides: Mapping[str, str] = field(default_factory=dict)
    #: Rows come from several NEMDE runs told apart by INTERVENTION; ``read`` keeps the pricing
    #: run (INTERVENTION = 0), so every stored row needs an INTERVENTION value.
    pricing_run: bool = False
    #: For an effective-dated table whose versions are sets of rows (LOSSMODEL: a version is an
    #: interconnector's whole loss curve), the key columns a version belongs to; by default every
    #: key column but the effective date and VERSIONNO (one row per version).
    version_of: tuple[str, ...] = ()
    #: The key columns that identify a row, where the key also holds columns that are constant
    #: or derived from these (RUNNO is always 1 in dispatch tables; DISPATCHINTERVAL and PERIODID
    #: are SETTLEMENTDATE's period): rows from sources that lack those columns, such as NEMOSIS
    #: caches, are then recognised as the rows AEMO's files hold. Default: the primary key.
    identity: tuple[str, ...] = ()


#: Dispatch results are identified by interval, run and what they describe.
DISPATCH_IDENTITY = ("SETTLEMENTDATE", "INTERVENTION")

#: Tables bidstack's stages and network model read, and tables whose file id does not follow the
#: usual ``<NAMESPACE><REPORT>`` / ``<NAMESPACE>_<REPORT>`` / ``<REPORT>`` naming (see
#: :func:`resolve`).
REGISTERED: Mapping[str, Registered] = {
    "DUDETAIL": Registered((("PARTICIPANT_REGISTRATION", "DUDETAIL"),), versions=(3,)),
    "DUDETAILSUMMARY": Registered(
        (("PARTICIPANT_REGISTRATION", "DUDETAILSUMMARY"),), versions=(4,)
    ),
    "BIDDAYOFFER_D": Registered((("BID", "BIDDAYOFFER_D"),), versions=(2, 3)),
    "BIDPEROFFER_D": Registered(
        (("BID", "BIDPEROFFER_D"),),
        versions=(2, 3, 4),
        time_column="INTERVAL_DATETIME",
        by_trading_day=True,
    ),
    "DISPATCHLOAD": Registered(
        (("DISPATCH", "UNIT_SOLUTION"),),
        versions=(2, 3, 5, 6),
        pricing_run=True,
        identity=(*DISPATCH_IDENTITY, "DUID"),
    ),
    "DISPATCH_LOCAL_PRICE": Registered((("DISPATCH", "LOCAL_PRICE"),), versions=(1,)),
    "DISPATCHPRICE": Registered(
        (("DISPATCH", "PRICE"),),
        versions=(1, 4, 5),
        kind_overrides={"DISPATCHINTERVAL": "int"},
        pricing_run=True,
        identity=(*DISPATCH_IDENTITY, "REGIONID"),
    ),
    "TRADINGPRICE": Registered(
        (("TRADING", "PRICE"),), versions=(2, 3), identity=("SETTLEMENTDATE", "REGIONID")
    ),
    "DISPATCHREGIONSUM": Registered(
        (("DISPATCH", "REGIONSUM"),),
        versions=(4, 5, 8, 9),
        pricing_run=True,
        identity=(*DISPATCH_IDENTITY, "REGIONID"),
    ),
    "DISPATCHINTERCONNECTORRES": Registered(
        (("DISPATCH", "INTERCONNECTORRES"),),
        versions=(1, 3),
        pricing_run=True,
        identity=(*DISPATCH_IDENTITY, "INTERCONNECTORID"),
    ),
    "INTERCONNECTOR": Registered((("MARKET_CONFIG", "INTERCONNECTOR"),), versions=(1,)),
    "INTERCONNECTORCONSTRAINT": Registered(
        (("MARKET_CONFIG", "INTERCONNECTORCONSTRAINT"),), versions=(1,)
    ),
    "LOSSFACTORMODEL": Registered(
        (("MARKET_CONFIG", "LOSSFACTORMODEL"),), versions=(1,), version_of=("INTERCONNECTORID",)
    ),
    "LOSSMODEL": Registered(
        (("MARKET_CONFIG", "LOSSMODEL"),),
        versions=(1,),
        kind_overrides={"LOSSSEGMENT": "int"},
        version_of=("INTERCONNECTORID",),
    ),
    "MNSP_INTERCONNECTOR": Registered(
        (("PARTICIPANT_REGISTRATION", "MNSP_INTERCONNECTOR"),), versions=(2,)
    ),
    "MNSP_PEROFFER": Registered((("OFFER", "MNSP_PEROFFER"),), versions=(1,)),
    "MNSP_DAYOFFER": Registered(
        (("OFFER", "MNSP_DAYOFFER"), ("BIDS", "MNSP_DAYOFFER")), versions=(1, 2)
    ),
    "DISPATCH_UNIT_SCADA": Registered((("DISPATCH", "UNIT_SCADA"),), versions=(1,)),
    "MARKET_PRICE_THRESHOLDS": Registered(
        (("MARKET_CONFIG", "MARKET_PRICE_THRESHOLDS"),), versions=(1,)
    ),
    "DISPATCHCASESOLUTION": Registered(
        (("DISPATCH", "CASE_SOLUTION"), ("DISPATCH", "CASESOLUTION"))
    ),
    "DISPATCHCONSTRAINT": Registered(
        (("DISPATCH", "CONSTRAINT"),), extra_columns={"CONFIDENTIAL_TO": "string"}
    ),
    "TRADINGLOAD": Registered((("TRADING", "UNIT_SOLUTION"),)),
    "TRADINGINTERCONNECT": Registered((("TRADING", "INTERCONNECTORRES"),)),
    "ROOFTOP_PV_ACTUAL": Registered((("ROOFTOP", "ACTUAL"),)),
    "SPDCONNECTIONPOINTCONSTRAINT": Registered((("SPDCPC", ""),)),
    "SPDINTERCONNECTORCONSTRAINT": Registered((("SPDICC", ""),)),
    "SPDREGIONCONSTRAINT": Registered((("SPDRC", ""),)),
}
