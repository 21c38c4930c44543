"""Prometheus metrics: per-RPC latency and status codes, faces embedded, queue depths, sizes, Redis up.

Served over HTTP on `--metrics-address` (off when empty; a port alone binds loopback). Each server
has its own registry, so several servers in one process (tests, benchmarks) do not collide.
RPC figures come from a gRPC interceptor; sizes and Redis health are read at scrape time.
With FACEGRID_METRICS_KEY set, a scrape must send `Authorization: Bearer <that key>` (Prometheus:
`authorization: {credentials_file: ...}`); any other request gets 401. The metrics hold counts and
collection names, never face data; a non-loopback endpoint without a key is logged as a warning.
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
import time
from typing import Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer

from facegrid.encoder.batcher import BatcherStats

from .wrapped import WrappedHandlers

log = logging.getLogger("facegrid.server")

# Gate calls take tens of milliseconds; streams and clustering take seconds to minutes.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    """The server's metrics and the interceptor that records every RPC."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rpc_seconds = Histogram("facegrid_rpc_seconds", "Time to answer an RPC (streams: the whole stream)",
                                     ["method"], buckets=_BUCKETS, registry=self.registry)
        self.rpc_total = Counter("facegrid_rpc", "RPCs answered, by method and gRPC status code", ["method", "code"],
                                 registry=self.registry)
        self.faces = Counter("facegrid_faces_embedded", "Faces embedded (probes, enrollments, indexed photos)", ["kind"],
                             registry=self.registry)
        self.photos = Counter("facegrid_photos_indexed", "Photos through IndexPhotos, by outcome", ["outcome"],
                              registry=self.registry)
        self.in_flight = Gauge("facegrid_rpc_in_flight", "RPCs being answered now", ["method"], registry=self.registry)
        self.index_batches = Gauge("facegrid_index_batches_in_flight", "Photo batches queued or embedding in worker processes",
                                   registry=self.registry)
        self._server = None

    def watch(self, sizes: Callable[[], dict[str, float]], redis_up: Callable[[], bool] | None,
              batchers: Callable[[], list[BatcherStats]] = list) -> None:
        """Read sizes (subjects, per-collection vectors), Redis health and the model batchers' counters at each scrape
        (redis_up None: a server without Redis, the encoder role, has no facegrid_redis_up)."""
        self.registry.register(_ScrapeTimeCollector(sizes, redis_up, batchers))

    def serve(self, address: str, key: str = "") -> int:
        """Start the HTTP endpoint (host:port, or a port alone on loopback; port 0 picks one), requiring `key` as a
        bearer token where given; the port it listens on."""
        host, port = metrics_bind(address)
        app = make_wsgi_app(self.registry)

        class Server(ThreadingWSGIServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        server = make_server(host, port, _bearer_only(app, key) if key else app, Server, handler_class=_Quiet)
        threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
        if not key and host not in ("127.0.0.1", "::1", "localhost"):
            log.warning("metrics on %s:%d answer without a key: set FACEGRID_METRICS_KEY, or keep them on loopback", host,
                        server.server_port)
        self._server = server
        return server.server_port

    def stop(self) -> None:
        """Stop the metrics HTTP server, if it runs."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def interceptor(self) -> grpc.ServerInterceptor:
        """The interceptor that counts and times every RPC into these metrics."""
        return _MetricsInterceptor(self)


def metrics_bind(address: str) -> tuple[str, int]:
    """The (host, port) of a metrics address: host:port, [v6]:port, :port or a port alone (loopback)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _bearer_only(app, key: str):
    """The WSGI app behind a bearer-token check (compared in constant time); 401 otherwise."""
    expected = key.encode()

    def checked(environ, start_response):
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected):
            return app(environ, start_response)
        start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                            ("WWW-Authenticate", 'Bearer realm="facegrid metrics"')])
        return [b"401 Unauthorized: /metrics needs `Authorization: Bearer <FACEGRID_METRICS_KEY>`\n"]

    return checked


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - no access log line per scrape
        pass


