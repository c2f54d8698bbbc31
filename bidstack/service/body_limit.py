"""The body size cap: a middleware that refuses bodies over it (413) before anything reads them,
and notes the SHA-256 of every body it lets through, for the audit log.
"""

from __future__ import annotations

import hashlib

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bidstack.service import runtime
from bidstack.service.problems import MEDIA_TYPE, Problem


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
