"""The first schema: participants, keys, units and meters; offers, bids and meter reads;
idempotency records; the audit chain.

A migration is history: it keeps the tables as they were when it was written, so it does not
import them from :mod:`bidstack.service.db`.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

PRICE_BANDS = [f"priceband{k}" for k in range(1, 11)]
BAND_VOLUMES = [f"bandavail{k}" for k in range(1, 11)]


def _participant() -> sa.Column:
    return sa.Column(
        "participant_id",
        sa.String(64),
        sa.ForeignKey("participants.participant_id"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "participants",
        sa.Column("participant_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        _participant(),
        sa.Column("secret_hmac", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table("units", sa.Column("duid", sa.String(32), primary_key=True), _participant())
    op.create_table("nmis", sa.Column("nmi", sa.String(16), primary_key=True), _participant())
    op.create_table(
        "submissions",
        sa.Column("submission_id", sa.Integer, primary_key=True, autoincrement=True),
        _participant(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
    )
    op.create_table(
        "day_offers",
        sa.Column("day_offer_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "submission_id", sa.Integer, sa.ForeignKey("submissions.submission_id"), nullable=False
        ),
        _participant(),
        sa.Column("duid", sa.String(32), nullable=False),
        sa.Column("trading_date", sa.Date, nullable=False),
        sa.Column("versionno", sa.Integer, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        *(sa.Column(name, sa.Float, nullable=False) for name in PRICE_BANDS),
    )
    op.create_index("day_offers_unit_day", "day_offers", ["duid", "trading_date"])
    op.create_table(
        "bids",
        sa.Column("bid_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "submission_id", sa.Integer, sa.ForeignKey("submissions.submission_id"), nullable=False
        ),
        _participant(),
        sa.Column("duid", sa.String(32), nullable=False),
        sa.Column("trading_date", sa.Date, nullable=False),
        sa.Column("interval_datetime", sa.DateTime, nullable=False),
        sa.Column("versionno", sa.Integer, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("maxavail", sa.Float, nullable=False),
        *(sa.Column(name, sa.Float, nullable=False) for name in BAND_VOLUMES),
        sa.Column("rocup", sa.Float, nullable=False),
        sa.Column("rocdown", sa.Float, nullable=False),
        sa.Column("min_run_time_minutes", sa.Float),
        sa.UniqueConstraint("submission_id", "duid", "interval_datetime"),
    )
    op.create_index("bids_unit_interval", "bids", ["duid", "interval_datetime"])
    op.create_index("bids_trading_date", "bids", ["trading_date"])
    op.create_table(
        "meter_uploads",
        sa.Column("upload_id", sa.Integer, primary_key=True, autoincrement=True),
        _participant(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("filename", sa.String(255)),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
    )
    op.create_table(
        "meter_reads",
        sa.Column("read_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "upload_id", sa.Integer, sa.ForeignKey("meter_uploads.upload_id"), nullable=False
        ),
        _participant(),
        sa.Column("nmi", sa.String(16), nullable=False),
        sa.Column("nmi_configuration", sa.String(240)),
        sa.Column("register_id", sa.String(10)),
        sa.Column("nmi_suffix", sa.String(2), nullable=False),
        sa.Column("mdm_data_stream_identifier", sa.String(2)),
        sa.Column("meter_serial_number", sa.String(12)),
        sa.Column("uom", sa.String(5), nullable=False),
        sa.Column("interval_minutes", sa.Integer, nullable=False),
        sa.Column("interval_date", sa.Date, nullable=False),
        sa.Column("interval_number", sa.Integer, nullable=False),
        sa.Column("interval_datetime", sa.DateTime, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("energy_mwh", sa.Float),
        sa.Column("quality_method", sa.String(3), nullable=False),
        sa.Column("reason_code", sa.Integer),
        sa.Column("reason_description", sa.String(240)),
        sa.Column("update_datetime", sa.DateTime),
        sa.Column("msats_load_datetime", sa.DateTime),
        sa.Column("source_file", sa.String(255)),
        sa.Column("source_line", sa.Integer),
    )
    op.create_index("meter_reads_nmi_interval", "meter_reads", ["nmi", "interval_datetime"])
    op.create_index("meter_reads_date", "meter_reads", ["interval_date"])
    op.create_table(
        "idempotency",
        sa.Column(
            "participant_id",
            sa.String(64),
            sa.ForeignKey("participants.participant_id"),
            primary_key=True,
        ),
        sa.Column("idempotency_key", sa.String(128), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("location", sa.String(255)),
        sa.Column("response_body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at_utc", sa.String(32), nullable=False),
        sa.Column("participant_id", sa.String(64)),
        sa.Column("key_id", sa.String(16)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(128)),
        sa.Column("request_sha256", sa.String(64)),
        sa.Column("outcome", sa.String(255), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
