"""The door client (`facegrid gate`) on real videos: detection, tracking, zone, quality and bursts, crops,
outputs (a real HTTP receiver, a real mosquitto, real commands), failing closed, and the missing extra.

No server with Pass is needed here (tests/test_door_pass.py has those): an address where nothing listens
gives the fail-closed DENY, which is what reaches the outputs.
"""

from __future__ import annotations

import hashlib
import io
import hmac
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

cv2 = pytest.importorskip("cv2", reason="the door client needs OpenCV (pip install 'facegrid[door]')")
import numpy as np  # noqa: E402

from helpers import Mosquitto, WebhookReceiver, facegrid, free_port, pad_video  # noqa: E402

from facegrid.clients.door.burst import Burst, Candidate  # noqa: E402
from facegrid.clients.door.card_reader import hid_lines  # noqa: E402
from facegrid.clients.door.crops import CONTEXT, MAX_SIDE, crop_region, encode_jpeg, face_crop  # noqa: E402
from facegrid.clients.door.decision import DoorDecision  # noqa: E402
from facegrid.clients.door.detector import FaceDetector  # noqa: E402
from facegrid.clients.door.outputs import CommandHooks, verify_signature  # noqa: E402
from facegrid.clients.door.quality import assess  # noqa: E402
from facegrid.clients.door.sources import VideoFile  # noqa: E402
from facegrid.clients.door.tracker import Tracker  # noqa: E402
from facegrid.clients.door.zone import Zone  # noqa: E402
from facegrid.clients.door.gate import DoorConfig, DoorGate  # noqa: E402
from facegrid.clients.door.outputs import Outputs  # noqa: E402
from facegrid.clients.door.pass_client import PassClient  # noqa: E402
from facegrid.clients.door.sources import Frame  # noqa: E402
from facegrid.clients.sdk import Facegrid  # noqa: E402

APPROACH = "videos_apfol/live/real2.webm"    # 640x480 webcam, one person, 11.6 s
SHORT = "videos_crop_lestari/live/real.mp4"  # 1080x720, 3.7 s, another person


@pytest.fixture(scope="module")
def approach() -> list:
    """Every frame of the 640x480 approach video, upright, with its time."""
    return list(VideoFile(str(pad_video(APPROACH)), fast=True).frames())


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(min_face=48)


@pytest.fixture(scope="module")
def frames_dir(approach, tmp_path_factory) -> Path:
    """The approach's first 1.5 s as JPEG files, for quick `facegrid gate --frames` runs."""
    folder = tmp_path_factory.mktemp("frames")
    for frame in approach:
        if frame.time <= 1.5:
            cv2.imwrite(str(folder / f"{frame.index:04d}.jpg"), frame.image)
    return folder


def nowhere() -> str:
    """A loopback address where no server listens: every Pass is refused at once."""
    return f"127.0.0.1:{free_port()}"


class Collected:
    """An output keeping the decisions in a list (the door's own outputs are tested on their own below)."""

    def __init__(self) -> None:
        self.decisions: list[DoorDecision] = []

    def emit(self, decision: DoorDecision) -> None:
        self.decisions.append(decision)

    def close(self) -> None:
        pass


def run_door(frames, detector, **options) -> list[DoorDecision]:
    """The door in this process over frames, against an address where nothing listens; its decisions."""
    collected = Collected()
    gate = DoorGate(DoorConfig(door="lobby", **options), detector, PassClient(lambda: Facegrid(nowhere()), timeout=3),
                    Outputs([collected]))
    for frame in frames:
        gate.process(frame)
    gate.finish()
    return collected.decisions


def decisions(run: subprocess.CompletedProcess) -> list[dict]:
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def test_detector_finds_the_face_on_real_frames(approach, detector):
    for frame in approach[::20]:
        faces = detector.detect(frame.image)
        assert len(faces) == 1, f"frame {frame.index}: {len(faces)} faces"
        x, y, w, h = faces[0].box
        assert 100 < w < 220 and faces[0].score > 0.8
        assert all(x <= px <= x + w and y <= py <= y + h for px, py in faces[0].landmarks)
    # The same face at 48 px in a 640x480 frame (the smallest decided by default) is still found.
    frame = approach[0].image
    width = detector.detect(frame)[0].width
    small = cv2.resize(frame, None, fx=48 / width, fy=48 / width, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 110, np.uint8)
    canvas[100:100 + small.shape[0], 200:200 + small.shape[1]] = small
    faces = detector.detect(canvas)
    assert len(faces) == 1 and 40 <= faces[0].width <= 56


