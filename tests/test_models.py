"""Face models on real photos: same-person pairs score above different-person pairs."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from facegrid.encoder.errors import UnknownModel
from facegrid.encoder.models import FUSED_WEIGHTS, load_model, mirror_settings, model_names
from facegrid.encoder.models.sface import SFACE_FILE, cached_sface
from facegrid.encoder.pipeline import FacePipeline


def test_registry_lists_the_shipped_face_models():
    assert {"dlib", "sface", "fused"} <= set(model_names())
    with pytest.raises(UnknownModel, match="available"):
        load_model("arcface-that-does-not-exist")


def test_mirroring_defaults_per_part_and_can_be_forced():
    assert mirror_settings("fused") == {"dlib": True, "sface": False}
    assert mirror_settings("fused", False) == {"dlib": False, "sface": False}
    assert mirror_settings("sface", True) == {"sface": True}
    fused = load_model("fused")
    assert fused.dim == 256 and fused.describe()["parts"] == {"dlib": 0.74, "sface": 0.26}


def test_converted_sface_matches_the_shipped_graph_on_opencv():
    import cv2

    from facegrid.encoder import runtime
    from facegrid.encoder.assets import opencv_zoo_model

    rng = np.random.default_rng(0)
    blob = rng.uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    net = cv2.dnn.readNetFromONNX(str(opencv_zoo_model(SFACE_FILE)))
    reference = []
    for one in blob:
        net.setInput(one[None], "data")  # OpenCV 5 needs the input name for this graph
        reference.append(net.forward()[0].copy())
    ours = runtime.session(cached_sface(), threads=1).run(None, {"data": blob})[0]
    np.testing.assert_allclose(ours, np.array(reference), atol=1e-4)


@pytest.fixture(scope="module")
def deepface_pairs(faces_dir):
    folder = faces_dir / "deepface"
    with open(folder / "pairs.csv") as handle:
        rows = list(csv.DictReader(handle))
    # pairs.csv names bare files; each lives in its identity's folder.
    paths = {p.name: p for p in folder.glob("id*/*") if p.is_file()}
    return paths, rows


@pytest.mark.parametrize("model", ["sface", "dlib", "fused"])
def test_same_person_scores_above_different_person(model, deepface_pairs):
    paths, rows = deepface_pairs
    pipeline = FacePipeline(model)
    cache: dict[str, np.ndarray] = {}

    def vector(name: str) -> np.ndarray | None:
        if name not in cache:
            faces = pipeline.faces(paths[name].read_bytes())
            # The photo's subject is its largest face.
            cache[name] = max(faces, key=lambda f: f.quality.size).vector if faces else None
        return cache[name]

    same, different = [], []
    for row in rows:
        if row["file_x"] not in paths or row["file_y"] not in paths:
            continue
        a, b = vector(row["file_x"]), vector(row["file_y"])
        if a is None or b is None:
            continue
        (same if row["same"] == "1" else different).append(float(a @ b))
    assert len(same) > 10 and len(different) > 10
    same, different = np.array(same), np.array(different)
    # Ranking: how often a same pair beats a different pair (ROC AUC).
    auc = (same[:, None] > different[None, :]).mean()
    assert auc > 0.97, f"{model}: AUC {auc:.3f}"
    assert np.median(same) > np.percentile(different, 95)


def test_fused_inner_product_is_the_weighted_mean_of_the_two_cosines(faces_dir):
    photos = sorted((faces_dir / "dlib" / "John_Salley").glob("*.jpg"))[:2] + sorted(
        (faces_dir / "dlib" / "John_Simm").glob("*.jpg")
    )[:1]
    dlib, sface, fused = FacePipeline("dlib"), FacePipeline("sface"), FacePipeline("fused")

    def first(pipeline, path):
        return pipeline.faces(path.read_bytes(), subject="centre", guess_when_missing=True)[0].vector

    for a, b in [(photos[0], photos[1]), (photos[0], photos[2])]:
        weights = FUSED_WEIGHTS["dlib"], FUSED_WEIGHTS["sface"]
        expected = weights[0] * first(dlib, a) @ first(dlib, b) + weights[1] * first(sface, a) @ first(sface, b)
        assert first(fused, a) @ first(fused, b) == pytest.approx(expected, abs=1e-5)


def test_vectors_are_unit_length_and_mirror_option_changes_them(faces_dir):
    photo = next((faces_dir / "dlib" / "John_Savage").glob("*.jpg")).read_bytes()
    plain = FacePipeline("sface").faces(photo, subject="centre", guess_when_missing=True)[0].vector
    mirrored = FacePipeline("sface", mirror=True).faces(photo, subject="centre", guess_when_missing=True)[0].vector
    assert np.linalg.norm(plain) == pytest.approx(1, abs=1e-5)
    assert np.linalg.norm(mirrored) == pytest.approx(1, abs=1e-5)
    assert 0.8 < plain @ mirrored < 0.99999


def test_sface_backends_give_the_same_vectors(faces_dir):
    from facegrid.encoder.models.sface import SFace

    photo = next((faces_dir / "dlib" / "John_Schneider").glob("*.jpg")).read_bytes()
    pipelines = [FacePipeline(SFace(backend=b), "yunet") for b in ("opencv", "onnxruntime")]
    a, b = (p.faces(photo, subject="centre", guess_when_missing=True)[0].vector for p in pipelines)
    assert float(a @ b) > 0.99999
