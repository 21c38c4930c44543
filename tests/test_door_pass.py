"""The door end to end: `facegrid gate --video` against a real `facegrid serve` and a real MQTT broker.

The server runs with liveness required (the default) and MiniFASNet imported from the operator's checkpoints in
../shared/data/pad; two people are enrolled from frames of their videos, one in the door's group and one not.
Played through the door client: the student is accepted, the visitor denied NOT_ALLOWED_HERE, a stranger denied,
a phone replay of the student denied as a presentation attack; the decision reaches MQTT and a signed webhook;
and once the server is stopped mid-run, every later decision is SERVER_UNAVAILABLE, never an accept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

cv2 = pytest.importorskip("cv2", reason="the door client needs OpenCV (pip install 'facegrid[door]')")
pytest.importorskip("paho.mqtt", reason="the door client needs paho-mqtt (pip install 'facegrid[door]')")

from helpers import Mosquitto, WebhookReceiver, facegrid, make_keys, pad_video, running_server  # noqa: E402

from facegrid.clients.door.crops import encode_jpeg, face_crop  # noqa: E402
from facegrid.clients.door.detector import FaceDetector  # noqa: E402
from facegrid.clients.door.outputs import verify_signature  # noqa: E402
from facegrid.clients.door.sources import read_video  # noqa: E402
from facegrid.evaluation.datasets import DatasetMissing, pad_dir  # noqa: E402

STUDENT = "videos_apfol/live/real2.webm"
REPLAY = "videos_apfol/spoof/fake2.webm"  # the same person on a phone held to the webcam
VISITOR = "videos_crop_lestari/live/real.mp4"
STRANGER = "videos_crop_tranvanluyt/live/real.mp4"
CHECKPOINTS = ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth")


def frame_at(video: str, seconds: float) -> bytes:
    """An enrollment photo from the video: the frame at `seconds`, cut to its largest face as the door would send it
    (one of these videos has a face-like doorway in the background)."""
    image = next(image for image, at in read_video(str(pad_video(video))) if at >= seconds)
    largest = max(FaceDetector().detect(image), key=lambda face: face.width)
    return encode_jpeg(face_crop(image, largest.box))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with MiniFASNet imported and liveness required; the student and the visitor enrolled; door `lobby`
    admits students. An admin key is made first (as an operator would), so every call here needs a key."""
    try:
        pad = pad_dir()
    except DatasetMissing as missing:
        pytest.skip(f"presentation-attack recordings and MiniFASNet weights not available: {missing}")
    pytest.importorskip("torch", reason="importing MiniFASNet needs torch (pip install 'facegrid[import]')")
    folder = tmp_path_factory.mktemp("door-e2e")
    imported = facegrid("models", "import", "minifasnet", *[arg for name in CHECKPOINTS for arg in
                                                            ("--checkpoint", str(pad / "minifasnet" / name))],
                        "--models-dir", str(folder / "data" / "models"))
    assert imported.returncode == 0, imported.stderr
    with running_server(folder) as server:
        admin = make_keys(server, {}, admin_scopes=("admin", "enroll"))["admin"]
        with server.client(timeout=60, api_key=admin) as client:
            client.enroll("apfol", [frame_at(STUDENT, 9.0)], groups=["students"])
            client.enroll("lestari", [frame_at(VISITOR, 2.0)], groups=["visitors"])
            client.set_door("lobby", groups=["students", "staff"], fallback="call the desk")
            server.door_key = client.create_key("lobby-door", ["gate"], door="lobby").key
        yield server


def gate_args(server, video: str, *more: str) -> list[str]:
    return ["gate", "--video", str(pad_video(video)), "--json", "--door", "lobby", "--server", server.local_address,
            "--api-key", server.door_key, *more]


def decisions(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_the_student_is_admitted_and_the_decision_reaches_mqtt_and_a_signed_webhook(server, tmp_path):
    broker = Mosquitto(tmp_path / "mqtt").start()
    topic = broker.subscribe("facegrid/door/lobby")
    receiver = WebhookReceiver()
    (tmp_path / "secret").write_bytes(b"webhook secret of the lobby")
    try:
        run = facegrid(*gate_args(server, STUDENT, "--as-fast-as-possible", "--mqtt", broker.address,
                                  "--webhook", receiver.url, "--webhook-secret-file", str(tmp_path / "secret")), timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        lines = decisions(run.stdout)
        assert lines and all(d["decision"] == "ACCEPT" and d["reason"] == "ADMITTED" for d in lines), lines
        assert all(d["subject"] == "apfol" and d["liveness"] == "LIVE" and d["door"] == "lobby" for d in lines)
        messages = topic.wait_for(lambda got: any('"ACCEPT"' in payload for _, payload, _ in got))
        assert any(json.loads(payload)["subject"] == "apfol" for _, payload, _ in messages)
        headers, body = receiver.wait_for(1)[0]
        assert verify_signature(b"webhook secret of the lobby", headers["x-facegrid-timestamp"], body,
                                headers["x-facegrid-signature"])
        assert json.loads(body)["decision"] == "ACCEPT"
    finally:
        topic.close()
        broker.stop()
        receiver.close()


def test_a_visitor_a_stranger_and_a_replay_are_denied(server):
    for video, reason in ((VISITOR, "NOT_ALLOWED_HERE"), (STRANGER, "UNKNOWN_PERSON"), (REPLAY, "PRESENTATION_ATTACK")):
        run = facegrid(*gate_args(server, video, "--as-fast-as-possible"), timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        lines = decisions(run.stdout)
        assert lines and all(d["decision"] == "DENY" for d in lines), (video, lines)
        assert reason in {d["reason"] for d in lines}, (video, lines)


def approaches(video: str, folder, times: int = 4, fps: int = 10):
    """A folder of frames at `fps`: two seconds of the video's person `times` over, an empty second and a half between
    (each return is a new approach, so the door decides again)."""
    folder.mkdir()
    clip = [image for image, at in read_video(str(pad_video(video))) if 8.0 <= at < 10.0][:: max(1, round(30 / fps))]
    blank = clip[0] * 0
    frames = [frame for _ in range(times) for frame in clip + [blank] * int(1.5 * fps)]
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:05d}.jpg"), frame)
    return folder


def test_stopping_the_server_mid_run_gives_server_unavailable_never_an_accept(server, tmp_path):
    frames = approaches(STUDENT, tmp_path / "frames")
    args = ["gate", "--frames", str(frames), "--fps", "10", "--json", "--door", "lobby",
            "--server", server.local_address, "--api-key", server.door_key]
    door = subprocess.Popen([sys.executable, "-m", "facegrid.clients.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(door.stdout.readline())
        assert first["decision"] == "ACCEPT", first
        server.kill()  # the server stops while the door goes on: the next approaches find nobody to ask
        rest, _ = door.communicate(timeout=120)
    finally:
        if door.poll() is None:
            door.kill()
        server.start()  # the same data directory again, for any test that runs after this one
    after = decisions(rest)
    assert door.returncode == 0 and len(after) >= 2, "the door decided the later approaches"
    assert all(d["decision"] == "DENY" and d["reason"] == "SERVER_UNAVAILABLE" for d in after), after