def test_frames_of_a_phone_video_are_read_upright(approach, detector, tmp_path):
    # A phone stores sideways frames and a rotation in the MP4's track header: written here the same way.
    sideways = tmp_path / "phone.mp4"
    first = [np.ascontiguousarray(np.rot90(f.image, 1)) for f in approach[:10]]
    writer = cv2.VideoWriter(str(sideways), cv2.VideoWriter_fourcc(*"mp4v"), 30, (first[0].shape[1], first[0].shape[0]))
    for image in first:
        writer.write(image)
    writer.release()
    data = bytearray(sideways.read_bytes())
    header = data.find(b"tkhd")
    matrix = header + 4 + 4 + (32 if data[header + 4] == 1 else 20) + 16   # version/flags, times, reserved, layer...
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)   # rotate 90 degrees
    rotated = tmp_path / "phone-rotated.mp4"
    rotated.write_bytes(bytes(data))
    upright = list(VideoFile(str(rotated), fast=True).frames())
    assert [f.image.shape for f in upright] == [approach[0].image.shape] * 10
    assert sum(len(detector.detect(f.image)) == 1 for f in upright) == 10
    # Without the metadata the same frames lie on their side, and YuNet misses most of them.
    assert sum(len(detector.detect(f.image)) == 1 for f in VideoFile(str(sideways), fast=True).frames()) <= 5


def test_tracker_keeps_one_id_across_an_approach(approach, detector):
    tracker = Tracker(max_gap=0.7)
    ids = set()
    for frame in approach[::2]:   # every other frame, as a door short of time would see it
        seen, _ = tracker.update(detector.detect(frame.image), frame.time)
        ids |= {track.id for track, _ in seen if track.confident}
    assert ids == {1}
    # Gone for longer than max_gap, then back: a new approach, a new id.
    last = approach[-1]
    tracker.update([], last.time + 0.5)
    _, ended = tracker.update([], last.time + 1.0)
    assert [t.id for t in ended] == [1]
    seen, _ = tracker.update(detector.detect(approach[0].image), last.time + 1.1)
    assert [t.id for t, _ in seen] == [2]


def test_zone_keeps_faces_outside_it_from_being_decided(approach, detector):
    face = detector.detect(approach[0].image)[0]
    cx, cy = face.centre
    assert Zone.parse("0.25,0.1,0.75,0.9").contains(face, 640, 480) == (0.25 <= cx / 640 <= 0.75 and 0.1 <= cy / 480 <= 0.9)
    assert not Zone(0.0, 0.0, 0.1, 0.1).contains(face, 640, 480)
    with pytest.raises(ValueError):
        Zone.parse("0.5,0,0.4,1")
    first = [f for f in approach if f.time <= 1.5]
    assert run_door(first, detector, zone=Zone(0.0, 0.0, 0.1, 0.1)) == []
    around = Zone(max(0.0, cx / 640 - 0.2), 0.0, min(1.0, cx / 640 + 0.2), 1.0)
    assert [d.reason for d in run_door(first, detector, zone=around)] == ["SERVER_UNAVAILABLE"]


