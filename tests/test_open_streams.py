"""Keyless abuse: streams anyone may open without a key (health Watch, reflection) never starve the gate, and
bytes that are not protobuf get INVALID_ARGUMENT and one log line.

Before the caps, 18 idle Watch streams opened with no key took every gRPC thread and every Verify timed out.
Here 200 are attempted against a real server listening on both IPv4 and IPv6 loopback (two peer hosts):
the caps hold (per peer host, and in all), the rest are refused at once, Verify still answers, and an idle
stream is ended.
"""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helpers import running_server

PER_PEER, TOTAL, IDLE_S = 4, 6, 3


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    env = {"FACEGRID_MAX_OPEN_STREAMS": str(TOTAL), "FACEGRID_MAX_OPEN_STREAMS_PER_PEER": str(PER_PEER),
           "FACEGRID_OPEN_STREAM_IDLE_S": str(IDLE_S)}
    photos = sorted((faces_dir / "face_recognition" / "biden").iterdir())
    with running_server(tmp_path_factory.mktemp("streams"), env, args=["--address", "[::]:0", "--insecure"]) as server:
        with server.client(timeout=120) as client:
            client.enroll("biden", [photos[0].read_bytes()])
        server.probe = photos[-1].read_bytes()
        yield server


def open_watch(channel):
    """A health Watch stream, and a way to tell whether the server let it stay open."""
    stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
    return stream


def first_or_code(stream):
    """The stream's first message's status, or the status code it ended with."""
    try:
        return next(stream).status
    except grpc.RpcError as error:
        return error.code()


def test_verify_answers_while_200_keyless_streams_are_tried_and_the_caps_hold(server):
    port = server.address.rsplit(":", 1)[1]
    ipv4 = grpc.insecure_channel(f"127.0.0.1:{port}")
    ipv6 = grpc.insecure_channel(f"[::1]:{port}")
    streams = []
    try:
        ipv4_results = []
        for _ in range(100):
            stream = open_watch(ipv4)
            streams.append(stream)
            ipv4_results.append(first_or_code(stream))
        ipv6_results = []
        for _ in range(100):
            stream = open_watch(ipv6)
            streams.append(stream)
            ipv6_results.append(first_or_code(stream))
        serving = health_pb2.HealthCheckResponse.SERVING
        # One peer host gets PER_PEER streams; the other what is left of TOTAL.
        assert ipv4_results.count(serving) == PER_PEER
        assert ipv6_results.count(serving) == TOTAL - PER_PEER
        refused = [r for r in ipv4_results + ipv6_results if r != serving]
        assert refused and set(refused) == {grpc.StatusCode.RESOURCE_EXHAUSTED}

        with server.client(timeout=10, retries=0) as client:
            for _ in range(3):
                assert client.verify("biden", server.probe).match
        # Health/Check stays open to everyone, however many watches are open.
        check = health_pb2_grpc.HealthStub(ipv4).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert check.status == serving
    finally:
        for stream in streams:
            stream.cancel()
        ipv4.close()
        ipv6.close()


def test_an_idle_stream_is_ended_and_its_slot_given_back(server):
    channel = grpc.insecure_channel(server.local_address)
    try:
        stream = open_watch(channel)
        assert first_or_code(stream) == health_pb2.HealthCheckResponse.SERVING
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as ended:
            next(stream)  # nothing changes: the server ends the stream once it has been idle IDLE_S
        assert ended.value.code() == grpc.StatusCode.CANCELLED
        assert IDLE_S - 1 <= time.monotonic() - started <= IDLE_S + 10
        # Every slot is free again: a full peer's worth of streams opens.
        again = [open_watch(channel) for _ in range(PER_PEER)]
        assert [first_or_code(s) for s in again] == [health_pb2.HealthCheckResponse.SERVING] * PER_PEER
        for s in again:
            s.cancel()
    finally:
        channel.close()


def test_reflection_is_off_unless_asked_for(server):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.local_address) as channel:
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        with pytest.raises(grpc.RpcError) as refused:
            list(replies)
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_malformed_request_bytes_are_invalid_argument_with_one_log_line(server):
    raw = dict(request_serializer=lambda data: data, response_deserializer=lambda data: data)
    garbage = b"\xff\xff\xff\xff\x0f not a protobuf"
    with grpc.insecure_channel(server.local_address) as channel:
        verify = channel.unary_unary("/facegrid.v1.GateService/Verify", **raw)
        for _ in range(20):
            with pytest.raises(grpc.RpcError) as refused:
                verify(garbage, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "not a valid message for Verify" in refused.value.details()
        stream = channel.stream_stream("/facegrid.v1.EncoderService/EmbedStream", **raw)
        with pytest.raises(grpc.RpcError) as refused:
            list(stream(iter([garbage]), timeout=10))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # The server is fine: a well-formed call right after is answered.
        with server.client(timeout=30) as client:
            assert client.verify("biden", server.probe).match
    log = (server.data_dir / "server.log").read_text()
    assert "Traceback" not in log and "Exception deserializing" not in log
    assert 1 <= log.count("malformed request to ") <= 5  # a line a second at most, not one per call
