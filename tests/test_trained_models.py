"""Trained models are first-class: exported by encoder/train/export.py, loaded by name like the shipped face
models, listed by the registry, evaluated through the worker processes and served by the gate over gRPC."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")

from facegrid.encoder.errors import BadModelFolder, ImportFailed, MissingModality, UnknownModel  # noqa: E402
from facegrid.encoder.models import load_model, mirror_settings, model_dim, vectors_setup  # noqa: E402
from facegrid.encoder.pipeline import FacePipeline  # noqa: E402
from facegrid.encoder.runtime import EncoderSettings  # noqa: E402
from facegrid.encoder.towers.registry import ModelRegistry  # noqa: E402
from facegrid.encoder.train.export import export_face_head, export_face_model, export_image_model  # noqa: E402
from facegrid.index.calibration import CALIBRATION_FILE, Calibration, CalibrationMissing, load_calibration, save_calibration  # noqa: E402
from helpers import vector_tolerance  # noqa: E402

SIZE = 64
MEAN, STD = [0.5, 0.45, 0.4], [0.25, 0.25, 0.3]
PEOPLE = ["deepface/id01_angelina_jolie", "deepface/id03_scarlett_johansson", "deepface/id10_katy_perry"]


def tiny_cnn(seed: int = 0) -> "torch.nn.Module":
    """A small randomly initialised face network: (n, 3, 64, 64) chips to 32-d."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 5, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, stride=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(128, 32),
    ).eval()


def tiny_head(base_dim: int, seed: int = 1) -> "torch.nn.Module":
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(base_dim, 64), torch.nn.Tanh(), torch.nn.Linear(64, 24)).eval()


