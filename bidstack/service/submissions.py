"""Offers and bids: what a POST stores, and what the caller reads back.

Every query here is filtered by the caller's participant: another participant's submission or
unit is simply not found. A submission's checks run in this order, before anything is stored:
the units are the caller's (403), the unit has the day's prices (422 ``no_price_bands``), every
interval's gate is open (409). Gate closure is :func:`bidstack.market.gate_closes` with the
backtest's ``gate_closure_seconds``. Meter reads are :mod:`bidstack.service.meter_data`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, select, union_all

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.io.read import DISPATCH_INTERVAL
from bidstack.market import gate_closes
from bidstack.service.db import bids, day_offers, submissions
from bidstack.service.db import units as unit_registry
from bidstack.service.keys import Principal, callers_rows, check_owned
from bidstack.service.problems import Problem, ProblemItem
from bidstack.service.schemas import (
    BidIn,
    BidOut,
    IntervalVolumes,
    OfferIn,
    Submission,
    first_interval,
    trading_date,
)

INTERVAL_MINUTES = DISPATCH_INTERVAL.total_seconds() / 60
VOLUMES = ("maxavail", *BAND_VOLUMES, "rocup", "rocdown", "min_run_time_minutes")


def check_gates(
    intervals: Iterable[tuple[str, datetime, str]], received: datetime, gate_seconds: float
) -> None:
    """409 listing every ``(duid, interval end, what)`` whose gate closed before ``received``."""
    late = []
    for duid, interval, what in intervals:
        closes = gate_closes(interval, gate_seconds, INTERVAL_MINUTES)
        if received > closes:
            late.append(
                ProblemItem(
                    kind="gate_closed",
                    duid=duid,
                    interval_datetime=interval,
                    gate_closed_at=closes,
                    received_at=received,
                    detail=f"{what}: received {received.isoformat()}, after gate closure at "
                    f"{closes.isoformat()}",
                )
            )
    if late:
        raise Problem(
            409,
            "gate-closed",
            f"gate closed for {len(late)} interval(s); nothing was stored",
            errors=late,
        )


def _next_versions(connection: Connection, unit_days: set[tuple[str, date]]) -> dict:
    """The next VERSIONNO of each (unit, trading day): one more than any offer or bid so far."""
    versions = {}
    for duid, day in unit_days:
        query = union_all(
            *(
                select(func.max(table.c.versionno).label("v")).where(
                    (table.c.duid == duid) & (table.c.trading_date == day)
                )
                for table in (day_offers, bids)
            )
        ).subquery()
        versions[duid, day] = (connection.execute(select(func.max(query.c.v))).scalar() or 0) + 1
    return versions


def _insert_submission(
    connection: Connection, principal: Principal, kind: str, received: datetime, key: str
) -> int:
    return connection.execute(
        insert(submissions)
        .values(
            participant_id=principal.participant_id,
            kind=kind,
            received_at=received,
            idempotency_key=key,
        )
        .returning(submissions.c.submission_id)
    ).scalar_one()


def _insert_bids(
    connection: Connection,
    principal: Principal,
    submission_id: int,
    received: datetime,
    rows: list[tuple[str, IntervalVolumes]],
    versions: dict,
) -> None:
    if not rows:
        return
    values = []
    for duid, bid in rows:
        day = trading_date(bid.interval_datetime)
        values.append(
            {
                "submission_id": submission_id,
                "participant_id": principal.participant_id,
                "duid": duid,
                "trading_date": day,
                "interval_datetime": bid.interval_datetime,
                "versionno": versions[duid, day],
                "received_at": received,
                **{name: getattr(bid, name) for name in VOLUMES},
            }
        )
    connection.execute(insert(bids), values)


def store_offer(
    connection: Connection,
    principal: Principal,
    offer: OfferIn,
    received: datetime,
    gate_seconds: float,
    key: str,
) -> tuple[dict, str, str]:
    """A day offer and its bids; the day's prices close with its first interval."""
    check_owned(connection, principal, unit_registry, "duid", [offer.duid], "unit")
    opening = first_interval(offer.trading_date)
    check_gates(
        [(offer.duid, opening, f"price bands for trading day {offer.trading_date}")]
        + [(offer.duid, bid.interval_datetime, "bid") for bid in offer.bids],
        received,
        gate_seconds,
    )
    version = _next_versions(connection, {(offer.duid, offer.trading_date)})
    submission_id = _insert_submission(connection, principal, "offer", received, key)
    connection.execute(
        insert(day_offers).values(
            submission_id=submission_id,
            participant_id=principal.participant_id,
            duid=offer.duid,
            trading_date=offer.trading_date,
            versionno=version[offer.duid, offer.trading_date],
            received_at=received,
            **{name: getattr(offer, name) for name in PRICE_BANDS},
        )
    )
    _insert_bids(
        connection,
        principal,
        submission_id,
        received,
        [(offer.duid, bid) for bid in offer.bids],
        version,
    )
    body = submission(connection, principal, submission_id, gate_seconds)
    outcome = f"offer {offer.duid} {offer.trading_date}: {len(offer.bids)} bid(s)"
    return body.model_dump(mode="json"), f"/v1/bids/{submission_id}", outcome


