"""Meter reads: what a POST of reads (JSON or a NEM12 file) stores, and what the caller reads
back.

Every query here is filtered by the caller's participant: another participant's upload or NMI is
simply not found. The NMIs of an upload must all be the caller's (403) before anything is stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from bidstack.io.nem12_records import MWH_PER_UNIT
from bidstack.io.read import DISPATCH_INTERVAL
from bidstack.service.db import meter_reads, meter_uploads, nmis
from bidstack.service.keys import Principal, callers_rows, check_owned
from bidstack.service.problems import Problem
from bidstack.service.schemas import MeterRead, MeterReadsIn, MeterUpload


def read_rows(reads: MeterReadsIn, received: datetime) -> list[dict]:
    """JSON reads as rows of the ``nem12_interval`` table."""
    length = reads.interval_minutes
    factor = MWH_PER_UNIT[reads.uom.upper()]
    rows = []
    for line, read in enumerate(reads.reads, start=1):
        end = read.interval_datetime
        day = (end - DISPATCH_INTERVAL).date()
        minutes = (end - datetime.combine(day, datetime.min.time())).total_seconds() / 60
        rows.append(
            {
                "nmi": reads.nmi,
                "nmi_suffix": reads.nmi_suffix,
                "uom": reads.uom,
                "interval_minutes": length,
                "interval_date": day,
                "interval_number": int(minutes // length),
                "interval_datetime": end,
                "value": read.value,
                "energy_mwh": read.value * factor,
                "quality_method": read.quality_method,
                "update_datetime": received,
                "source_file": "meter-reads.json",
                "source_line": line,
            }
        )
    return rows


def store_reads(
    connection: Connection,
    principal: Principal,
    kind: str,
    filename: str | None,
    rows: list[dict],
    received: datetime,
    key: str,
    warnings: list[str],
) -> tuple[dict, str, str]:
    """Meter reads (from JSON or a NEM12 file), all or nothing."""
    check_owned(connection, principal, nmis, "nmi", {row["nmi"] for row in rows}, "NMI")
    upload_id = connection.execute(
        insert(meter_uploads)
        .values(
            participant_id=principal.participant_id,
            kind=kind,
            filename=filename,
            received_at=received,
            rows=len(rows),
            idempotency_key=key,
        )
        .returning(meter_uploads.c.upload_id)
    ).scalar_one()
    connection.execute(
        insert(meter_reads),
        [
            {**row, "upload_id": upload_id, "participant_id": principal.participant_id}
            for row in rows
        ],
    )
    body = upload(connection, principal, upload_id).model_copy(update={"warnings": warnings})
    outcome = f"{kind} meter reads: {len(rows)} interval(s)"
    return body.model_dump(mode="json"), f"/v1/meter-reads/{upload_id}", outcome


def upload(connection: Connection, principal: Principal, upload_id: int) -> MeterUpload:
    """One of the caller's meter uploads, or 404."""
    head = connection.execute(
        select(meter_uploads)
        .where(meter_uploads.c.upload_id == upload_id)
        .where(meter_uploads.c.participant_id == principal.participant_id)
    ).first()
    if head is None:
        raise Problem(404, "not-found", f"you have no meter upload {upload_id}")
    of_upload = meter_reads.c.upload_id == upload_id
    meters = connection.execute(
        select(meter_reads.c.nmi).where(of_upload).distinct().order_by(meter_reads.c.nmi)
    ).scalars()
    first, last = connection.execute(
        select(
            func.min(meter_reads.c.interval_datetime), func.max(meter_reads.c.interval_datetime)
        ).where(of_upload)
    ).one()
    return MeterUpload(
        upload_id=upload_id,
        kind=head.kind,
        filename=head.filename,
        received_at=head.received_at,
        rows=head.rows,
        nmis=list(meters),
        first_interval=first,
        last_interval=last,
    )


def list_reads(
    connection: Connection,
    principal: Principal,
    nmi: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[MeterRead]:
    """The caller's meter reads; an NMI not the caller's is 404."""
    query = select(meter_reads, meter_uploads.c.received_at).join(
        meter_uploads, meter_uploads.c.upload_id == meter_reads.c.upload_id
    )
    query = callers_rows(connection, principal, query, meter_reads, nmis, "nmi", nmi, start, end)
    order = (meter_reads.c.interval_datetime, meter_reads.c.nmi, meter_reads.c.read_id)
    rows = connection.execute(query.order_by(*order).limit(limit)).mappings()
    return [MeterRead(**row) for row in rows]