def test_burst_sends_the_best_n_frames_of_one_track(approach, detector):
    tracker = Tracker()
    burst, scores = None, []
    for frame in approach[:40]:
        for track, face in tracker.update(detector.detect(frame.image), frame.time)[0]:
            quality = assess(frame.image, face, 48)
            if not quality.usable:
                continue
            candidate = Candidate(frame, face, quality)
            scores.append(quality.score)
            if burst is None:
                burst = Burst(track.id, candidate, size=5, seconds=10.0)
            else:
                burst.add(candidate)
    assert len(scores) >= 20 and len(set(scores)) > 5
    chosen = burst.chosen()
    assert sorted(c.quality.score for c in chosen) == sorted(scores)[-5:]  # the best five
    assert [c.frame.time for c in chosen] == sorted(c.frame.time for c in chosen)  # sent in the order taken
    assert len({c.frame.index for c in chosen}) == 5
    # With a challenge the frames spread over the burst: the best of each fifth of its time.
    spread = Burst(1, Candidate(approach[0], detector.detect(approach[0].image)[0], scores and assess(
        approach[0].image, detector.detect(approach[0].image)[0], 48)), size=5, seconds=2.0, spread=True)
    for frame in approach[1:60]:
        face = detector.detect(frame.image)[0]
        spread.add(Candidate(frame, face, assess(frame.image, face, 48)))
    slots = sorted(int((c.frame.time - approach[0].time) / 0.4) for c in spread.chosen())
    assert slots == [0, 1, 2, 3, 4]


def test_crops_are_four_times_the_face_box_clipped_to_the_frame(approach, detector):
    image = approach[0].image
    x, y, w, h = detector.detect(image)[0].box
    x0, y0, x1, y1 = crop_region((x, y, w, h), 640, 480)
    assert x0 <= x and y0 <= y and x1 >= x + w and y1 >= y + h
    # 4x the box around its centre wherever the frame has room, the frame's edge where it has not.
    cx, cy = x + w / 2, y + h / 2
    assert abs(x0 - max(0, cx - CONTEXT * w / 2)) <= 1 and abs(x1 - min(640, cx + CONTEXT * w / 2)) <= 1
    assert abs(y0 - max(0, cy - CONTEXT * h / 2)) <= 1 and abs(y1 - min(480, cy + CONTEXT * h / 2)) <= 1
    # A small face far from the edges: exactly 4x around it.
    assert crop_region((300, 200, 50, 60), 2000, 1500) == (225, 110, 425, 350)
    # In a corner: clipped, never outside the frame.
    assert crop_region((5, 10, 50, 60), 640, 480) == (0, 0, 130, 160)
    # A big frame goes at most 640 px on the long side, still with the whole 4x context.
    big = cv2.resize(image, (1920, 1440))
    crop = face_crop(big, tuple(v * 3 for v in (x, y, w, h)))
    assert max(crop.shape[:2]) == MAX_SIDE
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(crop), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == crop.shape and len(detector.detect(decoded)) == 1


def test_fails_closed_without_a_server_and_exits_after_the_last_decision():
    video = pad_video(APPROACH)
    run = subprocess.run([sys.executable, "-m", "facegrid.clients.cli", "gate", "--video", str(video), "--as-fast-as-possible",
                          "--json", "--server", nowhere(), "--door", "lobby", "--card-reader", "stdin"],
                         input="card-4711\n", capture_output=True, text=True, timeout=120)
    lines = decisions(run)
    # One approach of 11.6 s: decided at once, then again after the 5 s cooldown; the 10 s one would be past the end.
    assert len(lines) == 2
    for line in lines:
        assert line["decision"] == "DENY" and line["reason"] == "SERVER_UNAVAILABLE"
        assert line["door"] == "lobby" and line["track"] == 1 and line["subject"] is None and line["score"] is None
        assert "UNAVAILABLE" in line["error"] and line["frames"] >= 2 and line["latency_ms"] > 0
        assert {"liveness", "time", "latency_ms"} <= set(line)
    assert [line["card"] for line in lines] == [True, False]   # a card counts for one decision
    assert "SERVER_UNAVAILABLE" in run.stderr   # logged too
    assert "card-4711" not in run.stderr        # card ids are not logged


def test_a_keyboard_card_reader_is_read_from_its_hid_reports():
    press = {"a": 0x04, "b": 0x05, "1": 0x1E, "0": 0x27, "\n": 0x28}
    reports = b"".join(bytes([0, 0, press[c], 0, 0, 0, 0, 0]) + bytes(8) for c in "ab10\nb\n")
    reports += bytes([0x02, 0, 0x04, 0, 0, 0, 0, 0]) + bytes(8) + bytes([0, 0, 0x28, 0, 0, 0, 0, 0])  # shift+a, Enter
    assert list(hid_lines(io.BytesIO(reports))) == ["ab10", "b", "A"]


