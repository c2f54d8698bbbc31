"""The FastAPI application: routes, authentication, limits, and problem details.

:func:`create_app` builds it from :class:`~bidstack.service.runtime.Settings`;
``bidstack service run`` serves it with uvicorn. Routes are plain functions, run in the server's
thread pool, since the database calls are synchronous. Keep Numba out of this module and of
everything it imports: the request path needs none of it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated, Literal

from fastapi import FastAPI, File, Header, Path, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.io.nem12 import MAX_PLAUSIBLE_MW, MWH_PER_UNIT
from bidstack.service import runtime, statements, submissions
from bidstack.service.clock import nem_time
from bidstack.service.content import content_problems
from bidstack.service.keys import Principal, authenticate
from bidstack.service.nem12_upload import parse_nem12
from bidstack.service.problems import MEDIA_TYPE, Problem, ProblemBody, ProblemItem, responses
from bidstack.service.schemas import (
    BidList,
    BidsIn,
    Health,
    MarketTime,
    MeterReadList,
    MeterReadsIn,
    MeterUpload,
    OfferIn,
    ServerTime,
    Statement,
    Submission,
)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="`Authorization: Bearer bsk_<key_id>_<secret>` (bidstack service key create)",
)
IDEMPOTENCY_KEY = Header(
    alias="Idempotency-Key",
    pattern=r"^[A-Za-z0-9._:-]{1,128}$",
    description="unique per submission; a repeat with the same body replays the first answer",
)
#: The scope each route needs, and the rate limit it counts against.
ROUTES = {
    ("POST", "/v1/offers"): ("bids:write", "write"),
    ("POST", "/v1/bids"): ("bids:write", "write"),
    ("GET", "/v1/bids"): ("bids:write", "read"),
    ("GET", "/v1/bids/{submission_id}"): ("bids:write", "read"),
    ("POST", "/v1/meter-reads"): ("meter:write", "write"),
    ("POST", "/v1/meter-reads/nem12"): ("meter:write", "upload"),
    ("GET", "/v1/meter-reads"): ("meter:write", "read"),
    ("GET", "/v1/meter-reads/{upload_id}"): ("meter:write", "read"),
    ("GET", "/v1/statements"): ("statements:read", "read"),
}
POSTED = responses(400, 401, 403, 409, 413, 422, 429)
READ = responses(401, 403, 404, 422, 429)
REPLAYED = {
    "Idempotent-Replayed": {"schema": {"type": "string"}, "required": False},
    "Location": {"schema": {"type": "string"}, "required": True},
}
CUSTOM_KINDS = {"misaligned_interval", "interval_outside_trading_day", "interval_out_of_range"}
MAX_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=10_000)]


def _service(request: Request) -> runtime.Service:
    return request.app.state.service


def _request(request: Request, fingerprint: str | None = None) -> runtime.Request:
    key = request.headers.get("idempotency-key")
    return runtime.Request(
        method=request.method,
        path=request.url.path,
        request_sha256=getattr(request.state, "body_sha256", None),
        idempotency_key=key[:128] if key else None,
        fingerprint=fingerprint,
    )


def _route(request: Request) -> tuple[str, str] | None:
    route = request.scope.get("route")
    return ROUTES.get((request.method, getattr(route, "path_format", "")))


def authorize(request: Request, token: str | None) -> Principal:
    """The caller's principal for this route: 401 without a usable key, 403 without the
    route's scope, 429 over its rate limit; each refusal is logged before it is raised."""
    service = _service(request)
    scope, rate = _route(request)
    principal, key_id, why = None, None, "no key"
    if token:
        with service.engine.connect() as connection:
            principal, key_id, why = authenticate(
                connection, service.pepper, token, nem_time(service.now())
            )
    if principal is None:
        problem = Problem(
            401,
            "unauthorized",
            "send a valid API key: Authorization: Bearer bsk_<key_id>_<secret> "
            "(it is missing, unknown, wrong, revoked or expired)",
            headers={"WWW-Authenticate": 'Bearer realm="bidstack"'},
        )
        service.record_refusal(
            _request(request), problem, None, key_id, outcome=f"unauthorized: {why}"
        )
        raise problem
    request.state.principal = principal
    if scope not in principal.scopes:
        problem = Problem(403, "insufficient-scope", f"this key lacks the scope {scope}")
        service.record_refusal(_request(request), problem, principal)
        raise problem
    wait = service.rate_limit(principal, rate)
    if wait is not None:
        problem = Problem(
            429,
            "rate-limited",
            f"over this key's {rate} rate limit",
            headers={"Retry-After": str(wait)},
        )
        service.record_refusal(_request(request), problem, principal)
        raise problem
    return principal


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal:
    return authorize(request, credentials.credentials if credentials else None)


