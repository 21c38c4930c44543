"""HTTP requests in the server's Prometheus registry, beside gRPC's RPCs: time and status by route template (never
by raw path, whose ids would grow the label set without bound)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class HttpMetrics:
    """ASGI middleware: counts every request by method, route and status, and times it."""

    def __init__(self, app, registry: CollectorRegistry) -> None:
        self.app = app
        self.seconds = Histogram("facegrid_http_seconds", "Time to answer an HTTP request", ["route"], buckets=_BUCKETS,
                                 registry=registry)
        self.total = Counter("facegrid_http_requests", "HTTP requests answered, by method, route and status",
                             ["method", "route", "status"], registry=registry)

    async def __call__(self, scope, receive, send) -> None:
        """Time the request and count its status under its route's template."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def noted(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            route = getattr(scope.get("route"), "path", None) or ("/ui/static" if scope["path"].startswith("/ui/static/")
                                                                  else "unmatched")
            self.seconds.labels(route).observe(time.perf_counter() - started)
            self.total.labels(scope["method"], route, str(status[0])).inc()