def photos(faces_dir: Path, folder: str, n: int = 4) -> list[Path]:
    return sorted(p for p in (faces_dir / folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A models directory with a face network, a head over sface and an image-only model, as the recipes export them."""
    models = tmp_path_factory.mktemp("trained-models")
    cnn, head = tiny_cnn(), tiny_head(model_dim("sface"))
    export_face_model(cnn, models, "tiny-cnn", arch="tinycnn", size=SIZE, mean=MEAN, std=STD, extra={"training": {"recipe": "test"}})
    export_face_head(head, models, "tiny-head", base="sface", base_dim=model_dim("sface"))
    export_image_model(tiny_cnn(2), models, "tiny-image", arch="tinycnn",
                       preprocess_cfg={"size": [SIZE, SIZE], "mean": MEAN, "std": STD, "interpolation": "bilinear"})
    return models, cnn, head


def chips_and_model(name: str, models: Path, faces_dir: Path):
    model = load_model(name, settings=EncoderSettings(models_dir=models))
    pipeline = FacePipeline(model, "yunet")
    chips = []
    for path in photos(faces_dir, PEOPLE[0], 3):
        found = pipeline.find_faces(path.read_bytes())
        chips += [model.chip(found.image, d) for d in found.detections]
    assert chips, "no face found in the test photos"
    return model, chips


def test_an_exported_face_network_serves_torchs_vectors_on_real_chips(trained, faces_dir):
    models, cnn, _ = trained
    model, chips = chips_and_model("tiny-cnn", models, faces_dir)
    assert model.dim == 32 and model.input_size == (SIZE, SIZE) and chips[0].shape == (SIZE, SIZE, 3)
    pixels = torch.from_numpy(np.stack(chips).astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    pixels = (pixels - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(cnn(pixels), dim=1).numpy()
    got = model.embed(chips)
    assert got.shape == expected.shape and np.abs(got - expected).max() < 1e-4
    assert model.folder == models / "tiny-cnn" and json.loads((models / "tiny-cnn" / "facegrid.json").read_text())["training"] == {"recipe": "test"}


def test_a_network_over_dlib_chips_gets_dlibs_geometry_at_its_size(tmp_path, faces_dir):
    cnn = tiny_cnn(3)
    export_face_model(cnn, tmp_path, "dlib-chips", arch="tinycnn", size=SIZE, geometry="dlib", mean=MEAN, std=STD)
    model, chips = chips_and_model("dlib-chips", tmp_path, faces_dir)
    dlib_chip = load_model("dlib").chip  # dlib's own 150-px chip: the same face, the same geometry, larger
    found = FacePipeline(model, "yunet").find_faces(photos(faces_dir, PEOPLE[0], 1)[0].read_bytes())
    small, large = model.chip(found.image, found.detections[0]), dlib_chip(found.image, found.detections[0])
    assert small.shape == (SIZE, SIZE, 3) and large.shape == (150, 150, 3)
    resized = np.asarray(Image.fromarray(large).resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.float32)
    assert np.abs(resized - small.astype(np.float32)).mean() < 10  # one crop at two sizes (3.6 here; an ArcFace chip: 49)
    pixels = (torch.from_numpy(np.stack(chips).astype(np.float32) / 255.0).permute(0, 3, 1, 2)
              - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(cnn(pixels), dim=1).numpy()
    assert np.abs(model.embed(chips) - expected).max() < 1e-4


def test_an_exported_head_serves_the_head_over_its_base_models_vectors(trained, faces_dir):
    models, _, head = trained
    model, chips = chips_and_model("tiny-head", models, faces_dir)
    base = load_model("sface")
    with torch.no_grad():
        expected = torch.nn.functional.normalize(head(torch.from_numpy(base.embed(chips))), dim=1).numpy()
    got = model.embed(chips)
    assert model.dim == 24 and got.shape == expected.shape and np.abs(got - expected).max() < 1e-4
    assert mirror_settings("tiny-head", settings=EncoderSettings(models_dir=models)) == {"sface": False}


def test_batching_gives_the_same_vectors(trained, faces_dir):
    models, _, _ = trained
    plain, chips = chips_and_model("tiny-cnn", models, faces_dir)
    plain_head, head_chips = chips_and_model("tiny-head", models, faces_dir)
    batched = load_model("tiny-cnn", settings=EncoderSettings(models_dir=models, batch_max=8))
    head = load_model("tiny-head", settings=EncoderSettings(models_dir=models, batch_max=8))
    try:
        assert batched._batcher is not None and head.base._batcher is not None  # the base's batcher, as the head's
        assert np.abs(batched.embed(chips) - plain.embed(chips)).max() < vector_tolerance(plain)
        assert np.abs(head.embed(head_chips) - plain_head.embed(head_chips)).max() < vector_tolerance(plain_head)
    finally:
        batched.close()
        head.close()


def test_the_registry_lists_folder_face_models(trained):
    models, _, _ = trained
    registry = ModelRegistry(EncoderSettings(models_dir=models), default_face_model="tiny-cnn")
    assert sorted(registry.load()) == ["tiny-cnn", "tiny-head", "tiny-image"] and not registry.broken
    entries = {e.name: e for e in registry.entries()}
    assert entries["tiny-cnn"].modalities == ("face",) and entries["tiny-cnn"].dim == 32 and entries["tiny-cnn"].is_default
    assert entries["tiny-head"].modalities == ("face",) and entries["tiny-head"].dim == 24
    assert entries["tiny-image"].modalities == ("image",) and not entries["fused"].is_default
    with pytest.raises(MissingModality):
        registry.tower_model("tiny-cnn").embed_images([np.zeros((80, 80, 3), np.uint8)])


def test_unknown_names_and_folders_without_a_face_tower(trained):
    models, _, _ = trained
    settings = EncoderSettings(models_dir=models)
    with pytest.raises(UnknownModel) as unknown:
        load_model("no-such-model", settings=settings)
    assert "fused" in str(unknown.value) and "tiny-cnn" in str(unknown.value) and "tiny-head" in str(unknown.value)
    with pytest.raises(MissingModality, match="no face tower"):
        load_model("tiny-image", settings=settings)


def _broken(models: Path, tmp_path: Path, name: str, change) -> Path:
    """A copy of a trained folder with its card changed."""
    folder = tmp_path / "models" / name
    shutil.copytree(models / name, folder)
    card = json.loads((folder / "facegrid.json").read_text())
    change(card["towers"]["face"])
    (folder / "facegrid.json").write_text(json.dumps(card))
    return folder


@pytest.mark.parametrize("name, change, says", [
    ("tiny-cnn", lambda f: f["chip"].update(geometry="mtcnn"), "geometry"),
    ("tiny-cnn", lambda f: f["chip"].update(size="64"), "size"),
    ("tiny-cnn", lambda f: f["chip"].update(size=4), "size"),
    ("tiny-cnn", lambda f: f.update(mean=[0.5, 0.5]), "mean"),
    ("tiny-cnn", lambda f: f.update(std=[0.5, 0.0, 0.5]), "std"),
    ("tiny-cnn", lambda f: f.update(chip="arcface"), "chip"),
    ("tiny-cnn", lambda f: f.update(base="sface"), "not both"),
    ("tiny-head", lambda f: f.update(base="arcface-r100"), "base"),
    ("tiny-head", lambda f: f.update(base_dim=256), "base_dim"),
    ("tiny-head", lambda f: f.pop("base"), "neither"),
])
def test_a_bad_face_card_names_its_file(trained, tmp_path, name, change, says):
    folder = _broken(trained[0], tmp_path, name, change)
    with pytest.raises(BadModelFolder, match=says) as caught:
        load_model(name, settings=EncoderSettings(models_dir=folder.parent))
    assert str(folder / "facegrid.json") in str(caught.value)
    registry = ModelRegistry(EncoderSettings(models_dir=folder.parent))
    assert registry.load() == [] and str(folder / "facegrid.json") in registry.broken[str(folder)]


def test_a_graph_that_does_not_take_the_cards_chips_names_the_graph(trained, tmp_path):
    folder = _broken(trained[0], tmp_path, "tiny-cnn", lambda f: f["chip"].update(size=48))
    with pytest.raises(BadModelFolder, match="shape") as caught:
        load_model("tiny-cnn", settings=EncoderSettings(models_dir=folder.parent))
    assert str(folder / "face" / "model.onnx") in str(caught.value)


def test_export_refuses_bad_arguments_and_leaves_nothing_behind(tmp_path):
    models = tmp_path / "models"
    for call in (
        lambda: export_face_model(tiny_cnn(), models, "m", arch="x", size=SIZE, geometry="mtcnn", mean=MEAN, std=STD),
        lambda: export_face_model(tiny_cnn(), models, "m", arch="x", size=SIZE, mean=MEAN, std=[1, 0, 1]),
        lambda: export_face_model(tiny_cnn(), models, "m", arch="x", size=SIZE, mean=MEAN, std=STD, extra={"dim": 3}),
        lambda: export_face_model(tiny_cnn(), models, "../m", arch="x", size=SIZE, mean=MEAN, std=STD),
        lambda: export_face_head(tiny_head(256), models, "m", base="sface", base_dim=256),
        lambda: export_face_head(tiny_head(256), models, "m", base="nope", base_dim=256),
        lambda: export_face_model(torch.nn.Flatten(0), models, "m", arch="x", size=SIZE, mean=MEAN, std=STD),
    ):
        with pytest.raises(ImportFailed):
            call()
    assert not models.exists() or list(models.iterdir()) == []


def test_evaluation_workers_embed_folder_models_and_the_cache_keys_on_the_graph(trained, tmp_path, faces_dir):
    from facegrid.evaluation.lfw import embed_images

    models = tmp_path / "models"
    export_face_model(tiny_cnn(5), models, "retrained", arch="tinycnn", size=SIZE, mean=MEAN, std=STD)
    images = [str(p.relative_to(faces_dir)) for p in photos(faces_dir, PEOPLE[1], 3)]
    first, _, embedded = embed_images(faces_dir, images, "retrained", "yunet", None, 1, models_dir=models)
    assert embedded == 3 and first[images[0]].shape == (32,)
    again, _, embedded = embed_images(faces_dir, images, "retrained", "yunet", None, 1, models_dir=models)
    assert embedded == 0 and all(np.array_equal(first[i], again[i]) for i in images)
    reference = FacePipeline(load_model("retrained", settings=EncoderSettings(models_dir=models)), "yunet")
    expected = reference.faces((faces_dir / images[0]).read_bytes(), subject="centre", guess_when_missing=True)[0].vector
    assert np.abs(first[images[0]] - expected).max() < 1e-5
    before = vectors_setup("retrained", settings=EncoderSettings(models_dir=models))
    shutil.rmtree(models / "retrained")  # retrained under the same name: other weights, the same card
    export_face_model(tiny_cnn(6), models, "retrained", arch="tinycnn", size=SIZE, mean=MEAN, std=STD)
    assert vectors_setup("retrained", settings=EncoderSettings(models_dir=models)) != before
    fresh, _, embedded = embed_images(faces_dir, images, "retrained", "yunet", None, 1, models_dir=models)
    assert embedded == 3 and not np.allclose(fresh[images[0]], first[images[0]])


def calibrate_on(models: Path, name: str, faces_dir: Path) -> Calibration:
    """A calibration table from every impostor pair of a few people's photos, written into the model's folder."""
    from facegrid.evaluation.calibrate import impostor_histogram

    pipeline = FacePipeline(name, settings=EncoderSettings(models_dir=models))  # the cascade, as the server detects
    vectors, labels = [], []
    for person in PEOPLE:
        for path in photos(faces_dir, person, 5):
            faces = pipeline.faces(path.read_bytes(), subject="centre")
            if faces:
                vectors.append(faces[0].vector)
                labels.append(person)
    edges, counts = impostor_histogram(np.stack(vectors), np.array(labels))
    table = Calibration.from_histogram(name, edges[:-1], counts, f"{len(vectors)} test photos")
    path = save_calibration(table, model_folder=pipeline.model.folder)
    assert path == models / name / CALIBRATION_FILE
    return table


def test_a_folder_models_calibration_is_in_its_folder(trained, tmp_path, faces_dir):
    models = tmp_path / "models"
    shutil.copytree(trained[0] / "tiny-head", models / "tiny-head")
    with pytest.raises(CalibrationMissing, match="eval calibrate --model tiny-head"):
        load_calibration("tiny-head", model_folder=models / "tiny-head")
    table = calibrate_on(models, "tiny-head", faces_dir)
    assert load_calibration("tiny-head", model_folder=models / "tiny-head").threshold(1e-3) == pytest.approx(table.threshold(1e-3), abs=1e-5)
    with pytest.raises(CalibrationMissing, match="not 'other'"):
        load_calibration("other", model_folder=models / "tiny-head")


def test_serve_refuses_a_folder_model_without_a_calibration_table(trained, tmp_path):
    from helpers import facegrid

    done = facegrid("serve", "--address", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"), timeout=120,
                    env={"FACEGRID_MODEL": "tiny-cnn", "FACEGRID_MODELS_DIR": str(trained[0])})
    assert done.returncode == 2 and "no calibration table for model 'tiny-cnn'" in done.stderr and "Traceback" not in done.stderr


def test_the_gate_enrolls_and_verifies_with_a_folder_face_model(trained, tmp_path, faces_dir, server_factory):
    models = tmp_path / "models"
    shutil.copytree(trained[0], models)
    table = calibrate_on(models, "tiny-cnn", faces_dir)
    server = server_factory(env={"FACEGRID_MODEL": "tiny-cnn", "FACEGRID_MODELS_DIR": str(models), "FACEGRID_PROBE_QUALITY": "off"})
    first, second = photos(faces_dir, PEOPLE[0], 5), photos(faces_dir, PEOPLE[1], 5)
    with server.client(timeout=120) as client:
        assert client.enroll("angelina", first[:1]).templates == 1  # one template: the subject's vector is that photo's
        assert all(t.model == "tiny-cnn" for t in client.subject("angelina").templates)
        same = client.verify("angelina", first[0])
        assert same.match and same.score > 0.999 and same.threshold == pytest.approx(table.threshold(1e-3), abs=1e-4)
        # Every pair of these two people was an impostor pair of the table: all fall below the threshold.
        for photo in second:
            assert not client.verify("angelina", photo).match
        listed = {m.name: m for m in client.models()}
        assert listed["tiny-cnn"].is_default and listed["tiny-cnn"].dim == 32 and "face" in listed["tiny-head"].modalities
        assert len(client.embed(second[0].read_bytes(), model="tiny-head").faces[0].vector) == 24
