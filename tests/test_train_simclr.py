"""SimCLR recipe: the augmentations, a real (tiny) training run whose loss falls, resume, bad input, the export.

Runs real torch on tiny settings: 24 synthetic photos of 48 px, ResNet-18, a few steps per epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")
pytest.importorskip("torchvision", reason="torchvision is not installed (pip install 'facegrid[train]')")

from PIL import Image  # noqa: E402

from facegrid.encoder.cpu_features import cpu_bf16_flags, cpu_has_bf16  # noqa: E402
from facegrid.encoder.train.augment import AugmentSettings, TwoViews, simclr_transform  # noqa: E402
from facegrid.encoder.train.data import list_photos, load_photos, person_folders  # noqa: E402
from facegrid.encoder.train.run import TrainError  # noqa: E402
from facegrid.encoder.train.simclr import SimclrConfig, train_simclr  # noqa: E402

from helpers import facegrid, last_json  # noqa: E402

SIZE = 48


def _photo(rng: np.random.Generator, side: int = 64) -> np.ndarray:
    """A synthetic photo: a few coloured rectangles and a disc on a random background (each one distinct)."""
    image = np.empty((side, side, 3), np.uint8)
    image[:] = rng.integers(0, 256, 3)
    for _ in range(4):
        x0, y0 = rng.integers(0, side - 12, 2)
        w, h = rng.integers(8, side // 2, 2)
        image[y0:y0 + h, x0:x0 + w] = rng.integers(0, 256, 3)
    yy, xx = np.mgrid[:side, :side]
    cx, cy, r = *rng.integers(10, side - 10, 2), rng.integers(5, 14)
    image[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.integers(0, 256, 3)
    return image


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """24 distinct JPEGs, some in a subfolder (listing is recursive)."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "more").mkdir()
    rng = np.random.default_rng(7)
    for i in range(24):
        where = folder / "more" if i % 3 == 0 else folder
        Image.fromarray(_photo(rng)).save(where / f"p{i:02d}.jpg", quality=92)
    return folder


def _config(folder: Path, tmp: Path, out: str, **changes) -> SimclrConfig:
    settings = dict(folder=folder, out=out, models_dir=tmp / "models", checkpoint_dir=tmp / "ck", size=SIZE,
                    epochs=2, batch=8, lr=1e-3, threads=1, precision="f32")
    return SimclrConfig(**{**settings, **changes})


def test_two_views_differ_and_have_the_size_asked():
    image = torch.from_numpy(_photo(np.random.default_rng(1), 80)).permute(2, 0, 1).contiguous()
    for settings in (AugmentSettings.for_photos(SIZE), AugmentSettings.for_faces(SIZE)):
        a, b = TwoViews(simclr_transform(settings))(image)
        assert a.shape == b.shape == (3, SIZE, SIZE) and a.dtype == torch.uint8
        assert not torch.equal(a, b)


def test_listing_is_recursive_and_person_folders_need_subfolders(photo_dir, tmp_path):
    assert len(list_photos(photo_dir)) == 24
    assert list(person_folders(photo_dir)) == ["more"]
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(_photo(np.random.default_rng(2))).save(flat / "a.jpg")
    with pytest.raises(TrainError, match="no person subfolders"):
        person_folders(flat)


def test_training_lowers_the_loss_and_resumes_from_the_saved_epoch(photo_dir, tmp_path):
    first = train_simclr(_config(photo_dir, tmp_path, "first", epochs=1, lr=3e-3))
    assert first.epochs == 1 and first.images == 24 and len(first.losses) == 1
    # The same checkpoint folder and settings: epoch 1 is not trained again, epochs 2 and 3 are.
    resumed = train_simclr(_config(photo_dir, tmp_path, "resumed", epochs=3, lr=3e-3))
    assert resumed.epochs == 3 and resumed.images == 3 * 24
    assert resumed.losses[0] == first.losses[0]
    assert resumed.losses[-1] < resumed.losses[0], resumed.losses
    assert (tmp_path / "models" / "resumed").is_dir()


def test_training_in_bf16_where_the_cpu_has_it(photo_dir, tmp_path):
    """bf16 autocast in the forward pass only: the loss is finite, the exported model f32 (its card says bf16)."""
    if not cpu_has_bf16():
        pytest.skip("this CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag): bf16 training is refused here")
    result = train_simclr(_config(photo_dir, tmp_path, "bf16", epochs=1, precision="bf16"))
    assert result.epochs == 1 and result.final_loss is not None and np.isfinite(result.final_loss), cpu_bf16_flags()
    card = json.loads((Path(result.folder) / "facegrid.json").read_text())
    assert card["trained"]["precision"] == "bf16"


def test_a_checkpoint_of_another_arch_is_refused(photo_dir, tmp_path):
    import torchvision

    other = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), other)
    with pytest.raises(TrainError, match="not a resnet18 checkpoint"):
        train_simclr(_config(photo_dir, tmp_path, "m", checkpoint=other))
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_a_resumed_run_with_another_arch_is_refused(photo_dir, tmp_path):
    train_simclr(_config(photo_dir, tmp_path, "r18", epochs=0))
    (tmp_path / "ck").mkdir(exist_ok=True)
    from facegrid.encoder.train.run import Checkpoint

    Checkpoint(tmp_path / "ck" / "simclr.pt", "simclr", "resnet18").save({"net": {}})
    with pytest.raises(TrainError, match="arch 'resnet18'"):
        train_simclr(_config(photo_dir, tmp_path, "r34", arch="resnet34"))
    assert not (tmp_path / "models" / "r34").exists()


