"""Requests that are not valid protobuf: INVALID_ARGUMENT and one log line, never INTERNAL with a traceback.

gRPC's own deserializer failure ends the call INTERNAL and logs a traceback per call, so garbage bytes could
fill the log and look like a server bug. Here every handler's deserializer keeps the failure as a value,
and the call is ended with INVALID_ARGUMENT before any handler (or key check) sees it. The log gets at most
one line a second, with how many more arrived meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import grpc

from .wrapped import WrappedHandlers

log = logging.getLogger("facegrid.server")


@dataclass(frozen=True)
class Malformed:
    """Bytes that did not parse as the method's request message."""

    error: str


def _tolerant(deserializer):
    def read(data: bytes):
        try:
            return deserializer(data)
        except Exception as error:  # noqa: BLE001 - any parse failure is the caller's bytes, not our bug
            return Malformed(f"{type(error).__name__}: {error}"[:200])

    return read


class _OneLineASecond:
    """Logs the first malformed call of each second, counting the rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0.0
        self._quiet = 0

    def note(self, method: str, peer: str, malformed: Malformed) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < 1.0:
                self._quiet += 1
                return
            quiet, self._quiet, self._last = self._quiet, 0, now
        more = f" ({quiet} more since the last line)" if quiet else ""
        log.warning("malformed request to %s from %s: %s%s", method, peer, malformed.error, more)


class MalformedRequests(grpc.ServerInterceptor):
    """Ends calls whose request bytes do not parse with INVALID_ARGUMENT."""

    def __init__(self) -> None:
        self._log = _OneLineASecond()
        self._wrapped = WrappedHandlers(self._wrap)

    def _refuse(self, method: str, malformed: Malformed, context) -> None:
        self._log.note(method, context.peer(), malformed)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"the request is not a valid message for {method.rsplit('/', 1)[-1]}: {malformed.error}")

    def intercept_service(self, continuation, handler_call_details):
        """Wrap each handler so a request that does not parse ends with INVALID_ARGUMENT."""
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        return self._wrapped(handler_call_details.method, handler)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        serial = dict(request_deserializer=_tolerant(handler.request_deserializer) if handler.request_deserializer else None,
                      response_serializer=handler.response_serializer)

        def one(behaviour):
            def checked(request, context):
                if isinstance(request, Malformed):
                    self._refuse(method, request, context)
                return behaviour(request, context)

            return checked

        def many(behaviour):
            def checked(requests, context):
                def parsed():
                    for request in requests:
                        if isinstance(request, Malformed):
                            self._refuse(method, request, context)
                        yield request

                return behaviour(parsed(), context)

            return checked

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(one(handler.unary_unary), **serial)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(one(handler.unary_stream), **serial)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(many(handler.stream_unary), **serial)
        return grpc.stream_stream_rpc_method_handler(many(handler.stream_stream), **serial)