def test_a_video_plays_at_its_own_rate_and_exits_after_the_last_decision():
    video = pad_video(SHORT)   # 3.7 s
    started = time.monotonic()
    run = facegrid("gate", "--video", str(video), "--json", "--server", nowhere(), "--door", "lobby", timeout=120)
    elapsed = time.monotonic() - started
    lines = decisions(run)
    assert [line["reason"] for line in lines] == ["SERVER_UNAVAILABLE"]
    assert elapsed >= 3.5   # played in real time, not as fast as possible
    assert "decisions" in run.stderr.splitlines()[-1]   # the summary comes after the last decision


def test_two_faces_in_the_zone_are_denied_without_asking_the_server(approach, detector):
    # Two real people side by side in each frame: the approach and another person from a second video.
    other = [f.image for f in VideoFile(str(pad_video(SHORT)), fast=True).frames()]
    frames = []
    for i, frame in enumerate(approach[:20]):
        canvas = np.full((480, 640, 3), 90, np.uint8)
        canvas[120:360, :320] = cv2.resize(frame.image, (320, 240))
        canvas[120:333, 320:] = cv2.resize(other[i], (320, 213))
        frames.append(Frame(canvas, i, i / 15, time.monotonic()))
    [denied] = run_door(frames, detector, min_face=40)
    assert denied.reason == "MORE_THAN_ONE_FACE" and denied.server_ms is None and denied.error == ""
    groups = run_door(frames, detector, min_face=40, allow_groups=True)
    assert sorted(d.track for d in groups) == [1, 2]
    assert {d.reason for d in groups} == {"SERVER_UNAVAILABLE"}


