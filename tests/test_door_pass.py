"""`facegrid gate` against a real `facegrid serve` (liveness off, one person enrolled from the video).

A server without the Pass RPC yet answers UNIMPLEMENTED: the door must deny (SERVER_UNAVAILABLE, the code
in `error`). With Pass, the enrolled person is accepted and a stranger is not. Each test skips with the
reason when the server it needs is not the one running (detected by calling Pass).
"""

from __future__ import annotations

import json

import grpc
import pytest

cv2 = pytest.importorskip("cv2", reason="the door client needs OpenCV (pip install 'facegrid[door]')")

from door_helpers import pad_video  # noqa: E402
from helpers import ServerProcess, facegrid  # noqa: E402

from facegrid.clients.door.sources import read_video  # noqa: E402
from facegrid.v1 import gate_pb2, gate_pb2_grpc  # noqa: E402

APPROACH = "videos_apfol/live/real2.webm"
STRANGER = "videos_crop_lestari/live/real.mp4"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module, the approach's person enrolled from a frame late in the video."""
    video = pad_video(APPROACH)
    server = ServerProcess(tmp_path_factory.mktemp("door-server") / "data", env={"FACEGRID_LIVENESS": "off"}).start()
    try:
        photo = next(image for image, seconds in read_video(str(video)) if seconds >= 9.0)
        with server.client(timeout=60) as client:
            client.enroll("apfol", [cv2.imencode(".jpg", photo)[1].tobytes()])
        yield server
    finally:
        server.kill()


def has_pass(server) -> bool:
    """Whether the server implements Pass (an empty request is refused as INVALID_ARGUMENT, not UNIMPLEMENTED)."""
    with grpc.insecure_channel(server.local_address) as channel:
        try:
            gate_pb2_grpc.GateServiceStub(channel).Pass(gate_pb2.PassRequest(), timeout=30)
        except grpc.RpcError as error:
            return error.code() != grpc.StatusCode.UNIMPLEMENTED
    return True


def gate(server, video: str) -> list[dict]:
    run = facegrid("gate", "--video", str(pad_video(video)), "--as-fast-as-possible", "--json", "--door", "lobby",
                   "--server", server.local_address, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def test_a_server_without_pass_is_a_deny(server):
    if has_pass(server):
        pytest.skip("this server implements Pass")
    lines = gate(server, APPROACH)
    assert lines and all(d["decision"] == "DENY" and d["reason"] == "SERVER_UNAVAILABLE" for d in lines)
    assert all(d["error"].startswith("UNIMPLEMENTED") for d in lines)


def test_the_enrolled_person_is_accepted_and_a_stranger_is_not(server):
    if not has_pass(server):
        pytest.skip("the server has no Pass RPC yet (UNIMPLEMENTED)")
    lines = gate(server, APPROACH)   # accepted once; a second ACCEPT only if the first took seconds to come
    assert 1 <= len(lines) <= 2
    for accepted in lines:
        assert accepted["decision"] == "ACCEPT" and accepted["reason"] == "ADMITTED" and accepted["subject"] == "apfol"
        assert accepted["door"] == "lobby" and accepted["frames"] >= 2
    stranger = gate(server, STRANGER)
    assert stranger and all(d["decision"] == "DENY" and d["subject"] is None for d in stranger)