def test_empty_folder_is_a_clear_error_and_writes_nothing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = facegrid("train", "simclr", str(empty), "--out", "nothing", "--models-dir", str(tmp_path / "models"),
                   "--checkpoint-dir", str(tmp_path / "ck"), "--epochs", "1")
    assert run.returncode == 1
    assert "no photos in it" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_unreadable_photos_are_skipped_and_listed(photo_dir, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg at all")
    photos = load_photos([*list_photos(photo_dir)[:3], bad], SIZE)
    assert len(photos.images) == 3 and list(photos.unreadable) == [str(bad)]


def test_cli_epochs_0_exports_a_model_that_facegrid_serves(photo_dir, tmp_path):
    """The command's last line is the TrainResult JSON; the folder is an image model the registry loads."""
    pytest.importorskip("facegrid.encoder.train.export", reason="export_image_model is not on this branch yet")
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    try:
        run = facegrid("train", "simclr", str(photo_dir), "--out", "start", "--models-dir", str(tmp_path / "models"),
                       "--checkpoint-dir", str(tmp_path / "ck"), "--epochs", "0", "--size", str(SIZE), "--threads", "1")
    finally:
        (photo_dir / "broken.jpg").unlink()
    assert run.returncode == 0, run.stderr
    result = last_json(run.stdout)
    assert result["model"] == "start" and result["epochs"] == 0 and result["final_loss"] is None
    assert list(result["skipped"]["unreadable"]) == [str(photo_dir / "broken.jpg")]
    card = json.loads((Path(result["folder"]) / "facegrid.json").read_text())
    assert card["arch"] == "resnet18" and card["feature_layer"] == "layer4" and card["whiten"] is None  # photos: no whitening
    precision = "bf16" if cpu_has_bf16() else "f32"  # --precision auto: bf16 only where the CPU computes it natively
    assert f"simclr start: training in {precision} (auto: this CPU has" in run.stderr and "whitening" not in run.stderr
    assert card["trained"]["precision"] == precision
    from facegrid.encoder.runtime import EncoderSettings
    from facegrid.encoder.towers.registry import ModelRegistry

    registry = ModelRegistry(EncoderSettings(models_dir=tmp_path / "models"))
    assert "start" in registry.load() and not registry.broken
    vectors = registry.tower_model("start").embed_images([_photo(np.random.default_rng(3), 90)])
    assert vectors.shape == (1, card["dim"]) and abs(float(np.linalg.norm(vectors[0])) - 1) < 1e-4


def test_pca_whitening_gives_unit_covariance_on_its_own_data():
    from facegrid.encoder.train.simclr import pca_whitening

    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12)) + 3.0).float()
    linear = pca_whitening(features, 6)
    out = linear(features).detach().double()
    assert out.shape == (400, 6)
    assert torch.allclose(out.mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-3)
    assert torch.allclose(torch.cov(out.T), torch.eye(6, dtype=torch.float64), atol=1e-2)


def test_faces_train_on_detected_chips_and_export_a_face_model_facegrid_loads(tmp_path):
    """--faces on real photos: chips cut by facegrid's detector (cached), layer 3, mirroring and whitening in the graph."""
    from helpers import faces_dir_or_skip
    from facegrid.encoder.models import load_model
    from facegrid.encoder.pipeline import FacePipeline
    from facegrid.encoder.runtime import EncoderSettings

    lfw = faces_dir_or_skip() / "lfw"
    people = sorted(p for p in lfw.iterdir() if p.is_dir() and not p.name.startswith("_"))[:10]
    photos = tmp_path / "photos"
    photos.mkdir()
    for person in people:  # one photo each, flat: no labels
        first = sorted(person.glob("*.jpg"))[0]
        (photos / first.name).write_bytes(first.read_bytes())
    (photos / "blank.png").write_bytes(b"")  # an empty file: unreadable, skipped and listed
    result = train_simclr(_config(photos, tmp_path, "faces", faces=True, epochs=1, batch=5, feature="layer3",
                                  whiten=8, mirror=True, detector="yunet"))
    assert result.epochs == 1 and list(result.skipped["unreadable"]) == [str(photos / "blank.png")]
    assert (tmp_path / "ck" / "faces.json").is_file()  # the detections, reused by a resumed run
    card = json.loads((Path(result.folder) / "facegrid.json").read_text())
    assert card["dim"] == 8 and card["feature_layer"] == "layer3" and card["whiten"] == 8 and card["mirror"]
    assert card["towers"]["face"]["chip"] == {"geometry": "arcface", "size": SIZE}
    model = load_model("faces", settings=EncoderSettings(models_dir=tmp_path / "models"))
    faces = FacePipeline(model, "yunet").faces(sorted(photos.glob("*.jpg"))[0].read_bytes())
    assert len(faces) >= 1 and faces[0].vector.shape == (8,)