def test_webhook_is_signed_and_verifies_on_a_real_receiver(frames_dir, tmp_path):
    secret = b"door-secret-\x01\xff"
    (tmp_path / "secret").write_bytes(secret + b"\n")
    receiver = WebhookReceiver()
    try:
        run = facegrid("gate", "--frames", str(frames_dir), "--fps", "15", "--json", "--server", nowhere(), "--door", "lobby",
                       "--webhook", receiver.url, "--webhook-secret-file", str(tmp_path / "secret"), timeout=120)
        [printed] = decisions(run)
        [(headers, body)] = receiver.wait_for(1)
    finally:
        receiver.close()
    assert headers["content-type"] == "application/json"
    timestamp = headers["x-facegrid-timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["x-facegrid-signature"] == f"sha256={expected}"
    # The receiver's check we document: the signature, and a recent timestamp (an old one is a replay).
    assert verify_signature(secret, timestamp, body, headers["x-facegrid-signature"])
    assert not verify_signature(secret, timestamp, body + b" ", headers["x-facegrid-signature"])
    old = str(int(timestamp) - 3600)
    assert not verify_signature(secret, old, body, f"sha256={hmac.new(secret, old.encode() + b'.' + body, hashlib.sha256).hexdigest()}")
    assert json.loads(body) == printed
    assert secret.decode(errors="replace") not in run.stderr


def test_commands_get_the_decision_in_environment_variables_never_a_shell(tmp_path):
    record = tmp_path / "hook.py"
    record.write_text("import json, os, sys\n"
                      "out = sys.argv[1]\n"
                      "json.dump({'argv': sys.argv[2:], 'env': {k: v for k, v in os.environ.items() if k.startswith('FACEGRID_')}},"
                      " open(out, 'w'))\n")
    hooks = CommandHooks(f"{sys.executable} {record} {tmp_path / 'accept.json'} '$HOME' 'a;b'",
                         f"{sys.executable} {record} {tmp_path / 'deny.json'} `id`")
    common = dict(message="", display_name="", score=None, band="HIGH", liveness="LIVE", liveness_score=0.97, door="lobby",
                  time="2026-01-01T00:00:00.000+00:00", latency_ms=210.0, server_ms=80.0, frames=5, card=False,
                  challenge="none", fallback="", error="", server_timings={})
    hostile = f"x$(touch {tmp_path / 'pwned'});y"
    hooks.emit(DoorDecision("ACCEPT", "ADMITTED", subject=hostile, track=7, **common))
    hooks.emit(DoorDecision("DENY", "NO_MATCH", subject=None, track=8, **common))
    hooks.close()
    accepted = json.loads((tmp_path / "accept.json").read_text())
    assert accepted["argv"] == ["$HOME", "a;b"]   # split like a shell, never expanded by one
    env = accepted["env"]
    assert env["FACEGRID_DECISION"] == "ACCEPT" and env["FACEGRID_REASON"] == "ADMITTED"
    assert env["FACEGRID_SUBJECT"] == hostile and env["FACEGRID_DOOR"] == "lobby" and env["FACEGRID_TRACK"] == "7"
    assert env["FACEGRID_BAND"] == "HIGH" and env["FACEGRID_LIVENESS"] == "LIVE"
    assert json.loads(env["FACEGRID_JSON"])["subject"] == hostile
    denied = json.loads((tmp_path / "deny.json").read_text())
    assert denied["argv"] == ["`id`"]
    assert denied["env"]["FACEGRID_DECISION"] == "DENY" and denied["env"]["FACEGRID_SUBJECT"] == ""
    assert not (tmp_path / "pwned").exists()


def test_mqtt_decisions_availability_and_last_will_on_a_real_broker(frames_dir, tmp_path):
    broker = Mosquitto(tmp_path / "mqtt").start()
    watch = broker.subscribe("facegrid/door/lobby/availability")
    decisions_topic = broker.subscribe("facegrid/door/lobby")
    challenges = broker.subscribe("facegrid/door/lobby/challenge")
    try:
        run = facegrid("gate", "--frames", str(frames_dir), "--fps", "15", "--json", "--server", nowhere(), "--door", "lobby",
                       "--mqtt", broker.address, "--challenge", "--no-speak", timeout=120)
        [printed] = decisions(run)
        [(topic, payload, _)] = decisions_topic.wait_for(lambda m: len(m) >= 1)
        assert topic == "facegrid/door/lobby" and json.loads(payload) == printed
        [(_, payload, _)] = challenges.wait_for(lambda m: len(m) >= 1)
        challenge = json.loads(payload)
        assert challenge["challenge"] in ("turn_left", "turn_right", "look_up") and challenge["text"]
        assert printed["challenge"] == challenge["challenge"] and printed["track"] == challenge["track"]
        states = watch.wait_for(lambda m: [p for _, p, _ in m] == ["online", "offline"])
        assert {t for t, _, _ in states} == {"facegrid/door/lobby/availability"}
        # A door that dies without a goodbye: the broker publishes its last will.
        # (Its camera is a stream nobody serves: the door stays up, says so, and keeps trying.)
        door = subprocess.Popen([sys.executable, "-m", "facegrid.clients.cli", "gate", "--url", f"rtsp://127.0.0.1:{free_port()}/cam",
                                 "--server", nowhere(), "--door", "lobby", "--mqtt", broker.address],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            retries = 0
            for line in door.stderr:   # two failed opens, the second after the backoff
                retries += "trying again" in line
                if retries == 2:
                    break
            watch.wait_for(lambda m: [p for _, p, _ in m].count("online") == 2)
        finally:
            door.send_signal(signal.SIGKILL)
            door.wait(timeout=30)
        assert retries == 2
        watch.wait_for(lambda m: [p for _, p, _ in m].count("offline") == 2)
    finally:
        watch.close()
        decisions_topic.close()
        challenges.close()
        broker.stop()


def test_the_cli_names_the_missing_extra_when_opencv_is_absent(tmp_path):
    script = (
        "import importlib.abc, sys\n"
        "class NoOpenCV(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'cv2' or name.startswith('cv2.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoOpenCV())\n"
        "import facegrid.clients.cli as cli\n"  # the CLI itself loads without OpenCV (the thin install)
        f"sys.exit(cli.main(['gate', '--video', {str(tmp_path / 'x.mp4')!r}]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert run.returncode == 2, run.stderr
    assert "pip install 'facegrid[door]'" in run.stderr and "OpenCV" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_door_client_loads_no_server_side_runtime():
    code = ("import sys, facegrid.clients.door.main, facegrid.clients.door_client_commands\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('onnxruntime', 'faiss', 'torch', 'onnx')"
            " or m.startswith(('facegrid.encoder', 'facegrid.server', 'facegrid.index'))])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr
