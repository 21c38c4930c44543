"""The body of any HTTP request is capped before a handler reads it: a declared Content-Length over the cap is
refused at once (413), and a body sent without one is cut off where it passes the cap."""

from __future__ import annotations

import json

from .problems import PROBLEM_JSON, PROBLEM_TYPES


def _too_large(limit: int) -> tuple[dict, bytes]:
    body = json.dumps({"type": PROBLEM_TYPES + "resource_exhausted", "title": "Content Too Large", "status": 413,
                       "detail": f"the request body is larger than this server takes ({limit:,} bytes, FACEGRID_MAX_MESSAGE_MB)",
                       "code": "RESOURCE_EXHAUSTED", "reason": ""}).encode()
    start = {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]}
    return start, body


class BodyTooLarge(Exception):
    """A body without a Content-Length ran past the cap."""


class BodyLimit:
    """ASGI middleware: at most `limit` bytes of body per request."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, send) -> None:
        start, body = _too_large(self.limit)
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        """Refuse a declared size over the limit; count an undeclared one as it comes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.limit
            except ValueError:
                too_large = True
            if too_large:
                await self._refuse(send)
                return
        received = 0
        started = False

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge()
            return message

        async def watched(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)
