"""The ONNX rebuild of dlib's face recognition ResNet against dlib itself, on real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import faces_dir_or_skip

cv2 = pytest.importorskip("cv2")
dlib = pytest.importorskip("dlib")

from facegrid.encoder.assets import dlib_model  # noqa: E402
from facegrid.encoder.errors import ModelWeightsMissing  # noqa: E402
from facegrid.encoder.models import dlib_onnx  # noqa: E402
from facegrid.encoder.models.dlib_onnx import build_dlib_onnx, cached_dlib_onnx, preprocess  # noqa: E402
from facegrid.encoder.runtime import EncoderSettings, session  # noqa: E402

TOLERANCE = 1e-5  # max abs difference per descriptor value
DLIB_CHIPS_PER_PERSON = 2
LFW_FACES = 4


def _faces_dir() -> Path:
    return faces_dir_or_skip()


def _model_file(name: str) -> Path:
    try:
        return dlib_model(name)
    except ModelWeightsMissing as error:
        pytest.skip(str(error))


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _dlib_chips(faces: Path) -> list[np.ndarray]:
    """dlib's own example chips: already aligned 150x150 faces of 5 people."""
    people = sorted(p for p in (faces / "dlib").glob("John_*") if p.is_dir())
    paths = [path for person in people for path in sorted(person.glob("*.jpg"))[:DLIB_CHIPS_PER_PERSON]]
    return [_read_rgb(path) for path in paths]


def _lfw_chips(faces: Path) -> list[np.ndarray]:
    """A few LFW photos cut into chips the way dlib does (detector, 5 landmarks, get_face_chip)."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(_model_file("shape_predictor_5_face_landmarks.dat")))
    chips: list[np.ndarray] = []
    for person in sorted(p for p in (faces / "lfw").iterdir() if p.is_dir())[:20]:
        rgb = _read_rgb(sorted(person.glob("*.jpg"))[0])
        detections = detector(rgb, 1)
        if len(detections) == 0:
            continue
        largest = max(detections, key=lambda box: box.area())  # LFW centres its subject
        chips.append(dlib.get_face_chip(rgb, predictor(rgb, largest), size=150, padding=0.25))
        if len(chips) == LFW_FACES:
            break
    return chips


@pytest.fixture(scope="module")
def chips() -> np.ndarray:
    faces = _faces_dir()
    found = _dlib_chips(faces) + _lfw_chips(faces)
    assert len(found) >= 8, f"too few real faces found under {faces}"
    return np.stack(found)


@pytest.fixture(scope="module")
def dat_path() -> Path:
    return _model_file(dlib_onnx.DAT_NAME)


@pytest.fixture(scope="module")
def dlib_descriptors(chips: np.ndarray, dat_path: Path) -> np.ndarray:
    net = dlib.face_recognition_model_v1(str(dat_path))
    return np.array([np.array(net.compute_face_descriptor(chip)) for chip in chips], dtype=np.float32)


@pytest.fixture(scope="module")
def model(dat_path: Path) -> bytes:
    return build_dlib_onnx(dat_path)


def _embed(model: bytes, batch: np.ndarray, threads: int = 1) -> np.ndarray:
    return session(model, threads=threads).run(["embedding"], {"chips": preprocess(batch)})[0]


def test_matches_dlib_on_real_faces(model: bytes, chips: np.ndarray, dlib_descriptors: np.ndarray) -> None:
    ours = _embed(model, chips)
    assert ours.shape == (len(chips), 128) and ours.dtype == np.float32
    difference = np.abs(ours - dlib_descriptors).max()
    assert difference < TOLERANCE, f"max abs difference to dlib {difference:.3g}"
    # Raw output, not L2-normalised (dlib's descriptors have norms near but not at 1).
    assert not np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_dlib_batch_overload_agrees(model: bytes, chips: np.ndarray, dat_path: Path) -> None:
    net = dlib.face_recognition_model_v1(str(dat_path))
    theirs = np.array([np.array(d) for d in net.compute_face_descriptor(list(chips[:4]))], dtype=np.float32)
    assert np.abs(_embed(model, chips[:4]) - theirs).max() < TOLERANCE


def test_batch_equals_one_at_a_time(model: bytes, chips: np.ndarray) -> None:
    batched = _embed(model, chips, threads=0)
    single = session(model, threads=0)
    one_by_one = np.concatenate([single.run(None, {"chips": preprocess(chip[None])})[0] for chip in chips])
    assert np.abs(batched - one_by_one).max() < 1e-6


def test_preprocess_matches_dlib_normalisation() -> None:
    chip = np.arange(150 * 150 * 3, dtype=np.int64).reshape(1, 150, 150, 3).astype(np.uint8)
    planar = preprocess(chip)
    assert planar.shape == (1, 3, 150, 150) and planar.dtype == np.float32
    expected = (chip[0, 7, 9].astype(np.float32) - np.float32([122.782, 117.001, 104.298])) / 256
    np.testing.assert_array_equal(planar[0, :, 7, 9], expected)
    with pytest.raises(ValueError):
        preprocess(chip.astype(np.float32))


def test_cache_built_once_and_keyed_by_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dat_path: Path
) -> None:
    folder = EncoderSettings(cache_dir=tmp_path / "cache").converted_dir()  # as the server's Settings hand it down
    first = cached_dlib_onnx(dat_path, folder)
    assert first.is_file() and first.parent == tmp_path / "cache" / "models"
    stamp = first.stat().st_mtime_ns

    def no_rebuild(_: Path) -> bytes:
        raise AssertionError("the cached model was rebuilt")

    with monkeypatch.context() as patch:
        patch.setattr(dlib_onnx, "build_dlib_onnx", no_rebuild)
        assert cached_dlib_onnx(dat_path, folder) == first
        assert cached_dlib_onnx(folder=folder) == first  # the default is the shipped .dat
    assert first.stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temp files left

    # Different weights (one byte inside the weight data changed) give a different file.
    altered = bytearray(dat_path.read_bytes())
    altered[len(altered) // 2] ^= 0x01
    other_dat = tmp_path / "altered.dat"
    other_dat.write_bytes(bytes(altered))
    other = cached_dlib_onnx(other_dat, folder)
    assert other != first and other.is_file()
