"""Errors as RFC 9457 problem details (``application/problem+json``).

Every refusal is a :class:`Problem`: ``type`` is ``urn:bidstack:problem:<kind>``, and
``errors`` lists what is wrong item by item (a field, an interval, a file line). Content errors
reuse the kinds of the dispatch stage's checks (:mod:`bidstack.stages.dispatch`:
``missing_price``, ``negative_availability``, ``prices_not_ascending``, ``bad_ramp_rate``,
``duplicate_offer``, ...) and of the backtest's problems (``no_price_bands``); the service adds
``misaligned_interval``, ``interval_outside_trading_day``, ``interval_out_of_range`` and
``duplicate_read`` (an interval read twice in one upload of meter reads).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict

from bidstack.service.clock import NemTime

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:bidstack:problem:"


class ProblemItem(BaseModel):
    """One thing wrong: its kind and a sentence, with whatever locates it."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    detail: str
    field: str | None = None
    duid: str | None = None
    nmi: str | None = None
    interval_datetime: NemTime | None = None
    gate_closed_at: NemTime | None = None
    received_at: NemTime | None = None
    where: str | None = None


class ProblemBody(BaseModel):
    """An RFC 9457 problem details object, with the list of ``errors`` as an extension."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemItem] = []


class Problem(Exception):
    """A refusal, raised anywhere in a request and answered as problem details.

    ``audited`` is set once the refusal is in the audit log (refusals inside a write
    transaction are logged there; the others when they are answered)."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        errors: list[ProblemItem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.audited = False

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return ProblemBody(
            type=TYPE_PREFIX + self.kind,
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        ).model_dump(mode="json", exclude_none=True)


#: Headers each refusal carries, as the OpenAPI document declares them.
HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
}
DESCRIPTIONS = {
    400: "the Idempotency-Key header is missing or malformed",
    401: "no API key, an unknown or wrong key, or a revoked or expired one",
    403: "the key lacks the route's scope, or the unit or NMI is not the caller's",
    404: "no such object among the caller's",
    409: "gate closed for an interval, or the same Idempotency-Key is still in flight",
    413: "the request body is over the size limit",
    422: "the content is invalid (dispatch problem kinds), or the Idempotency-Key was used "
    "with another body",
    429: "over the key's rate limit; retry after Retry-After seconds",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of these refusal statuses, as problem details."""
    return {
        status: {
            "description": DESCRIPTIONS[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemBody"}}},
            **({"headers": HEADERS[status]} if status in HEADERS else {}),
        }
        for status in statuses
    }