def store_bids(
    connection: Connection,
    principal: Principal,
    batch: list[BidIn],
    received: datetime,
    gate_seconds: float,
    key: str,
) -> tuple[dict, str, str]:
    """Rebids, all or nothing."""
    check_owned(connection, principal, unit_registry, "duid", {bid.duid for bid in batch}, "unit")
    unit_days = {(bid.duid, trading_date(bid.interval_datetime)) for bid in batch}
    priced = {
        (duid, day)
        for duid, day in connection.execute(
            select(day_offers.c.duid, day_offers.c.trading_date)
            .where(day_offers.c.participant_id == principal.participant_id)
            .where(day_offers.c.duid.in_({duid for duid, _ in unit_days}))
            .where(day_offers.c.trading_date.in_({day for _, day in unit_days}))
        )
    }
    unpriced = sorted(unit_days - priced)
    if unpriced:
        raise Problem(
            422,
            "invalid-content",
            "bids for trading days without an offer",
            errors=[
                ProblemItem(
                    kind="no_price_bands",
                    duid=duid,
                    detail=f"no offer (price bands) for trading day {day}: POST /v1/offers first",
                )
                for duid, day in unpriced
            ],
        )
    check_gates([(bid.duid, bid.interval_datetime, "bid") for bid in batch], received, gate_seconds)
    versions = _next_versions(connection, unit_days)
    submission_id = _insert_submission(connection, principal, "bid", received, key)
    _insert_bids(
        connection, principal, submission_id, received, [(bid.duid, bid) for bid in batch], versions
    )
    body = submission(connection, principal, submission_id, gate_seconds)
    return body.model_dump(mode="json"), f"/v1/bids/{submission_id}", f"{len(batch)} bid(s)"


def _bid_out(row, gate_seconds: float) -> BidOut:
    fields = {name: row._mapping[name] for name in BidOut.model_fields if name in row._mapping}
    closes = gate_closes(row.interval_datetime, gate_seconds, INTERVAL_MINUTES)
    return BidOut(**fields, gate_closes_at=closes)


def submission(
    connection: Connection, principal: Principal, submission_id: int, gate_seconds: float
) -> Submission:
    """One of the caller's submissions, or 404."""
    head = connection.execute(
        select(submissions)
        .where(submissions.c.submission_id == submission_id)
        .where(submissions.c.participant_id == principal.participant_id)
    ).first()
    if head is None:
        raise Problem(404, "not-found", f"you have no submission {submission_id}")
    offer = connection.execute(
        select(
            day_offers.c.duid,
            day_offers.c.trading_date,
            day_offers.c.versionno,
            day_offers.c.received_at,
            *(day_offers.c[name] for name in PRICE_BANDS),
        ).where(day_offers.c.submission_id == submission_id)
    ).first()
    rows = connection.execute(
        select(bids).where(bids.c.submission_id == submission_id).order_by(bids.c.bid_id)
    )
    return Submission(
        submission_id=submission_id,
        kind=head.kind,
        received_at=head.received_at,
        day_offer=dict(offer._mapping) if offer else None,
        bids=[_bid_out(row, gate_seconds) for row in rows],
    )


def list_bids(
    connection: Connection,
    principal: Principal,
    duid: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    gate_seconds: float,
) -> list[BidOut]:
    """The caller's bids, by interval then as received; a unit not the caller's is 404."""
    query = callers_rows(
        connection, principal, select(bids), bids, unit_registry, "duid", duid, start, end
    )
    rows = connection.execute(
        query.order_by(bids.c.interval_datetime, bids.c.duid, bids.c.bid_id).limit(limit)
    )
    return [_bid_out(row, gate_seconds) for row in rows]
