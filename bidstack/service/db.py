"""The service's database: its tables (SQLAlchemy Core), the engine, write transactions, and
the Alembic migrations that create and upgrade it.

Every time in the tables is naive NEM time (AEST, UTC+10, no daylight saving), as in the
store, except the audit log's ``at_utc`` (ISO 8601 text, part of each row's hash).

SQLite (the default, ``sqlite:///service.db``) runs in WAL mode with ``busy_timeout=5000``,
``synchronous=NORMAL`` and foreign keys on; a write takes the database's one write lock at its
start (``BEGIN IMMEDIATE``), so writers queue instead of failing half way, and the writers of
one process queue on a lock of their own first (SQLite's busy wait sleeps in growing steps,
which under load starves some writers past any timeout). On PostgreSQL
(``postgresql://...``, through psycopg 3) a write starts by locking the audit chain's head
row, which orders writers the same way. Keep the database on a local disk: WAL does not work
over a network file system.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.errors import ConfigError

DEFAULT_URL = "sqlite:///service.db"
MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest migration: a database at another revision must be upgraded first.
HEAD = "0001"

metadata = MetaData()

participants = Table(
    "participants",
    metadata,
    Column("participant_id", String(64), primary_key=True),
    Column("created_at", DateTime, nullable=False),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("participant_id", ForeignKey("participants.participant_id"), nullable=False),
    Column("secret_hmac", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("revoked_at", DateTime),
)
units = Table(
    "units",
    metadata,
    Column("duid", String(32), primary_key=True),
    Column("participant_id", ForeignKey("participants.participant_id"), nullable=False),
)
nmis = Table(
    "nmis",
    metadata,
    Column("nmi", String(16), primary_key=True),
    Column("participant_id", ForeignKey("participants.participant_id"), nullable=False),
)
submissions = Table(
    "submissions",
    metadata,
    Column("submission_id", Integer, primary_key=True, autoincrement=True),
    Column("participant_id", ForeignKey("participants.participant_id"), nullable=False),
    Column("kind", String(8), nullable=False),  # "offer" or "bid"
    Column("received_at", DateTime, nullable=False),
    Column("idempotency_key", String(128), nullable=False),
)
day_offers = Table(
    "day_offers",
    metadata,
    Column("day_offer_id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", ForeignKey("submissions.submission_id"), nullable=False),
    Column("participant_id", ForeignKey("participants.participant_id"), nullable=False),
    Column("duid", String(32), nullable=False),
    Column("trading_date", Date, nullable=False),
    Column("versionno", Integer, nullable=False),
    Column("received_at", DateTime, nullable=False),
    *(Column(name, Float, nullable=False) for name in PRICE_BANDS),
    Index("day_offers_unit_day", "duid", "trading_date"),
)
bids = Table(
    "bids",
    metadata,
    Column("bid_id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", ForeignKey("submissions.submission_id"), nullable=False),
    Column("participant_id", ForeignKey("participants.participant_id"), nullable=False),
    Column("duid", String(32), nullable=False),
    Column("trading_date", Date, nullable=False),
    Column("interval_datetime", DateTime, nullable=False),
    Column("versionno", Integer, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("maxavail", Float, nullable=False),
    *(Column(name, Float, nullable=False) for name in BAND_VOLUMES),
    Column("rocup", Float, nullable=False),
    Column("rocdown", Float, nullable=False),
    Column("min_run_time_minutes", Float),
    UniqueConstraint("submission_id", "duid", "interval_datetime"),
    Index("bids_unit_interval", "duid", "interval_datetime"),
    Index("bids_trading_date", "trading_date"),
)
meter_uploads = Table(
    "meter_uploads",
    metadata,
    Column("upload_id", Integer, primary_key=True, autoincrement=True),
    Column("participant_id", ForeignKey("participants.participant_id"), nullable=False),
    Column("kind", String(8), nullable=False),  # "json" or "nem12"
    Column("filename", String(255)),
    Column("received_at", DateTime, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("idempotency_key", String(128), nullable=False),
)
#: The columns of the store's ``nem12_interval`` table, as the export writes them: type, nullable.
READ_COLUMNS = {
    "nmi": (String(16), False),
    "nmi_configuration": (String(240), True),
    "register_id": (String(10), True),
    "nmi_suffix": (String(2), False),
    "mdm_data_stream_identifier": (String(2), True),
    "meter_serial_number": (String(12), True),
    "uom": (String(5), False),
    "interval_minutes": (Integer, False),
    "interval_date": (Date, False),
    "interval_number": (Integer, False),
    "interval_datetime": (DateTime, False),
    "value": (Float, False),
    "energy_mwh": (Float, True),
    "quality_method": (String(3), False),
    "reason_code": (Integer, True),
    "reason_description": (String(240), True),
    "update_datetime": (DateTime, True),
    "msats_load_datetime": (DateTime, True),
    "source_file": (String(255), True),
    "source_line": (Integer, True),
}
meter_reads = Table(
    "meter_reads",
    metadata,
    Column("read_id", Integer, primary_key=True, autoincrement=True),
    Column("upload_id", ForeignKey("meter_uploads.upload_id"), nullable=False),
    Column("participant_id", ForeignKey("participants.participant_id"), nullable=False),
    *(Column(name, kind, nullable=null) for name, (kind, null) in READ_COLUMNS.items()),
    Index("meter_reads_nmi_interval", "nmi", "interval_datetime"),
    Index("meter_reads_date", "interval_date"),
)
idempotency = Table(
    "idempotency",
    metadata,
    Column("participant_id", ForeignKey("participants.participant_id"), primary_key=True),
    Column("idempotency_key", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("location", String(255)),
    Column("response_body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at_utc", String(32), nullable=False),
    Column("participant_id", String(64)),
    Column("key_id", String(16)),
    Column("method", String(8), nullable=False),
    Column("path", String(255), nullable=False),
    Column("status", Integer, nullable=False),
    Column("idempotency_key", String(128)),
    Column("request_sha256", String(64)),
    Column("outcome", String(255), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
#: One row (``id = 1``): the chain's last sequence number and hash. Every write locks it first.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)


def database_url(url: str) -> str:
    """``url`` with the driver bidstack uses: the standard library's sqlite3 for ``sqlite``,
    psycopg 3 for ``postgresql``; anything else is a :class:`ConfigError`."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {url!r} cannot be read: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError("the service needs an SQLite file, e.g. sqlite:///service.db")
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ConfigError(f"database URL {url!r}: only sqlite:/// and postgresql:// are supported")


