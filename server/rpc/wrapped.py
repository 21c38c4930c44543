"""Handlers an interceptor wrapped, made once per method instead of once per call.

gRPC runs every interceptor's `intercept_service` for every call, on its polling thread, before the call reaches a
worker thread: five interceptors each building a new handler (closures and a named tuple) cost ~0.1 ms of every
call on this 2-core box (docs/benchmarks.md, issue 24). A wrapper that depends only on the method and on the handler
inside can be kept: it is made again whenever the handler inside is another object (an interceptor further in that
wraps per call).
"""

from __future__ import annotations

from typing import Callable

import grpc

Wrap = Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]


class WrappedHandlers:
    """`wrap(method, handler)`, remembered per method while `handler` stays the same object."""

    def __init__(self, wrap: Wrap) -> None:
        self._wrap = wrap
        # method -> (the handler inside, its wrapper); only methods the server has (None handlers are never wrapped)
        self._made: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def __call__(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The wrapper of `handler` for `method`, made now or kept from an earlier call."""
        made = self._made.get(method)
        if made is None or made[0] is not handler:
            made = self._made[method] = (handler, self._wrap(method, handler))
        return made[1]
