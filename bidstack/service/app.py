"""The FastAPI application and its routes.

:func:`create_app` builds it from :class:`~bidstack.service.runtime.Settings`;
``bidstack service run`` serves it with uvicorn. Routes are plain functions, run in the server's
thread pool, since the database calls are synchronous. The key check is
:mod:`~bidstack.service.auth`'s, the body size cap :mod:`~bidstack.service.body_limit`'s, and
refusals become problem details in :mod:`~bidstack.service.refusals`. Keep Numba out of this
module and of everything it imports: the request path needs none of it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from fastapi import FastAPI, File, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.io.nem12_records import MAX_PLAUSIBLE_MW, MWH_PER_UNIT
from bidstack.service import meter_data, runtime, statements, submissions
from bidstack.service.auth import Caller, audit_request
from bidstack.service.body_limit import BodyLimit
from bidstack.service.clock import nem_time
from bidstack.service.content import content_problems
from bidstack.service.nem12_upload import parse_nem12
from bidstack.service.problems import Problem, ProblemItem, responses
from bidstack.service.refusals import add_handlers, add_problem_schema
from bidstack.service.schemas import (
    BidList,
    BidsIn,
    Health,
    IsoDate,
    MarketTime,
    MeterReadList,
    MeterReadsIn,
    MeterUpload,
    OfferIn,
    ServerTime,
    Statement,
    Submission,
)

IDEMPOTENCY_KEY = Header(
    alias="Idempotency-Key",
    pattern=r"^[A-Za-z0-9._:-]{1,128}$",
    description="unique per submission; a repeat with the same body replays the first answer",
)
POSTED = responses(400, 401, 403, 409, 413, 422, 429)
READ = responses(401, 403, 404, 422, 429)
REPLAYED = {
    "Idempotent-Replayed": {"schema": {"type": "string"}, "required": False},
    "Location": {"schema": {"type": "string"}, "required": True},
}
MAX_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=10_000)]


def _fingerprint(request: Request, content: bytes) -> str:
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    digest.update(content)
    return digest.hexdigest()


def _canonical(model) -> bytes:
    return json.dumps(model.model_dump(mode="json"), sort_keys=True).encode()


def _created(outcome: runtime.Outcome) -> JSONResponse:
    headers = {"Location": outcome.location} if outcome.location else {}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


def _refuse_content(items: list[ProblemItem]) -> None:
    if items:
        raise Problem(
            422,
            "invalid-content",
            f"{len(items)} problem(s) in the content; nothing was stored",
            errors=items,
        )


def create_app(settings: runtime.Settings) -> FastAPI:
    """The application, with its own :class:`~bidstack.service.runtime.Service`."""
    app = FastAPI(
        title="bidstack market service",
        version="1",
        description="Participants submit offers, bids and meter reads, and fetch their own "
        "settlement statements. Times are period-ending NEM time (AEST, UTC+10).",
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
    )
    app.state.service = runtime.Service(settings)
    app.add_middleware(BodyLimit)
    _routes(app)
    add_handlers(app)
    add_problem_schema(app)
    return app


def _routes(app: FastAPI) -> None:
    service: runtime.Service = app.state.service
    gate = service.settings.gate_closure_seconds

    @app.post(
        "/v1/offers",
        status_code=201,
        response_model=Submission,
        responses={**POSTED, 201: {"headers": REPLAYED}},
    )
    def post_offer(
        request: Request,
        offer: OfferIn,
        principal: Caller,
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response:
        """A unit's offer for a trading day: price bands and bids (all or nothing)."""
        rows = [
            {
                "duid": offer.duid,
                "interval_datetime": bid.interval_datetime,
                **offer.model_dump(include=set(PRICE_BANDS)),
                **bid.model_dump(),
            }
            for bid in offer.bids
        ] or [  # no bids yet: the day's prices, with nothing offered
            {
                "duid": offer.duid,
                **offer.model_dump(include=set(PRICE_BANDS)),
                **dict.fromkeys(("maxavail", *BAND_VOLUMES, "rocup", "rocdown"), 0.0),
            }
        ]
        _refuse_content(content_problems(rows, prices=True))
        outcome = service.submit(
            principal,
            audit_request(request, _fingerprint(request, _canonical(offer))),
            lambda c, received: submissions.store_offer(
                c, principal, offer, received, gate, idempotency_key
            ),
        )
        return _created(outcome)

    @app.post(
        "/v1/bids",
        status_code=201,
        response_model=Submission,
        responses={**POSTED, 201: {"headers": REPLAYED}},
    )
    def post_bids(
        request: Request,
        batch: BidsIn,
        principal: Caller,
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response:
        """Rebids per interval (all or nothing; prices stay the day's)."""
        _refuse_content(content_problems([bid.model_dump() for bid in batch.bids], prices=False))
        outcome = service.submit(
            principal,
            audit_request(request, _fingerprint(request, _canonical(batch))),
            lambda c, received: submissions.store_bids(
                c, principal, batch.bids, received, gate, idempotency_key
            ),
        )
        return _created(outcome)

    @app.get("/v1/bids", response_model=BidList, responses=READ)
    def get_bids(
        principal: Caller,
        duid: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_#.-]{1,32}$")] = None,
        start: Annotated[MarketTime | None, Query(alias="from")] = None,
        end: Annotated[MarketTime | None, Query(alias="to")] = None,
        limit: Limit = 1000,
    ) -> BidList:
        """Your bids for intervals ending in (from, to], by interval."""
        with service.engine.connect() as connection:
            rows = submissions.list_bids(connection, principal, duid, start, end, limit, gate)
        return BidList(bids=rows)

    @app.get("/v1/bids/{submission_id:int}", response_model=Submission, responses=READ)
    def get_submission(principal: Caller, submission_id: RowId) -> Submission:
        """One of your submissions (an offer or a batch of rebids)."""
        with service.engine.connect() as connection:
            return submissions.submission(connection, principal, submission_id, gate)

    @app.post(
        "/v1/meter-reads",
        status_code=201,
        response_model=MeterUpload,
        responses={**POSTED, 201: {"headers": REPLAYED}},
    )
    def post_reads(
        request: Request,
        reads: MeterReadsIn,
        principal: Caller,
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response:
        """Interval reads of one NMI's data stream (all or nothing)."""
        per_hour = MWH_PER_UNIT[reads.uom.upper()] * 60 / reads.interval_minutes
        _refuse_content(
            [
                ProblemItem(
                    kind="implausible_read",
                    nmi=reads.nmi,
                    field=f"reads.{k}.value",
                    interval_datetime=read.interval_datetime,
                    detail=f"{read.value} {reads.uom} in {reads.interval_minutes} minutes "
                    f"is over {MAX_PLAUSIBLE_MW:,.0f} MW",
                )
                for k, read in enumerate(reads.reads)
                if read.value * per_hour > MAX_PLAUSIBLE_MW
            ]
        )
        outcome = service.submit(
            principal,
            audit_request(request, _fingerprint(request, _canonical(reads))),
            lambda c, received: meter_data.store_reads(
                c,
                principal,
                "json",
                None,
                meter_data.read_rows(reads, received),
                received,
                idempotency_key,
                [],
            ),
        )
        return _created(outcome)

    @app.post(
        "/v1/meter-reads/nem12",
        status_code=201,
        response_model=MeterUpload,
        responses={**POSTED, 201: {"headers": REPLAYED}},
    )
    def post_nem12(
        request: Request,
        file: Annotated[UploadFile, File()],
        principal: Caller,
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response:
        """A NEM12 file, read by bidstack's NEM12 reader (all or nothing)."""
        content = file.file.read()
        name = (file.filename or "upload.csv").replace("\\", "/").rsplit("/", 1)[-1][:200]
        rows, warnings = parse_nem12(content, name)
        outcome = service.submit(
            principal,
            audit_request(request, _fingerprint(request, content)),
            lambda c, received: meter_data.store_reads(
                c, principal, "nem12", name, rows, received, idempotency_key, warnings
            ),
        )
        return _created(outcome)

    @app.get("/v1/meter-reads", response_model=MeterReadList, responses=READ)
    def get_reads(
        principal: Caller,
        nmi: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{10,11}$")] = None,
        start: Annotated[MarketTime | None, Query(alias="from")] = None,
        end: Annotated[MarketTime | None, Query(alias="to")] = None,
        limit: Limit = 1000,
    ) -> MeterReadList:
        """Your meter reads for intervals ending in (from, to]."""
        with service.engine.connect() as connection:
            return MeterReadList(
                reads=meter_data.list_reads(connection, principal, nmi, start, end, limit)
            )

    @app.get("/v1/meter-reads/{upload_id:int}", response_model=MeterUpload, responses=READ)
    def get_upload(principal: Caller, upload_id: RowId) -> MeterUpload:
        """One of your meter uploads."""
        with service.engine.connect() as connection:
            return meter_data.upload(connection, principal, upload_id)

    statement_types = {
        "text/csv": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
    }

    @app.get(
        "/v1/statements",
        response_model=Statement,
        responses={**READ, 200: {"content": statement_types}},
    )
    def get_statements(
        principal: Caller,
        scenario: Annotated[str, Query(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")] = "baseline",
        start: Annotated[IsoDate | None, Query(alias="from")] = None,
        end: Annotated[IsoDate | None, Query(alias="to")] = None,
        format: Literal["json", "csv", "txt"] = "json",
    ) -> Response:
        """Your settlement statement in a backtest's results: the run's totals and the
        settlement dates in [from, to] (json, csv); txt is the whole statement as written."""
        results, who = service.settings.results, principal.participant_id
        if format == "csv":
            text = statements.statement_csv(results, scenario, who, start, end)
            return Response(text, media_type="text/csv")
        if format == "txt":
            return PlainTextResponse(statements.statement_text(results, scenario, who))
        body = statements.statement(results, scenario, who, start, end)
        return JSONResponse(body.model_dump(mode="json"))

    @app.get("/v1/time", response_model=ServerTime)
    def get_time() -> ServerTime:
        """The server's clock, which gate closure goes by."""
        now = service.now()
        return ServerTime(
            nem_time=nem_time(now),
            utc=now,
            gate_closure_seconds=gate,
            interval_minutes=int(submissions.INTERVAL_MINUTES),
        )

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        """Liveness."""
        return Health(status="ok")
