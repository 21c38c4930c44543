"""Gate probes are held to a quality rule, and every refusal says why in a word a machine can read.

A real server over a socket: probes made from real photos, shrunk or blurred on purpose.
"""

from __future__ import annotations

import io

import cv2
import grpc
import numpy as np
import pytest
from PIL import Image

from facegrid.clients.sdk import FacegridError
from facegrid.encoder.quality import FaceQuality
from facegrid.server.domain.probe_rules import ProbeCheck, ProbeRules

from helpers import facegrid, last_json, running_server

ANGELINA = "deepface/id01_angelina_jolie"
STRANGER = "deepface/id11_matt_damon"


def photos(faces_dir, folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


def jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def rgb(photo: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"))


def resized(image: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(image, (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor))),
                      interpolation=cv2.INTER_AREA)


def face_size(client, photo: bytes) -> float:
    return max(f.quality.size for f in client.embed(photo).faces)


def small_face(client, photo: bytes, side: float) -> bytes:
    """The photo shrunk until its largest face is about `side` pixels."""
    return jpeg(resized(rgb(photo), side / face_size(client, photo)))


def blurred_face(client, photo: bytes) -> bytes:
    """The photo at a ~150 px face, blurred far past what a gate camera in focus gives."""
    image = resized(rgb(photo), 150 / face_size(client, photo))
    return jpeg(cv2.GaussianBlur(image, (0, 0), 14))


def refusal(call) -> FacegridError:
    with pytest.raises(FacegridError) as caught:
        call()
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION, caught.value
    return caught.value


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    with running_server(tmp_path_factory.mktemp("probes")) as server:
        with server.client(timeout=120) as client:
            client.enroll("angelina", photos(faces_dir, ANGELINA)[:2])
        yield server


def test_a_face_too_small_is_refused_with_its_reason(server, faces_dir):
    probe = photos(faces_dir, ANGELINA)[3]
    with server.client(timeout=60) as client:
        assert client.verify("angelina", small_face(client, probe, 60)).match  # small, but usable
        tiny = small_face(client, probe, 24)
        for call in (lambda: client.verify("angelina", tiny), lambda: client.identify(tiny)):
            error = refusal(call)
            assert error.reason == "FACE_TOO_SMALL" and "too small" in error.message
            assert error.refusal.issue == "FACE_TOO_SMALL" and error.refusal.quality.size < 40
            assert error.refusal.face is not None


def test_a_blurred_face_is_refused_with_its_reason(server, faces_dir):
    probe = photos(faces_dir, ANGELINA)[4]
    with server.client(timeout=60) as client:
        error = refusal(lambda: client.verify("angelina", blurred_face(client, probe)))
    assert error.reason == "BLURRED" and error.refusal.quality.sharpness < 6
    assert error.refusal.quality.size >= 40  # not refused for its size


def test_a_good_probe_reports_its_quality_and_no_issue(server, faces_dir):
    with server.client() as client:
        result = client.verify("angelina", photos(faces_dir, ANGELINA)[3])
        assert result.match and result.quality.size > 100 and result.quality.sharpness > 6
        assert result.quality_issue is None and result.quality_warning == ""
        stranger = client.identify(photos(faces_dir, STRANGER)[0])
        assert stranger.subject is None and stranger.unknown_reason in {"BELOW_THRESHOLD", "TOO_CLOSE_TO_RUNNER_UP"}
        assert client.identify(photos(faces_dir, ANGELINA)[3]).unknown_reason is None


def test_a_probe_without_a_face_is_answered_without_the_slow_detector(server):
    """The cascade's last resort (dlib MMOD, 1.5-3 s a photo) is not run on gate probes."""
    noise = jpeg(np.random.default_rng(5).integers(0, 255, (480, 640, 3)).astype(np.uint8))
    with server.client() as client:
        for call in (lambda: client.verify("angelina", noise), lambda: client.identify(noise)):
            error = refusal(call)
            assert error.reason == "NO_FACE" and error.refusal.issue == "NO_FACE" and error.refusal.face is None
            # The message names the detectors that looked: YuNet, then HOG, and not MMOD.
            assert "yunet, dlib_hog" in error.message and "mmod" not in error.message


def test_enroll_with_every_photo_refused_sends_each_outcome(server, faces_dir):
    blank = jpeg(np.full((480, 640, 3), 200, np.uint8))
    couple = (faces_dir / "face_recognition" / "unlabeled" / "obama_and_biden.jpg").read_bytes()
    with server.client(timeout=120) as client:
        error = refusal(lambda: client.enroll("nobody", [blank, couple, b"not a photo"]))
        assert error.reason == "NO_USABLE_PHOTO"
        assert [o.index for o in error.outcomes] == [0, 1, 2] and not any(o.accepted for o in error.outcomes)
        assert [o.issue for o in error.outcomes] == ["NO_FACE", "SEVERAL_FACES", "UNREADABLE"]
        assert "faces in the photo" in error.outcomes[1].reason
        # Partly usable: the refused photo's issue comes back beside its reason.
        reply = client.enroll("angelina", [photos(faces_dir, ANGELINA)[5], blank])
        assert reply.photos[0].accepted and reply.photos[0].issue is None and reply.photos[0].quality.size > 60
        assert reply.photos[1].issue == "NO_FACE"


def test_cli_enroll_prints_each_refused_photo(server, tmp_path):
    blank = tmp_path / "blank.jpg"
    blank.write_bytes(jpeg(np.full((480, 640, 3), 200, np.uint8)))
    run = facegrid("enroll", "nobody", str(blank), "--server", server.address, "--json")
    report = last_json(run.stdout)
    assert run.returncode == 2 and report["error"] == "FAILED_PRECONDITION" and report["reason"] == "NO_USABLE_PHOTO"
    assert report["photos"] == [{"photo": str(blank), "accepted": False, "template_id": None, "duplicate": False,
                                 "reason": "no face found in the photo", "issue": "NO_FACE", "warnings": []}]


def test_report_mode_answers_and_says_what_is_wrong(server_factory, faces_dir):
    server = server_factory(env={"FACEGRID_PROBE_QUALITY": "report"})
    pictures = photos(faces_dir, ANGELINA)
    with server.client(timeout=120) as client:
        assert client.identify(pictures[3]).unknown_reason == "NO_SUBJECTS"
        client.enroll("angelina", pictures[:2])
        result = client.verify("angelina", small_face(client, pictures[3], 24))
        assert result.quality_issue == "FACE_TOO_SMALL" and "px" in result.quality_warning
        assert result.quality.size < 40 and result.threshold > 0  # compared all the same
        assert client.verify("angelina", pictures[3]).quality_issue is None


def test_the_probe_rule_itself():
    def quality(**changes) -> FaceQuality:
        values = dict(size=120, interocular=50, sharpness=500, yaw=0, pitch=0, roll=0, detector_score=0.9)
        return FaceQuality(**{**values, **changes})

    rules = ProbeRules()
    assert rules.refuses and rules.issue(quality()) is None
    assert rules.issue(quality(size=39)).issue.value == "FACE_TOO_SMALL"
    assert rules.issue(quality(sharpness=5)).issue.value == "BLURRED"
    assert rules.issue(quality(yaw=-70)).issue.value == "TURNED_AWAY"
    assert rules.issue(quality(yaw=55, pitch=50)) is None  # pitch is not held against a probe
    assert ProbeRules(ProbeCheck.OFF).issue(quality(size=10)) is None
    assert not ProbeRules(ProbeCheck.REPORT).refuses


def test_a_probe_whose_caller_has_gone_is_not_embedded(tmp_path, faces_dir):
    """Between finding the face and embedding it, the gate asks whether the caller still waits."""
    from facegrid.server.config import Settings
    from facegrid.server.domain.errors import CallerGone
    from facegrid.server.main import start

    running = start(Settings(address="127.0.0.1:0", data_dir=tmp_path / "data"))
    try:
        asked = []

        def gone() -> bool:
            asked.append(True)
            return False

        probe = photos(faces_dir, ANGELINA)[3]
        with pytest.raises(CallerGone):
            running.gate.identify(probe, still_wanted=gone)
        assert asked == [True]
        assert running.gate.identify(probe).why.value == "NO_SUBJECTS"  # the same probe, with its caller waiting
    finally:
        running.stop(grace=0)
