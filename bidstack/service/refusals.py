"""Every refusal as problem details (RFC 9457): the application's exception handlers, which log
each refusal in the audit log, and the problem schema in the OpenAPI document.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.service import runtime
from bidstack.service.auth import audit_request, authorize, route_of
from bidstack.service.problems import MEDIA_TYPE, Problem, ProblemBody, ProblemItem

CUSTOM_KINDS = {
    "misaligned_interval",
    "interval_outside_trading_day",
    "interval_out_of_range",
    "duplicate_read",
}


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    """The problem as an ``application/problem+json`` response."""
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


def add_handlers(app: FastAPI) -> None:
    service: runtime.Service = app.state.service

    @app.exception_handler(Problem)
    async def problem(request: Request, problem: Problem) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        await run_in_threadpool(service.record_refusal, audit_request(request), problem, principal)
        return problem_response(request, problem)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        if principal is None and route_of(request) is not None:
            # the body could not be read before the key was checked: check it now
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            bearer_token = token.strip() if scheme.lower() == "bearer" else None
            try:
                principal = await run_in_threadpool(authorize, request, bearer_token)
            except Problem as refused:
                return problem_response(request, refused)
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
        await run_in_threadpool(service.record_refusal, audit_request(request), refusal, principal)
        return problem_response(request, refusal)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only its first route's
            headers["Allow"] = ", ".join(_methods(app, request.url.path))
        problem = Problem(exc.status_code, kind, str(exc.detail), headers=headers)
        return problem_response(request, problem)


def _methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document gives for a path."""
    methods = set()
    for route in app.routes:
        if getattr(route, "include_in_schema", False) and route.path_regex.match(path):
            methods |= set(route.methods) - {"HEAD"}
    return sorted(methods)


def add_problem_schema(app: FastAPI) -> None:
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