Caller = Annotated[Principal, Security(caller)]


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
    _handlers(app)
    _openapi(app)
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
        received = nem_time(service.now())
        outcome = service.submit(
            principal,
            _request(request, _fingerprint(request, _canonical(offer))),
            lambda c: submissions.store_offer(c, principal, offer, received, gate, idempotency_key),
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
        received = nem_time(service.now())
        outcome = service.submit(
            principal,
            _request(request, _fingerprint(request, _canonical(batch))),
            lambda c: submissions.store_bids(
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
        received = nem_time(service.now())
        rows = submissions.read_rows(reads, received)
        outcome = service.submit(
            principal,
            _request(request, _fingerprint(request, _canonical(reads))),
            lambda c: submissions.store_reads(
                c, principal, "json", None, rows, received, idempotency_key, []
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
        received = nem_time(service.now())
        outcome = service.submit(
            principal,
            _request(request, _fingerprint(request, content)),
            lambda c: submissions.store_reads(
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
                reads=submissions.list_reads(connection, principal, nmi, start, end, limit)
            )

    @app.get("/v1/meter-reads/{upload_id:int}", response_model=MeterUpload, responses=READ)
    def get_upload(principal: Caller, upload_id: RowId) -> MeterUpload:
        """One of your meter uploads."""
        with service.engine.connect() as connection:
            return submissions.upload(connection, principal, upload_id)

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
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
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


def _problem_response(request: Request, problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=problem.headers,
    )


def _kind(error: dict) -> str:
    """A validation error's problem kind: the dispatch stage's, where the field is a bid's."""
    field = next((part for part in reversed(error["loc"]) if isinstance(part, str)), "")
    if error["type"] in CUSTOM_KINDS:
        return error["type"]
    if field in PRICE_BANDS:
        return "missing_price"
    if field in (*BAND_VOLUMES, "maxavail"):
        negative = error["type"] == "greater_than_equal"
        return "negative_availability" if negative else "missing_availability"
    if field in ("rocup", "rocdown"):
        return "bad_ramp_rate"
    return "invalid_field"


def _handlers(app: FastAPI) -> None:
    service: runtime.Service = app.state.service

    @app.exception_handler(Problem)
    async def problem(request: Request, problem: Problem) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        await run_in_threadpool(service.record_refusal, _request(request), problem, principal)
        return _problem_response(request, problem)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        if principal is None and _route(request) is not None:
            # the body could not be read before the key was checked: check it now
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            bearer_token = token.strip() if scheme.lower() == "bearer" else None
            try:
                principal = await run_in_threadpool(authorize, request, bearer_token)
            except Problem as refused:
                return _problem_response(request, refused)
        errors = exc.errors()
        keyed = [e for e in errors if e["loc"][:2] == ("header", "Idempotency-Key")]
        if keyed:
            refusal = Problem(
                400,
                "idempotency-key-missing",
                "every POST needs an Idempotency-Key header of 1 to 128 letters, digits or ._:-",
            )
        else:
            items = [
                ProblemItem(
                    kind=_kind(e), detail=e["msg"], field=".".join(str(p) for p in e["loc"])
                )
                for e in errors
            ]
            refusal = Problem(
                422,
                "invalid-content",
                f"{len(items)} problem(s) in the request; nothing was stored",
                errors=items,
            )
        await run_in_threadpool(service.record_refusal, _request(request), refusal, principal)
        return _problem_response(request, refusal)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only its first route's
            headers["Allow"] = ", ".join(_methods(app, request.url.path))
        problem = Problem(exc.status_code, kind, str(exc.detail), headers=headers)
        return _problem_response(request, problem)


def _methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document gives for a path."""
    methods = set()
    for route in app.routes:
        if getattr(route, "include_in_schema", False) and route.path_regex.match(path):
            methods |= set(route.methods) - {"HEAD"}
    return sorted(methods)


def _openapi(app: FastAPI) -> None:
    """Add the problem details' schema to the OpenAPI document the routes refer to."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            problem = ProblemBody.model_json_schema(
                ref_template="#/components/schemas/{model}", mode="serialization"
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(problem.pop("$defs", {}))
            components["ProblemBody"] = problem
        return app.openapi_schema or schema

    app.openapi = openapi


class BodyLimit:
    """Refuse bodies over the size cap (413) before anything reads them, and note the
    SHA-256 of every body (``request.state.body_sha256``) for the audit log."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service: runtime.Service = scope["app"].state.service
        limit = service.settings.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        chunks, size = [], 0
        too_large = declared.isdigit() and int(declared) > limit
        while not too_large:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            too_large = size > limit
            if not message.get("more_body", False):
                break
        if too_large:
            await self._refuse(scope, receive, send, service, limit)
            return
        body = b"".join(chunks)
        scope.setdefault("state", {})["body_sha256"] = hashlib.sha256(body).hexdigest()
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope, receive, send, service: runtime.Service, limit: int) -> None:
        problem = Problem(413, "too-large", f"the request body is over {limit:,} bytes")
        request = runtime.Request(scope["method"], scope["path"], None)
        await run_in_threadpool(service.record_refusal, request, problem, None)
        response = JSONResponse(
            problem.body(scope["path"]),
            status_code=413,
            media_type=MEDIA_TYPE,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
