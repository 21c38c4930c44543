"""Per-class caps over a real gRPC server: a call over its class's cap is refused at once, others go on."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest

from facegrid.server.rpc.admission import LONG_CALLS, STREAMS, Admission, CallClass, thread_count
from facegrid.server.rpc.error_details import is_overloaded

SLOW, QUICK = "/facegrid.v1.IndexService/KMeans", "/facegrid.v1.GateService/Verify"


@pytest.fixture
def served():
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow(request: bytes, context) -> bytes:
        started.release()
        release.wait(30)
        return b"slow"

    classes = {LONG_CALLS: CallClass("Cluster or KMeans calls", 1, "FACEGRID_MAX_LONG_CALLS"),
               STREAMS: CallClass("IndexPhotos streams", 1, "FACEGRID_MAX_STREAMS")}
    server = grpc.server(futures.ThreadPoolExecutor(thread_count(1, classes)), interceptors=[Admission(classes)])
    handlers = {
        "KMeans": grpc.unary_unary_rpc_method_handler(slow),
    }
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler("facegrid.v1.IndexService", handlers),
        grpc.method_handlers_generic_handler("facegrid.v1.GateService",
                                             {"Verify": grpc.unary_unary_rpc_method_handler(lambda r, c: b"quick")}),
    ])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel, release, started, classes
    release.set()
    channel.close()
    server.stop(0)


def test_a_long_call_over_the_cap_is_refused_and_short_calls_go_on(served):
    channel, release, started, classes = served
    slow, quick = channel.unary_unary(SLOW), channel.unary_unary(QUICK)
    first = slow.future(b"", timeout=30)
    assert started.acquire(timeout=10)  # the first long call holds its slot
    with pytest.raises(grpc.RpcError) as caught:
        slow(b"", timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "FACEGRID_MAX_LONG_CALLS" in caught.value.details()
    assert is_overloaded(caught.value)  # busy, not broken: ErrorInfo OVERLOADED and a RetryInfo
    assert quick(b"", timeout=10) == b"quick"  # short calls still find a thread
    release.set()
    assert first.result() == b"slow" and classes[LONG_CALLS].running == 0
    release.clear()
    follower = slow.future(b"", timeout=30)  # the slot is free again
    assert started.acquire(timeout=10)
    release.set()
    assert follower.result() == b"slow"

