"""Table definitions, held as data: what bidstack knows about each table it stores.

Columns, types and primary keys come from AEMO's MMS Data Model v5.7 (``mmsdm_v5.7.json.gz``
beside this module, a byte-for-byte copy of ``../shared/data/mms/schema/mmsdm_v5.7.json``), so
every one of its 541 tables can be ingested. :data:`REGISTERED` adds what the data model does not
say: which file ids (the namespace and report name of an ``I`` row) hold a table, which versions
bidstack was checked against (others ingest by column name, with a warning), the interval column
to filter and partition on, columns real files carry that the data model dropped, which tables
hold several NEMDE runs (``pricing_run``) and whose versions are sets of rows (``version_of``).
Adding a table is adding an entry there.

Types follow one rule (:func:`column_kind`): dates are ``Datetime`` (naive, AEST market time, as
AEMO writes them), text is ``String``, integral identifiers, counters and flags are ``Int64``
(see :data:`IDENTIFIER_COLUMN`), and every other number is ``Float64``. Column names are the MMS
names lower-cased.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources

import polars as pl
import pyarrow as pa

from bidstack.errors import InputError

DATA_MODEL_FILE = "mmsdm_v5.7.json.gz"

#: Column kinds and their Polars and Arrow types in the store.
KINDS: Mapping[str, tuple[pl.DataType, pa.DataType]] = {
    "datetime": (pl.Datetime("us"), pa.timestamp("us")),
    "date": (pl.Date(), pa.date32()),
    "float": (pl.Float64(), pa.float64()),
    "int": (pl.Int64(), pa.int64()),
    "string": (pl.String(), pa.large_string()),
}

#: Integral data-model columns that are identifiers, counters, codes or flags (stored as Int64);
#: other integral columns are quantities such as MW and are stored as Float64.
IDENTIFIER_COLUMN = re.compile(
    r"(.*VERSIONNO|.*RUNNO|RUN_NO|.*ID|INTERVENTION|DISPATCHINTERVAL|TRADETYPE|DISPATCHMODE"
    r"|AGCSTATUS|SEMIDISPATCHCAP|LOCALLY_CONSTRAINED|CONFORMANCE_MODE|.*FLAGS?|.*STATUS"
    r"|IS_.*|AGGREGATED|WEEKNO|.*YEAR|.*QUARTER|.*COUNT)"
)

#: Date columns that make a table "effective-dated" (registration and configuration tables):
#: a row holds from its effective date until a later row for the same entity replaces it.
EFFECTIVE_DATE_COLUMNS = ("EFFECTIVEDATE", "START_DATE")

#: ``I`` rows written back by pandas (the NEMOSIS samples) name an empty report "Unnamed: N".
PANDAS_EMPTY_NAME = re.compile(r"Unnamed: \d+")


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


@dataclass(frozen=True)
class Plausible:
    """The values a column may plausibly hold: from ``low`` to ``high`` (both included), in
    ``unit``. A number must also be finite. A value outside is rejected where it enters, naming
    its file and line (or row) and column."""

    low: float | datetime
    high: float | datetime
    unit: str = ""

    def __str__(self) -> str:
        if isinstance(self.low, datetime):
            return f"the plausible dates {self.low:%Y-%m-%d} to {self.high:%Y-%m-%d}"
        unit = f" {self.unit}" if self.unit else ""
        return f"the plausible range {self.low:,.10g} to {self.high:,.10g}{unit}"


#: Plausible values of the numeric columns of the tables bidstack reads (:data:`REGISTERED`), by
#: pattern over the upper-case MMS name (the first that matches applies). Deliberately wide: far
#: beyond anything the market's rules allow (a market price cap of $20,300/MWh, a floor of
#: -$1,000/MWh, the largest unit under 1,000 MW, the NEM's demand under 40 GW), so that only a
#: corrupt or hostile value fails, while every real AEMO value passes (the real samples include
#: an ROP of $119,722/MWh and a CUMUL_PRE_AP_ENERGY_PRICE of 1.09 million).
VALUE_RANGES: tuple[tuple[str, Plausible], ...] = (
    (r"CUMUL_.*|.*_THRESHOLD", Plausible(-1e10, 1e10, "$/MWh summed over intervals")),
    (
        r"PRICEBAND\d+|.*RRP|.*ROP|EEP|.*PRICE|VOLL|MARKETPRICEFLOOR|LOCAL_PRICE_ADJUSTMENT.*"
        r"|APCVALUE|APFVALUE",
        Plausible(-1e6, 1e6, "$/MWh"),
    ),
    (r"TRANSMISSIONLOSSFACTOR|DISTRIBUTIONLOSSFACTOR|SECONDARY_TLF", Plausible(0.0, 10.0)),
    (
        r"BANDAVAIL\d+|MAXAVAIL|PASAAVAILABILITY|TOTALCLEARED|INITIALMW|AVAILABILITY|UIGF"
        r"|TOTALDEMAND|DISPATCHABLEGENERATION|DISPATCHABLELOAD|NETINTERCHANGE|CLEAREDSUPPLY"
        r"|AVAILABLEGENERATION|AVAILABLELOAD|SCADAVALUE|MAXCAPACITY|REGISTEREDCAPACITY|MWFLOW"
        r"|METEREDMWFLOW|MWLOSSES|IMPORTLIMIT|EXPORTLIMIT|MAXMWIN|MAXMWOUT|MWBREAKPOINT",
        Plausible(-1e5, 1e5, "MW"),
    ),
)
#: Every other number of every table: finite, and within what any MMS quantity can be.
ANY_NUMBER = Plausible(-1e15, 1e15)
#: Interval times (the time and partition columns): from before the NEM's start (December 1998;
#: registration rows date from 1997) to this century's end.
INTERVAL_DATES = Plausible(datetime(1990, 1, 1), datetime(2100, 1, 1))
#: Other dates, such as an effective-until date, which AEMO writes as 2999-12-31 for "no end".
OTHER_DATES = Plausible(datetime(1900, 1, 1), datetime(3000, 1, 1))


#: Columns that order versions of the same row (the greatest wins), where not ``LASTCHANGED``.
LATEST_BY = {"NEM12_INTERVAL": ("update_datetime", "msats_load_datetime", "source_line")}


@dataclass(frozen=True)
class Column:
    """One stored column: its lower-case name and kind (a key of :data:`KINDS`)."""

    name: str
    kind: str


@dataclass(frozen=True)
class TableSpec:
    """Everything the store needs to hold one table.

    ``time_column`` is the interval column :func:`bidstack.io.read` filters on. The store
    partitions rows by the calendar month of ``partition_column``: the time column itself, or for
    tables ``by_trading_day`` (``BIDPEROFFER_D``) the trading day ``SETTLEMENTDATE``, so that a
    month's file is one partition. Where the time column is not part of the primary key (a
    ``LASTCHANGED`` stamp, say), a row may lack it: such rows are stored in the ``undated``
    partition (see :attr:`time_optional`). ``effective_date`` is set for registration tables,
    whose rows hold from that date until replaced. ``pricing_run`` tables hold several NEMDE runs
    told apart by ``INTERVENTION``. ``identity`` is the part of the key that identifies a row
    (the key, less constant or derived columns), by which rows stored twice are read once. All
    names are lower-case except ``name``.
    """

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    time_column: str | None
    versions: tuple[int, ...] = ()
    effective_date: str | None = None
    by_trading_day: bool = False
    pricing_run: bool = False
    version_of: tuple[str, ...] = ()
    identity: tuple[str, ...] = ()

    @property
    def partition_column(self) -> str | None:
        return "settlementdate" if self.by_trading_day else self.time_column

    @property
    def time_optional(self) -> bool:
        """True if a row may lack the time column, which is then not part of the primary key;
        such rows are stored in the ``undated`` partition and read whatever the window."""
        return self.time_column is not None and self.time_column not in self.primary_key

    @property
    def standing(self) -> bool:
        """True for standing data (INTERCONNECTOR, PARTICIPANT): tables whose only time is the
        ``LASTCHANGED`` stamp of a row, which says when it was written, not when it applies."""
        return self.time_optional and self.time_column == "lastchanged"

    @property
    def required_columns(self) -> tuple[str, ...]:
        """The columns every stored row needs a value in: the time and partition columns (unless
        :attr:`time_optional`), and INTERVENTION in a ``pricing_run`` table."""
        dated = () if self.time_optional else (self.time_column, self.partition_column)
        intervention = ("intervention",) if self.pricing_run else ()
        return tuple(dict.fromkeys(c for c in (*dated, *intervention) if c))

    @property
    def statistics_columns(self) -> list[str]:
        """Columns whose Parquet statistics are kept, for readers to skip row groups: the
        interval and key columns (statistics on every column cost ingest time for no use)."""
        keys = [self.time_column, self.partition_column, *self.primary_key]
        return [column.name for column in self.columns if column.name in keys]

    @property
    def store_name(self) -> str:
        """The table's directory name in the store: the MMS name lower-cased."""
        return self.name.lower()

    @property
    def kinds(self) -> dict[str, str]:
        return {column.name: column.kind for column in self.columns}

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({column.name: KINDS[column.kind][0] for column in self.columns})

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(column.name, KINDS[column.kind][1]) for column in self.columns])

    @property
    def version_order(self) -> tuple[str, ...]:
        """The columns that order versions of one row, the greatest last written (see
        :data:`LATEST_BY`; else ``LASTCHANGED`` where the table has it)."""
        changed = ("lastchanged",) if "lastchanged" in self.kinds else ()
        return LATEST_BY.get(self.name, changed)

    @property
    def plausible(self) -> dict[str, Plausible]:
        """The plausible values of each numeric and date column (see :data:`VALUE_RANGES`)."""
        return _plausible(self)

    @property
    def entity(self) -> tuple[str, ...]:
        """Key columns that name the thing a registration row describes (e.g. ``duid``), whose
        rows a later effective date or version replaces (``version_of`` where set)."""
        if self.version_of:
            return self.version_of
        return tuple(
            key for key in self.primary_key if key not in (self.effective_date, "versionno")
        )


