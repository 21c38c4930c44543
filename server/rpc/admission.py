"""Per-class caps on concurrent calls, so that streams and long calls never take the gate's threads.

Each IndexPhotos stream holds a gRPC thread for its whole life, and a Cluster or KMeans call can
run for minutes. The server's thread pool is sized as `workers` threads for every other call plus
one per stream slot and one per long-call slot (see `thread_count`), and a call beyond its class's
cap is refused at once with RESOURCE_EXHAUSTED: so however many streams are open, Verify and
Identify always find one of the `workers` threads free of them.
"""

from __future__ import annotations

import grpc

from ..domain.call_slots import CLASS_OF, LONG_CALLS, STREAMS, CallClass, SlotsFull  # noqa: F401 (LONG_CALLS, STREAMS re-exported)
from .error_details import overload_details, status_with
from .wrapped import WrappedHandlers

# Full gRPC method names -> their class (domain/call_slots.py names them for every transport).
GRPC_CLASS_OF = {f"/facegrid.v1.{method}": name for method, name in CLASS_OF.items()}


def thread_count(workers: int, classes: dict[str, CallClass]) -> int:
    """gRPC threads: `workers` for short calls, plus one for each slot of the capped classes."""
    return workers + sum(c.cap for c in classes.values())


class Admission(grpc.ServerInterceptor):
    """Wraps the handlers of capped methods so that each call takes a slot of its class for its life."""

    def __init__(self, classes: dict[str, CallClass], class_of: dict[str, str] = GRPC_CLASS_OF) -> None:
        self.classes = classes
        self.class_of = class_of
        self._wrapped = WrappedHandlers(self._wrap)

    def intercept_service(self, continuation, handler_call_details):
        """Wrap a capped method's handler so each call holds a slot of its class while it runs."""
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method not in self.class_of:
            return handler
        return self._wrapped(handler_call_details.method, handler)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        calls = self.classes[self.class_of[method]]
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(_stream(handler.stream_stream, calls),
                                                         handler.request_deserializer, handler.response_serializer)
        if not handler.request_streaming and not handler.response_streaming:
            return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, calls),
                                                       handler.request_deserializer, handler.response_serializer)
        raise TypeError(f"{method}: only unary and bidirectional calls can be capped")


def _enter(calls: CallClass, context) -> None:
    """Take a slot, or end the call with RESOURCE_EXHAUSTED (reason OVERLOADED) when every slot is taken."""
    try:
        calls.take()
    except SlotsFull as full:
        context.abort_with_status(status_with(grpc.StatusCode.RESOURCE_EXHAUSTED, str(full), overload_details()))


def _unary(behaviour, calls: CallClass):
    def capped(request, context):
        _enter(calls, context)
        try:
            return behaviour(request, context)
        finally:
            calls.leave()

    return capped


def _stream(behaviour, calls: CallClass):
    def capped(requests, context):
        _enter(calls, context)
        try:
            yield from behaviour(requests, context)
        finally:
            calls.leave()

    return capped
