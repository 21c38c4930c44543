"""Typed errors to gRPC statuses: the kind (domain/error_kinds.py, shared with every transport) names the code."""

from __future__ import annotations

import functools
import time

import grpc

from ..domain.error_kinds import ErrorKind, caller_message, kind_of, log_failure
from .error_details import details_of, status_with


def status_code(kind: ErrorKind) -> grpc.StatusCode:
    """The gRPC status code of a kind of failure (the same name)."""
    return grpc.StatusCode[kind.name]


def status_of(error: BaseException | None) -> grpc.StatusCode:
    """The gRPC status code of an error (domain/error_kinds.py decides its kind)."""
    return status_code(kind_of(error))


SERVER_TIME_KEY = "facegrid-server-ms"


def grpc_errors(method):
    """Decorator for servicer methods: typed errors become status codes; the server keeps running.

    Every answer carries the handler's own time in trailing metadata
    (`facegrid-server-ms`), so a client can tell server work from transport.
    """

    @functools.wraps(method)
    def wrapper(self, request, context):
        started = time.perf_counter()
        try:
            reply = method(self, request, context)
            context.set_trailing_metadata(((SERVER_TIME_KEY, f"{(time.perf_counter() - started) * 1000:.3f}"),))
            return reply
        except Exception as error:  # noqa: BLE001 - every error becomes a status, none kills the server
            _abort(context, error, method.__name__)

    return wrapper


def grpc_stream_errors(method):
    """Decorator for servicer methods that answer with a stream: as `grpc_errors`, for the error that ends it."""

    @functools.wraps(method)
    def wrapper(self, requests, context):
        try:
            yield from method(self, requests, context)
        except Exception as error:  # noqa: BLE001 - every error becomes a status, none kills the server
            if not context.is_active():
                return  # the caller has gone (cancelled): nobody reads a status
            _abort(context, error, method.__name__)

    return wrapper


def _abort(context, error: Exception, name: str) -> None:
    """End the call with the error's status code, message and details."""
    kind = kind_of(error)
    log_failure(name, error, kind)
    code, message = status_code(kind), caller_message(error, kind)
    details = details_of(error)
    if details:  # machine-readable reasons beside the message (error_details.py)
        context.abort_with_status(status_with(code, message, details))
    context.abort(code, message)
