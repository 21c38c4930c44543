"""Models of towers: cards, preprocessing as open_clip does it, the registry and its broken folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facegrid.encoder.errors import BadModelFolder, MissingModality, UnknownModel
from facegrid.encoder.image import decode_image
from facegrid.encoder.runtime import EncoderSettings
from facegrid.encoder.towers.card import read_card
from facegrid.encoder.towers.preprocess import ImagePreprocess
from facegrid.encoder.towers.registry import ModelRegistry

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def real_photos(faces_dir: Path) -> list[Path]:
    """A few real photos of different shapes: portrait, landscape, small and large."""
    picked = [next((faces_dir / "deepface").glob("id*/*.jpg")), next((faces_dir / "lfw").rglob("*.jpg")),
              faces_dir / "dlib" / "unlabeled" / "2008_002506.jpg"]
    return [p for p in picked if p.is_file()]


@pytest.mark.parametrize("config", [
    {"size": 224, "resize_mode": "shortest"},
    {"size": [256, 192], "resize_mode": "shortest"},
    {"size": 224, "resize_mode": "squash"},
    {"size": 240, "resize_mode": "longest", "fill_color": 0},
    {"size": 224, "resize_mode": "shortest", "interpolation": "bilinear"},
])
def test_preprocessing_gives_open_clips_pixels_on_real_photos(faces_dir, config):
    open_clip = pytest.importorskip("open_clip")
    full = {"mean": CLIP_MEAN, "std": CLIP_STD, "interpolation": "bicubic", **config}
    ours = ImagePreprocess.from_config(full, "test")
    size = tuple(config["size"]) if isinstance(config["size"], list) else config["size"]
    reference = open_clip.image_transform(size, is_train=False, mean=CLIP_MEAN, std=CLIP_STD, resize_mode=config["resize_mode"],
                                          interpolation=full["interpolation"], fill_color=config.get("fill_color", 0))
    from PIL import Image

    for path in real_photos(faces_dir):
        rgb = decode_image(path.read_bytes())
        expected = reference(Image.fromarray(rgb)).numpy()
        got = ours(rgb)
        assert got.shape == expected.shape and got.dtype == np.float32
        assert np.abs(got - expected).max() < 1e-5, path.name


def test_torchvision_resize_then_crop_matches_torchvision(faces_dir):
    transforms = pytest.importorskip("torchvision.transforms")
    from PIL import Image

    ours = ImagePreprocess.from_config({"size": 224, "resize": 256, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
                                        "interpolation": "bilinear"}, "test")
    reference = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                    transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    for path in real_photos(faces_dir):
        rgb = decode_image(path.read_bytes())
        assert np.abs(ours(rgb) - reference(Image.fromarray(rgb)).numpy()).max() < 1e-5, path.name


def test_bad_preprocessing_is_named():
    with pytest.raises(BadModelFolder, match="cfg.json: .*resize_mode 'sideways'"):
        ImagePreprocess.from_config({"size": 224, "mean": CLIP_MEAN, "std": CLIP_STD, "resize_mode": "sideways"}, "cfg.json")
    with pytest.raises(BadModelFolder, match="cfg.json: not a preprocessing config"):
        ImagePreprocess.from_config({"size": 224}, "cfg.json")


def _copy(model_dir: Path, target: Path) -> Path:
    shutil.copytree(model_dir, target)
    return target


def test_immich_layout_loads_without_our_card(clip_model_dir, tmp_path):
    folder = _copy(clip_model_dir, tmp_path / "immich-export")
    (folder / "facegrid.json").unlink()
    card = read_card(folder)
    assert card.name == "immich-export" and card.modalities == ("image", "text") and card.family == "immich"
    assert card.dim == json.loads((folder / "config.json").read_text())["embed_dim"]


def test_a_card_holds_a_third_modality(clip_model_dir, tmp_path):
    folder = _copy(clip_model_dir, tmp_path / "three")
    card_file = folder / "facegrid.json"
    card = json.loads(card_file.read_text())
    card["name"] = "three"
    # An ImageBind-style audio tower: its own graph and its own preprocessing fields.
    card["towers"]["audio"] = {"onnx": "visual/model.onnx", "sample_rate": 16000, "clip_seconds": 2}
    card_file.write_text(json.dumps(card))
    loaded = read_card(folder)
    assert loaded.modalities == ("image", "text", "audio")
    assert loaded.towers["audio"].settings == {"sample_rate": 16000, "clip_seconds": 2}
    assert read_card(folder).as_json()["towers"]["audio"]["sample_rate"] == 16000


def test_broken_folders_are_named_and_the_others_load(clip_model_dir, tmp_path):
    models = tmp_path / "models"
    _copy(clip_model_dir, models / "good")
    corrupt = _copy(clip_model_dir, models / "corrupt-onnx")
    (corrupt / "visual" / "model.onnx").write_bytes(b"not an onnx graph")
    missing = _copy(clip_model_dir, models / "missing-tokenizer")
    (missing / "textual" / "tokenizer.json").unlink()
    bad_card = _copy(clip_model_dir, models / "bad-card")
    (bad_card / "facegrid.json").write_text("{ not json")
    for folder in (corrupt, missing, bad_card):  # each keeps its own name, so only its fault stops it
        card = folder / "facegrid.json"
        if folder is not bad_card:
            card.write_text(card.read_text().replace(json.loads(card.read_text())["name"], folder.name))
    good = models / "good" / "facegrid.json"
    good_name = json.loads(good.read_text())["name"]

    registry = ModelRegistry(EncoderSettings(models_dir=models))
    assert registry.load() == [good_name]
    broken = registry.broken
    assert "visual/model.onnx" in broken[str(corrupt)] and "it cannot be loaded" in broken[str(corrupt)]
    assert "textual/tokenizer.json: missing" in broken[str(missing)]
    assert "facegrid.json: not readable JSON" in broken[str(bad_card)]
    names = {e.name: e for e in registry.entries()}
    assert names["fused"].modalities == ("face",) and names["fused"].is_default
    assert names[good_name].modalities == ("image", "text")


def test_registry_refuses_a_shipped_name_and_unknown_models(clip_model_dir, tmp_path):
    folder = _copy(clip_model_dir, tmp_path / "models" / "fused")
    card = json.loads((folder / "facegrid.json").read_text())
    card["name"] = "fused"
    (folder / "facegrid.json").write_text(json.dumps(card))
    registry = ModelRegistry(EncoderSettings(models_dir=tmp_path / "models"))
    assert registry.load() == []
    assert "shipped face model" in registry.broken[str(folder)]
    with pytest.raises(UnknownModel, match="face model"):
        registry.tower_model("fused")
    with pytest.raises(UnknownModel, match="unknown model 'nope'"):
        registry.tower_model("nope")


def test_image_only_model_refuses_text(resnet_model_dir, faces_dir):
    registry = ModelRegistry(EncoderSettings(models_dir=resnet_model_dir.parent))
    name = registry.load()[0]
    model = registry.tower_model(name)
    with pytest.raises(MissingModality, match="no text tower"):
        model.embed_texts(["a dog"])
    vectors = model.embed_images([decode_image(p.read_bytes()) for p in real_photos(faces_dir)])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
