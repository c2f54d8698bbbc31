"""Table definitions, held as data: what bidstack knows about each table it stores.

Columns, types and primary keys come from AEMO's MMS Data Model v5.7 (``mmsdm_v5.7.json.gz``
beside this module, a byte-for-byte copy of ``../shared/data/mms/schema/mmsdm_v5.7.json``), so
every one of its 541 tables can be ingested. :data:`~bidstack.io.registered.REGISTERED` adds
what the data model does not say (:mod:`bidstack.io.registered`), and
:data:`~bidstack.io.plausible.VALUE_RANGES` the plausible values of columns
(:mod:`bidstack.io.plausible`).

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
from dataclasses import dataclass
from functools import cache
from importlib import resources

import polars as pl
import pyarrow as pa

from bidstack.errors import InputError
from bidstack.io.plausible import Plausible, plausible_values
from bidstack.io.registered import REGISTERED, Registered

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

    def required_in(self, columns: Sequence[str]) -> tuple[str, ...]:
        """The columns a row of a section holding ``columns`` needs a value in: the
        :attr:`required_columns`, and each :attr:`identity` column the section has (a row
        without its DUID would be read as the same row as every other unit's of its interval).
        An identity column a section lacks (DIRECTION before BIDPEROFFER_D v3, RUNNO in a NEMOSIS
        cache) is no problem: the same for every row."""
        present = (name for name in self.identity if name in columns)
        return tuple(dict.fromkeys((*self.required_columns, *present)))

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
        """The plausible values of each numeric and date column (see
        :data:`~bidstack.io.plausible.VALUE_RANGES`)."""
        return plausible_values(self)

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
