"""A bare grpc server running facegrid's own GateService handler: the floor the gRPC overhead per Identify is
measured against (bench/rpc_overhead.py, bench/gate.py), and the overhead of one call as the benchmarks take it."""

from __future__ import annotations

import time
from concurrent import futures
from typing import Callable

import grpc
import numpy as np

from facegrid.server.domain.callers import Caller
from facegrid.server.domain.keys import SCOPES
from facegrid.server.rpc.auth import AuthorizedContext
from facegrid.server.rpc.errors import SERVER_TIME_KEY
from facegrid.server.rpc.gate_service import GateService
from facegrid.v1 import gate_pb2, gate_pb2_grpc


def p50(values_ms: list[float]) -> float:
    """The median, in ms, rounded as the reports give it."""
    return round(float(np.median(values_ms)), 2)


def overhead_ms(identify: Callable, request: gate_pb2.IdentifyRequest, metadata, calls: int) -> list[float]:
    """Client time minus handler time (ms) of `calls` Identify calls, after one warm-up call."""
    samples = []
    for _ in range(calls + 1):
        started = time.perf_counter()
        _, call = identify.with_call(request, timeout=60, metadata=metadata)
        total = time.perf_counter() - started
        samples.append(total * 1000 - float(dict(call.trailing_metadata())[SERVER_TIME_KEY]))
    return samples[1:]


class _AllScopes(grpc.ServerInterceptor):
    """The bare server's one concession: the handler sees an all-scopes caller, as the keyless server gives it
    (a caller without scopes is refused a photo with two faces, as a gate key is)."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, caller = handler.unary_unary, Caller("", frozenset(SCOPES))
        return handler._replace(unary_unary=lambda request, context: inner(request, AuthorizedContext(context, caller)))


def bare_server(running) -> tuple[grpc.Server, int]:
    """The running server's GateService handler on a plain grpc server on loopback; the server and its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="bare-grpc"), interceptors=[_AllScopes()],
                         options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)])
    gate_pb2_grpc.add_GateServiceServicer_to_server(GateService(running.core.gate, running.metrics), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def bare_overhead(running, probe: bytes, repeats: int) -> float:
    """p50 overhead (ms) of Identify on a bare grpc server in this process running the same GateService handler."""
    server, port = bare_server(running)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            samples = overhead_ms(gate_pb2_grpc.GateServiceStub(channel).Identify, gate_pb2.IdentifyRequest(photo=probe), None,
                                  repeats)
    finally:
        server.stop(None)
    return p50(samples)
