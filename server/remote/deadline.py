"""The caller's deadline, carried to the encoder calls made on its behalf (the index role).

A Verify whose caller gives up after 2 s must not hold a gRPC thread for the encoders' full
FACEGRID_ENCODER_TIMEOUT_S when an encoder hangs: the gate's threads would run out. An interceptor notes
each unary call's deadline in a context variable of the thread that answers it; the encoder pool gives each
call to an encoder no more than what is left of it.
"""

from __future__ import annotations

import contextvars
import time

import grpc

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("facegrid_call_deadline", default=None)


def time_left() -> float | None:
    """Seconds left before the current caller's deadline; None outside a call or for a caller without one."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


class DeadlineInterceptor(grpc.ServerInterceptor):
    """Notes the deadline of every unary call (streams run for long: their encoder calls keep the pool's own)."""

    def intercept_service(self, continuation, handler_call_details):
        """Wrap each unary handler so the call's deadline is noted for the encoder calls it makes."""
        handler = continuation(handler_call_details)
        if handler is None or not handler.unary_unary:
            return handler
        behaviour = handler.unary_unary

        def noted(request, context):
            remaining = context.time_remaining()
            token = _DEADLINE.set(time.monotonic() + remaining if remaining is not None and remaining < 1e6 else None)
            try:
                return behaviour(request, context)
            finally:
                _DEADLINE.reset(token)

        return grpc.unary_unary_rpc_method_handler(noted, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)