class _ScrapeTimeCollector:
    def __init__(self, sizes: Callable[[], dict[str, float]], redis_up: Callable[[], bool] | None,
                 batchers: Callable[[], list[BatcherStats]]) -> None:
        self._sizes, self._redis_up, self._batchers = sizes, redis_up, batchers

    def describe(self):
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._redis_up is not None:
            up = GaugeMetricFamily("facegrid_redis_up", "1 when Redis answers a PING")
            try:
                up.add_metric([], 1.0 if self._redis_up() else 0.0)
            except Exception:  # noqa: BLE001 - a scrape never fails because Redis is down
                up.add_metric([], 0.0)
            yield up
        sizes = GaugeMetricFamily("facegrid_vectors", "Vectors held: gate subjects and each collection", labels=["collection"])
        try:
            for name, count in self._sizes().items():
                sizes.add_metric([name], float(count))
        except Exception:  # noqa: BLE001
            log.debug("sizes unavailable at scrape", exc_info=True)
        yield sizes
        yield from _batcher_metrics(self._batchers())


def _batcher_metrics(stats: list[BatcherStats]) -> Iterator:
    """Model runs, items and refusals of each batcher (mean batch = items / runs), and items queued now."""
    runs = CounterMetricFamily("facegrid_batch_runs", "Model runs by the batcher of a model (part)", labels=["model"])
    items = CounterMetricFamily("facegrid_batch_items", "Items run by the batcher of a model (part)", labels=["model"])
    failed = CounterMetricFamily("facegrid_batch_failed_runs", "Model runs that raised, by batcher", labels=["model"])
    queued = GaugeMetricFamily("facegrid_batch_queued", "Items waiting in a model's batcher now", labels=["model"])
    for stat in stats:
        runs.add_metric([stat.name], stat.batches)
        items.add_metric([stat.name], stat.items)
        failed.add_metric([stat.name], stat.failed_batches)
        queued.add_metric([stat.name], stat.queued)
    yield from (runs, items, failed, queued)


def _code_of(context) -> str:
    code = context.code() if hasattr(context, "code") else None
    return code.name if isinstance(code, grpc.StatusCode) else "OK"


class _MethodMetrics:
    """One method's metric children, looked up once: `labels()` takes a lock and hashes its labels on every call."""

    def __init__(self, metrics: Metrics, method: str) -> None:
        self.in_flight = metrics.in_flight.labels(method)
        self.seconds = metrics.rpc_seconds.labels(method)
        self._total = metrics.rpc_total
        self._method = method
        self._codes: dict[str, object] = {}

    def answered(self, code: str):
        """The counter of this method's answers with `code`."""
        counter = self._codes.get(code)
        if counter is None:
            counter = self._codes[code] = self._total.labels(self._method, code)
        return counter


class _MetricsInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._wrapped = WrappedHandlers(self._wrap)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return self._wrapped(handler_call_details.method, handler)

    def _wrap(self, full_method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        m = _MethodMetrics(self.metrics, full_method.rsplit("/", 1)[-1])

        def finish(context, started: float, failed: bool) -> None:
            m.in_flight.dec()
            m.seconds.observe(time.perf_counter() - started)
            code = _code_of(context)
            m.answered("UNKNOWN" if failed and code == "OK" else code).inc()

        def unary(behaviour):
            def wrapped(request, context):
                started, failed = time.perf_counter(), False
                m.in_flight.inc()
                try:
                    return behaviour(request, context)
                except Exception:
                    failed = True
                    raise
                finally:
                    finish(context, started, failed)
            return wrapped

        def streaming(behaviour):
            def wrapped(request, context):
                started, failed = time.perf_counter(), False
                m.in_flight.inc()
                try:
                    yield from behaviour(request, context)
                except Exception:
                    failed = True
                    raise
                finally:
                    finish(context, started, failed)
            return wrapped

        if handler.unary_unary:
            return handler._replace(unary_unary=unary(handler.unary_unary))
        if handler.stream_unary:
            return handler._replace(stream_unary=unary(handler.stream_unary))
        if handler.unary_stream:
            return handler._replace(unary_stream=streaming(handler.unary_stream))
        if handler.stream_stream:
            return handler._replace(stream_stream=streaming(handler.stream_stream))
        return handler
