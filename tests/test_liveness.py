"""Liveness: MiniFASNet imported from the upstream checkpoints, the checker on real live and replay frames, the
challenge's geometry, and `facegrid eval liveness` on a small subset of the pad recordings.

The recordings and weights are in ../shared/data/pad (never committed); the tests that need them skip with the
reason where it is absent. One import per module (two ONNX exports, a few seconds) is shared by the tests.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from facegrid.encoder.errors import BadModelFolder, ImportFailed
from facegrid.encoder.liveness import load_checker
from facegrid.encoder.liveness.card import read_liveness_card
from facegrid.encoder.liveness.pose import follows, follows_pose
from facegrid.encoder.liveness_port import Challenge, LivenessFrame, Verdict
from facegrid.encoder.runtime import EncoderSettings
from facegrid.evaluation.datasets import DatasetMissing, pad_dir

from helpers import facegrid, last_json

V2, V1SE = "2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth"


@pytest.fixture(scope="module")
def pad() -> Path:
    """../shared/data/pad, or a skip with the reason."""
    try:
        return pad_dir()
    except DatasetMissing as missing:
        pytest.skip(f"presentation-attack recordings and MiniFASNet weights not available: {missing}")


@pytest.fixture(scope="module")
def liveness_models(pad, tmp_path_factory) -> Path:
    """A models directory holding the imported MiniFASNet folder (both checkpoints)."""
    pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[import]')")
    from facegrid.encoder.importers.minifasnet import import_minifasnet

    models = tmp_path_factory.mktemp("liveness-models")
    import_minifasnet([pad / "minifasnet" / V2, pad / "minifasnet" / V1SE], models)
    return models


@pytest.fixture(scope="module")
def checker(liveness_models):
    return load_checker(liveness_models, EncoderSettings(threads=1, models_dir=liveness_models))


@pytest.fixture(scope="module")
def detector():
    from facegrid.encoder.detect import YuNetDetector

    return YuNetDetector(settings=EncoderSettings(threads=1))


def _frame(detector, rgb: np.ndarray) -> LivenessFrame:
    from facegrid.evaluation.liveness_data import largest_face

    face = largest_face(detector, rgb)
    assert face is not None
    return LivenessFrame(rgb, face.box, face.landmarks, face.score)


def test_import_loads_both_checkpoints_strictly_into_a_liveness_folder(liveness_models):
    card = read_liveness_card(liveness_models / "minifasnet")
    assert {(m.arch, m.scale, m.size) for m in card.models} == {("MiniFASNetV2", 2.7, 80), ("MiniFASNetV1SE", 4.0, 80)}
    assert card.licence == "Apache-2.0" and "Silent-Face-Anti-Spoofing" in card.source and card.live_class == 1
    written = json.loads((liveness_models / "minifasnet" / "liveness.json").read_text())
    assert written["kind"] == "liveness" and "not divided by 255" in written["input"]
    assert all(len(m["sha256"]) == 64 for m in written["models"])


def test_a_wrong_file_is_refused_naming_the_keys_and_nothing_is_written(pad, tmp_path, capsys):
    pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[import]')")
    from facegrid.encoder.importers.minifasnet import import_minifasnet

    misnamed = tmp_path / V2  # the V1SE weights under the V2 file name: other widths, extra SE weights
    shutil.copy(pad / "minifasnet" / V1SE, misnamed)
    with pytest.raises(ImportFailed, match=r"not a MiniFASNetV2 checkpoint.*conv_3\.model\.1\.conv\.conv\.weight.*se_module"):
        import_minifasnet([misnamed], tmp_path / "models")
    assert not (tmp_path / "models" / "minifasnet").exists()
    # The command says so too, naming the missing weights of a file that is no MiniFASNet at all (run in-process:
    # a second interpreter would spend its time importing torch).
    import torch

    from facegrid.clients.cli import main

    other = tmp_path / "other.pth"
    torch.save({"module.fc.weight": torch.zeros(2, 2)}, other)
    assert main(["models", "import", "minifasnet", "--checkpoint", str(other), "--models-dir", str(tmp_path / "models")]) == 1
    error = capsys.readouterr().err
    assert "weights of MiniFASNetV2 missing: conv1.conv.weight" in error and "does not have: fc.weight" in error


def test_upstream_samples_score_as_upstream_says(pad, checker, detector):
    from facegrid.evaluation.liveness_data import read_image

    results = {name: checker.check([_frame(detector, read_image(pad / "minifasnet" / name))])
               for name in ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg")}
    assert results["image_T1.jpg"].verdict is Verdict.LIVE and results["image_T1.jpg"].score > 0.98
    assert results["image_F1.jpg"].verdict is Verdict.ATTACK and results["image_F1.jpg"].score < 0.2
    assert results["image_F2.jpg"].verdict is Verdict.ATTACK and results["image_F2.jpg"].score < 0.05


def test_a_frame_without_a_confident_face_is_never_scored(pad, checker, detector):
    from facegrid.evaluation.liveness_data import read_image

    live = _frame(detector, read_image(pad / "minifasnet" / "image_T1.jpg"))
    tiny = LivenessFrame(np.full((1, 1, 3), 128, np.uint8), (0, 0, 1, 1), np.zeros((5, 2), np.float32), 0.99)
    unsure = LivenessFrame(live.image, live.box, live.landmarks, detector_score=0.3)
    outside = LivenessFrame(live.image, (5000, 5000, 200, 200), live.landmarks, 0.99)
    alone = checker.check([tiny])
    assert alone.verdict is Verdict.UNCERTAIN and alone.frame_scores == [0.0] and alone.cues["frames_scored"] == 0
    assert checker.frame_scores([tiny, unsure, outside, live])[:3] == [None, None, None]
    # A burst of mostly unscorable frames is not judged on the one good frame; a burst of mostly good ones is.
    assert checker.check([tiny, unsure, live]).verdict is Verdict.UNCERTAIN
    mostly_good = checker.check([live, live, tiny])
    assert mostly_good.verdict is Verdict.LIVE and mostly_good.frame_scores[2] == 0.0 and mostly_good.cues["frames_scored"] == 2


def _first_burst(detector, video: Path) -> list[LivenessFrame]:
    from facegrid.evaluation.liveness_data import BURST_FRAMES, video_frames

    frames = []
    for seconds, rgb in video_frames(video):
        frames.append(_frame(detector, rgb))
        if len(frames) == BURST_FRAMES:
            return frames
    raise AssertionError(f"{video}: fewer than {BURST_FRAMES} frames")


def test_a_burst_of_live_frames_passes_and_a_replay_burst_does_not(pad, checker, detector):
    setup = pad / "videos_crop_lestari"
    live = checker.check(_first_burst(detector, setup / "live" / "real.mp4"))
    replay = checker.check(_first_burst(detector, setup / "spoof" / "fake.mp4"))
    assert live.verdict is Verdict.LIVE and live.score > 0.9 and len(live.frame_scores) == 5
    assert replay.verdict is Verdict.ATTACK and max(replay.frame_scores) < 0.2
    assert set(live.cues) >= {"passive", "glare", "parallax", "yaw_change"}


def _rotated_video(path: Path) -> None:
    """A 64x48 mp4 (a white band on the left) whose track says: display turned 90 degrees, as phones record."""
    import struct

    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(6):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, :16] = 255
        writer.write(frame)
    writer.release()
    data = bytearray(path.read_bytes())
    box = data.find(b"tkhd") - 4
    matrix = box + 8 + 4 + (20 if data[box + 8] == 0 else 32) + 16  # the track header's display matrix
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(data)


def test_phone_videos_are_read_upright_and_sampled_by_time(tmp_path):
    from facegrid.evaluation.liveness_data import video_frames

    _rotated_video(tmp_path / "phone.mp4")
    frames = list(video_frames(tmp_path / "phone.mp4", gap_s=0.2))
    assert [round(seconds, 1) for seconds, _ in frames] == [0.0, 0.2, 0.4]  # 10 fps, every other frame
    image = frames[0][1]
    assert image.shape == (64, 48, 3)  # turned upright: taller than wide
    assert image[:16].mean() > 200 and image[24:].mean() < 50  # the band that was on the left is now on top


def _head(yaw_degrees: float, nose_depth: float = 0.8, shear: float = 0.0, up_degrees: float = 0.0) -> np.ndarray:
    """Five ArcFace-order landmarks of a head turned by yaw (to the person's left when positive) and raised by
    up_degrees, in pixels; nose_depth 0 is a flat picture, which `shear` tilts as a photo held at a slant would."""
    points = np.array([[-1, 0, 0], [1, 0, 0], [0, 1.1, nose_depth], [-0.8, 2.2, 0], [0.8, 2.2, 0]], np.float64) * 30
    yaw, up = math.radians(yaw_degrees), math.radians(up_degrees)
    x = points[:, 0] * math.cos(yaw) + points[:, 2] * math.sin(yaw) + shear * points[:, 1]
    y = points[:, 1] * math.cos(up) - points[:, 2] * math.sin(up)  # the nose rises as the head tips back
    return np.stack([x + 320, y + 240], axis=1).astype(np.float32)


def test_the_challenge_needs_the_asked_turn_and_a_head_not_a_plane():
    turning_left = [_head(a) for a in (0, 5, 12, 20, 25)]
    assert follows(Challenge.TURN_LEFT, turning_left) == (True, "")
    assert not follows(Challenge.TURN_RIGHT, turning_left)[0] and not follows(Challenge.LOOK_UP, turning_left)[0]
    assert follows(Challenge.TURN_RIGHT, [_head(-a) for a in (0, 5, 12, 20, 25)])[0]
    assert not follows_pose(Challenge.TURN_LEFT, [_head(0)] * 5)  # standing still follows nothing
    looking_up = [_head(0, up_degrees=a) for a in (0, 5, 10, 15, 20)]
    assert follows(Challenge.LOOK_UP, looking_up) == (True, "") and not follows(Challenge.TURN_LEFT, looking_up)[0]
    # A flat photo sheared to fake the turn moves the nose off the eye midpoint but never off the face's plane.
    flat = [_head(0, nose_depth=0, shear=s) for s in (0, 0.1, 0.2, 0.3, 0.35)]
    assert follows_pose(Challenge.TURN_LEFT, flat)
    followed, why = follows(Challenge.TURN_LEFT, flat)
    assert not followed and "flat picture" in why


def test_pad_metrics_on_known_scores():
    from facegrid.evaluation.liveness_metrics import apcer_at_bpcer, auc, summary

    live = np.array([0.1, 0.6, 0.7, 0.8, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99])
    attack = np.array([0.0, 0.05, 0.2, 0.65, 0.3])
    figures = summary(live, attack, 0.5)
    assert (figures["apcer"], figures["bpcer"]) == (0.2, 0.1)  # 0.65 accepted; 0.1 refused
    assert apcer_at_bpcer(live, attack, 0.1) == 0.2  # one live score may fall below: the threshold is 0.6
    assert apcer_at_bpcer(live, attack, 0.05) == 0.6  # none may: the threshold is 0.1, three attacks pass
    assert auc(live, attack) == pytest.approx(1 - 4 / 50)  # 0.1 below three attacks, 0.6 below one
    assert auc([0.5], [0.5]) == 0.5 and auc([], attack) is None


def test_eval_liveness_json_on_a_small_subset(pad, liveness_models, tmp_path):
    data = tmp_path / "subset"
    for label in ("live", "spoof"):
        images = sorted((pad / "ff_codersworld" / label).glob("*.jpg"))[:3]
        for image in images:
            (data / label / "images").mkdir(parents=True, exist_ok=True)
            (data / label / "images" / image.name).symlink_to(image)
            (data / label / "images" / (image.stem + ".txt")).symlink_to(image.with_suffix(".txt"))  # ignored
        (data / label / "real-or-fake.mp4").symlink_to(pad / "videos_crop_lestari" / label / ("real.mp4" if label == "live" else "fake.mp4"))
    run = facegrid("eval", "liveness", "--data", str(data), "--models-dir", str(liveness_models), "--threads", "1", "--json", timeout=300)
    assert run.returncode == 0, run.stderr
    report = last_json(run.stdout)
    for key in ("apcer", "bpcer", "apcer_at_bpcer_5", "apcer_at_bpcer_1", "auc", "live_videos_accepted_first_burst",
                "attack_videos_accepted_any_burst", "burst_apcer", "burst_bpcer"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["live_videos"] == report["attack_videos"] == 1
    assert report["live"] > 3 and report["attack"] > 3  # three images and the video's sampled frames each
    assert report["live_videos_accepted_first_burst"] == 1.0 and report["attack_videos_accepted_any_burst"] == 0.0
    assert report["threshold"] == 0.5 and "ff_codersworld" in report["thresholds_fixed_on"]
    assert set(report["bands"]) == {"0-96px", "96-128px", "128-192px", "192px+"}
    assert sum(b["live"] + b["attack"] for b in report["bands"].values()) == report["live"] + report["attack"]
    assert set(report["frames_without_face"]) == {"live", "spoof"} and report["unreadable"] == 0
    assert report["setups"]["subset"]["live"] == report["live"]
    assert 0.0 <= report["challenge"]["replay"]["follows_random_challenge"] <= 1.0


def test_eval_without_a_liveness_model_says_which_command_imports_one(tmp_path, capsys):
    from facegrid.clients.cli import main

    (tmp_path / "data" / "live").mkdir(parents=True)
    assert main(["eval", "liveness", "--data", str(tmp_path / "data"), "--models-dir", str(tmp_path / "models")]) == 2
    assert "facegrid models import minifasnet" in capsys.readouterr().err


def test_the_registry_loads_its_other_folders_beside_a_liveness_folder(liveness_models, resnet_model_dir, tmp_path):
    from facegrid.encoder.towers.registry import ModelRegistry, model_folders

    models = tmp_path / "models"
    shutil.copytree(liveness_models / "minifasnet", models / "minifasnet")
    shutil.copytree(resnet_model_dir, models / resnet_model_dir.name)
    registry = ModelRegistry(EncoderSettings(models_dir=models))
    assert registry.load() == [json.loads((resnet_model_dir / "facegrid.json").read_text())["name"]]
    assert registry.broken == {}
    assert model_folders(models) == [models / resnet_model_dir.name]
    assert load_checker(models, EncoderSettings(models_dir=models)).name == "minifasnet"
    assert load_checker(tmp_path / "empty", EncoderSettings()) is None
    (models / "minifasnet" / "MiniFASNetV2.onnx").write_bytes(b"not an onnx graph")  # broken: said, never skipped
    with pytest.raises(BadModelFolder, match="MiniFASNetV2.onnx: it cannot be loaded"):
        load_checker(models, EncoderSettings(models_dir=models))
    again = ModelRegistry(EncoderSettings(models_dir=models))  # the tower registry still leaves it alone
    assert len(again.load()) == 1 and again.broken == {}