def column_kind(name: str, data_type: str | Mapping) -> str:
    """The stored kind of a data-model column, from its MMS name and data-model type.

    >>> column_kind("BANDAVAIL1", {"Decimal": {"precision": 22, "scale": 0}})
    'float'
    >>> column_kind("VERSIONNO", {"Decimal": {"precision": 22, "scale": 0}})
    'int'
    """
    if data_type in ("Date", "DateTime"):
        return "datetime"
    if data_type == "Char" or "Varchar" in data_type:
        return "string"
    integral = "Integer" in data_type or data_type["Decimal"]["scale"] == 0
    return "int" if integral and IDENTIFIER_COLUMN.fullmatch(name) else "float"


@cache
def _plausible(spec: TableSpec) -> dict[str, Plausible]:
    ranges = VALUE_RANGES if spec.name in REGISTERED else ()
    interval = (spec.time_column, spec.partition_column)
    plausible = {}
    for column in spec.columns:
        if column.kind == "float":
            upper = column.name.upper()
            found = (bounds for pattern, bounds in ranges if re.fullmatch(pattern, upper))
            plausible[column.name] = next(found, ANY_NUMBER)
        elif column.kind in ("datetime", "date"):
            plausible[column.name] = INTERVAL_DATES if column.name in interval else OTHER_DATES
    return plausible