def make_engine(url: str, *, pool_size: int = 16) -> Engine:
    """An engine for ``url`` (see :func:`database_url`), SQLite set up as the module says."""
    engine = create_engine(database_url(url), pool_size=pool_size, max_overflow=pool_size)
    if engine.dialect.name == "sqlite":
        _WRITERS[engine] = threading.Lock()
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "busy_timeout=30000",
        "synchronous=NORMAL",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction, committed at the end (rolled back on an exception). It holds the
    write lock from its start: SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL the audit chain's head
    row, which the audit log locks first (:func:`bidstack.service.audit.lock_head`)."""
    queue = _WRITERS.get(engine, nullcontext())
    with queue, engine.connect() as connection:
        connection = connection.execution_options(write=True)
        with connection.begin():
            yield connection


def upgrade(url: str) -> str:
    """Create the database at ``url`` or upgrade it to the newest migration; return that
    revision."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url, pool_size=1)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    return HEAD


def check_revision(engine: Engine) -> None:
    """Raise :class:`ConfigError` unless the database is at the newest migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            revision = None
        else:
            revision = connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version"
            ).scalar()
    if revision != HEAD:
        raise ConfigError(
            f"the database {engine.url.render_as_string()} is at revision {revision or 'none'}, "
            f"not {HEAD}: run `bidstack service init --db URL` first"
        )
