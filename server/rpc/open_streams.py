"""Caps on the streams anyone may open without a key: gRPC health Watch and server reflection.

Each such stream holds a gRPC thread for its whole life. Uncapped, 18 idle ones opened with no key took every
thread and every Verify timed out. So they are counted per peer host and in total (beyond either cap:
RESOURCE_EXHAUSTED at once), get threads of their own on top of the gate's (`thread_count` adds the total),
and end after `idle_s` without a message either way (a watcher simply watches again).
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from typing import Iterator
from dataclasses import dataclass

import grpc

from ..domain.auth_failures import peer_host

WATCH = "/grpc.health.v1.Health/Watch"
REFLECTION = ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
OPEN_STREAMS = (WATCH, *REFLECTION)


@dataclass(frozen=True)
class OpenStreamLimits:
    """How many keyless streams the server holds at once, per peer host and in all, and for how long idle."""

    total: int = 16
    per_peer: int = 4
    idle_s: float = 300.0


class _Idle:
    """Cancels the call when neither side has sent anything for `seconds`."""

    def __init__(self, context, seconds: float) -> None:
        self._context, self._seconds = context, seconds
        self._timer: threading.Timer | None = None
        self.touch()

    def touch(self) -> None:
        self.stop()
        self._timer = threading.Timer(self._seconds, self._context.cancel)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class OpenStreams(grpc.ServerInterceptor):
    """Counts health Watch and reflection streams per peer host and in all; refuses beyond the caps."""

    def __init__(self, limits: OpenStreamLimits = OpenStreamLimits()) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._by_host: Counter[str] = Counter()
        self._total = 0

    @property
    def open(self) -> int:
        """Streams open now."""
        with self._lock:
            return self._total

    def _enter(self, context) -> str:
        host = peer_host(context.peer())
        with self._lock:
            if self._total < self.limits.total and self._by_host[host] < self.limits.per_peer:
                self._total += 1
                self._by_host[host] += 1
                return host
            full = "from your address" if self._total < self.limits.total else "in all"
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                      f"too many health-watch and reflection streams open {full}; close one, or use Health/Check")
        raise AssertionError("unreachable: abort raises")

    def _leave(self, host: str) -> None:
        with self._lock:
            self._total -= 1
            self._by_host[host] -= 1
            if not self._by_host[host]:
                del self._by_host[host]

    def intercept_service(self, continuation, handler_call_details):
        """Wrap health Watch and reflection streams so each counts against the caps while open."""
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method not in OPEN_STREAMS:
            return handler
        serial = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._watch(handler.unary_stream), **serial)
        return grpc.stream_stream_rpc_method_handler(self._reflect(handler.stream_stream), **serial)

    @contextmanager
    def _held(self, context) -> Iterator[_Idle]:
        """A slot for the stream's life (or RESOURCE_EXHAUSTED), and its idle timer."""
        host = self._enter(context)
        idle = _Idle(context, self.limits.idle_s)
        try:
            yield idle
        finally:
            idle.stop()
            self._leave(host)

    def _watch(self, behaviour):
        def capped(request, context):
            with self._held(context) as idle:
                for response in _responses(behaviour, request, context):
                    idle.touch()
                    yield response

        return capped

    def _reflect(self, behaviour):
        def capped(requests, context):
            with self._held(context) as idle:
                def touched():
                    for request in requests:
                        idle.touch()
                        yield request

                for response in behaviour(touched(), context):
                    idle.touch()
                    yield response

        return capped


def _responses(behaviour, request, context):
    """The responses of a unary-stream handler; health's Watch returns a blocking iterator when no callback is given."""
    responses = behaviour(request, context)
    return responses if responses is not None else ()