@cache
def data_model() -> dict:
    """The MMS Data Model v5.7 tables, as AEMO's model report describes them."""
    packaged = resources.files("bidstack.io").joinpath(DATA_MODEL_FILE)
    with packaged.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        return json.load(text)["tables"]


@cache
def table_spec(name: str) -> TableSpec:
    """The :class:`TableSpec` of an MMS table (or ``NEM12_INTERVAL``), named in any case."""
    upper = name.upper()
    if upper in EXTRA_TABLES:
        return EXTRA_TABLES[upper]
    model = data_model().get(upper)
    if model is None:
        raise InputError(f"unknown table {name!r}: not in the MMS Data Model v5.7 nor NEM12")
    registered = REGISTERED.get(upper, Registered())
    kinds = {
        column["name"].upper(): column_kind(column["name"].upper(), column["data_type"])
        for column in model["content"]
    }
    kinds |= registered.extra_columns
    kinds |= registered.kind_overrides
    primary_key = [key.upper() for key in model["primary_key_columns"]]
    dates = [column for column, kind in kinds.items() if kind == "datetime"]
    keyed_dates = [column for column in dates if column in primary_key]
    time_column = registered.time_column or next(iter(keyed_dates + dates), None)
    effective = next((c for c in EFFECTIVE_DATE_COLUMNS if c in primary_key), None)
    primary_key_lower = tuple(key.lower() for key in primary_key)
    return TableSpec(
        name=upper,
        columns=tuple(Column(column.lower(), kind) for column, kind in kinds.items()),
        primary_key=primary_key_lower,
        time_column=time_column.lower() if time_column else None,
        versions=registered.versions,
        effective_date=effective.lower() if effective else None,
        by_trading_day=registered.by_trading_day,
        pricing_run=registered.pricing_run and "INTERVENTION" in kinds,
        version_of=tuple(column.lower() for column in registered.version_of),
        identity=tuple(column.lower() for column in registered.identity) or primary_key_lower,
    )


