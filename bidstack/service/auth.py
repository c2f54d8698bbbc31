"""Who is calling: the API key of a request, checked against its route's scope and rate limit.

Every refusal here (401, 403, 429) is logged in the audit log before it is raised.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bidstack.service import runtime
from bidstack.service.clock import nem_time
from bidstack.service.keys import Principal, authenticate
from bidstack.service.problems import Problem

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="`Authorization: Bearer bsk_<key_id>_<secret>` (bidstack service key create)",
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


def service_of(request: Request) -> runtime.Service:
    """The running service the request came to."""
    return request.app.state.service


def audit_request(request: Request, fingerprint: str | None = None) -> runtime.Request:
    """What the audit log and idempotency keep of the request."""
    key = request.headers.get("idempotency-key")
    return runtime.Request(
        method=request.method,
        path=request.url.path,
        request_sha256=getattr(request.state, "body_sha256", None),
        idempotency_key=key[:128] if key else None,
        fingerprint=fingerprint,
    )


def route_of(request: Request) -> tuple[str, str] | None:
    """The scope the request's route needs and its rate class (``None`` off the routes)."""
    route = request.scope.get("route")
    return ROUTES.get((request.method, getattr(route, "path_format", "")))


def authorize(request: Request, token: str | None) -> Principal:
    """The caller's principal for this route: 401 without a usable key, 403 without the
    route's scope, 429 over its rate limit; each refusal is logged before it is raised."""
    service = service_of(request)
    scope, rate = route_of(request)
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
            audit_request(request), problem, None, key_id, outcome=f"unauthorized: {why}"
        )
        raise problem
    request.state.principal = principal
    if scope not in principal.scopes:
        problem = Problem(403, "insufficient-scope", f"this key lacks the scope {scope}")
        service.record_refusal(audit_request(request), problem, principal)
        raise problem
    wait = service.rate_limit(principal, rate)
    if wait is not None:
        problem = Problem(
            429,
            "rate-limited",
            f"over this key's {rate} rate limit",
            headers={"Retry-After": str(wait)},
        )
        service.record_refusal(audit_request(request), problem, principal)
        raise problem
    return principal


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal:
    return authorize(request, credentials.credentials if credentials else None)


Caller = Annotated[Principal, Security(caller)]