def find_table(name: str) -> TableSpec | None:
    """The :class:`TableSpec` of the table named ``name`` (any case), or None if there is none.

    >>> find_table("lossmodel").name
    'LOSSMODEL'
    >>> find_table("sqlite_sequence") is None
    True
    """
    upper = name.upper()
    return table_spec(upper) if upper in EXTRA_TABLES or upper in data_model() else None


def column_problem(spec: TableSpec, columns: Sequence[str]) -> str | None:
    """Why rows with ``columns`` (lower-case names) cannot be stored in ``spec``'s table, or None.
    Columns the table does not have are no problem: they are dropped (see
    :func:`unknown_columns`).

    >>> column_problem(table_spec("DISPATCHPRICE"), ["settlementdate", "regionid", "rrp"])
    'no INTERVENTION column (it tells the pricing run, 0, from intervention runs)'
    """
    if len(set(columns)) != len(columns):
        return "a column is named twice"
    absent = [name.upper() for name in spec.required_columns if name not in columns]
    if not absent:
        return None
    why = ""
    if absent == ["INTERVENTION"]:
        why = " (it tells the pricing run, 0, from intervention runs)"
    return f"no {', '.join(absent)} column{why}"


def unknown_columns(spec: TableSpec, columns: Sequence[str]) -> str | None:
    """A warning naming the ``columns`` that ``spec``'s table does not have, or None. Such
    columns (a newer version of the table, say) are dropped and the others stored.

    >>> unknown_columns(table_spec("DISPATCHPRICE"), ["settlementdate", "rrp"]) is None
    True
    >>> unknown_columns(table_spec("DISPATCHPRICE"), ["rrp", "newcolumn"]).split(" are")[0]
    'column(s) NEWCOLUMN'
    """
    unknown = [name.upper() for name in columns if name not in spec.kinds]
    if not unknown:
        return None
    return (
        f"column(s) {', '.join(unknown)} are not in {spec.name} of the MMS Data Model v5.7 "
        "(a newer version?): dropped, the other columns stored"
    )


@cache
def _file_ids() -> dict[tuple[str, str], str]:
    return {file_id: table for table, entry in REGISTERED.items() for file_id in entry.file_ids}


def clean_report_name(report: str) -> str:
    """The report name of an ``I`` row, with pandas' "Unnamed: N" read back as empty."""
    return "" if PANDAS_EMPTY_NAME.fullmatch(report) else report


def resolve(namespace: str, report: str) -> TableSpec | None:
    """The table an ``I`` row's namespace and report name hold, or None if bidstack has none.

    Registered file ids come first; otherwise the data-model table named ``<NAMESPACE><REPORT>``,
    ``<NAMESPACE>_<REPORT>`` or ``<REPORT>`` (``<NAMESPACE>`` when the report name is empty).

    >>> resolve("DISPATCH", "UNIT_SOLUTION").name
    'DISPATCHLOAD'
    >>> resolve("DISPATCH", "LOCAL_PRICE").name
    'DISPATCH_LOCAL_PRICE'
    """
    namespace, report = namespace.upper(), report.upper()
    registered = _file_ids().get((namespace, report))
    if registered:
        return table_spec(registered)
    candidates = (namespace + report, f"{namespace}_{report}", report) if report else (namespace,)
    model = data_model()
    table = next((name for name in candidates if name in model), None)
    return table_spec(table) if table else None


NEM12_INTERVAL = TableSpec(
    name="NEM12_INTERVAL",
    columns=tuple(
        Column(name, kind)
        for name, kind in (
            ("nmi", "string"),
            ("nmi_configuration", "string"),
            ("register_id", "string"),
            ("nmi_suffix", "string"),
            ("mdm_data_stream_identifier", "string"),
            ("meter_serial_number", "string"),
            ("uom", "string"),
            ("interval_minutes", "int"),
            ("interval_date", "date"),
            ("interval_number", "int"),
            ("interval_datetime", "datetime"),
            ("value", "float"),
            ("energy_mwh", "float"),
            ("quality_method", "string"),
            ("reason_code", "int"),
            ("reason_description", "string"),
            ("update_datetime", "datetime"),
            ("msats_load_datetime", "datetime"),
            ("source_file", "string"),
            ("source_line", "int"),
        )
    ),
    primary_key=("nmi", "nmi_suffix", "interval_datetime"),
    time_column="interval_datetime",
)

#: Tables that are not in the MMS data model.
EXTRA_TABLES: Mapping[str, TableSpec] = {NEM12_INTERVAL.name: NEM12_INTERVAL}
