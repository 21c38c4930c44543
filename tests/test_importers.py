"""Importers: operators' checkpoints (open_clip state dicts, OpenAI TorchScript, torchvision backbones) into
model folders whose served vectors equal the reference libraries' own, on real photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facegrid.encoder.errors import ImportFailed
from facegrid.encoder.image import decode_image
from facegrid.encoder.towers.card import read_card

pytest.importorskip("open_clip", reason="open_clip_torch is not installed (pip install 'facegrid[import]')")
torch = pytest.importorskip("torch")

TOLERANCE = 1e-4  # max abs difference of unit vectors, served against the reference library
TEXTS = ["a photo of a dog on the beach", "two people on a beach at sunset", "", "   ", "Ünïcödé straße, 東京の夜景",
         "🐶🏖️🌅 emoji only", "CAPITALS and punctuation!!! ... ???", "<start_of_text> literal specials <end_of_text>",
         "a very long caption " * 40]


def reference_photos(faces_dir: Path) -> list[Path]:
    """Real photos of several shapes: square (LFW), landscape, portrait, small greyscale, and a large one (4352x2903)."""
    picked = [faces_dir / "lfw" / "Sandy_Smith" / "Sandy_Smith_0001.jpg",
              faces_dir / "face_recognition" / "obama" / "obama_small.jpg",
              faces_dir / "deepface" / "id10_katy_perry" / "img44.jpg",
              faces_dir / "orl" / "s11" / "6.pgm",
              faces_dir / "deepface" / "id03_scarlett_johansson" / "img49.jpg"]
    found = [p for p in picked if p.is_file()]
    if len(found) < 3:
        pytest.skip(f"the reference photos are not under {faces_dir}")
    return found


def _unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class Served:
    """What the server serves from a folder: the registry's TowerModel (ONNX Runtime, our preprocessing and tokenizer)."""

    def __init__(self, folder: Path) -> None:
        from facegrid.encoder.towers.model import TowerModel

        self.model = TowerModel(read_card(folder))

    def images(self, rgbs: list[np.ndarray]) -> np.ndarray:
        return self.model.embed_images(rgbs)

    def texts(self, texts: list[str]) -> np.ndarray:
        return self.model.embed_texts(texts).vectors


def _open_clip_reference(model, preprocess, photos: list[Path], texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    import open_clip
    from PIL import Image

    with torch.no_grad():
        images = torch.stack([preprocess(Image.fromarray(decode_image(p.read_bytes()))) for p in photos])
        return (model.encode_image(images, normalize=True).numpy(),
                model.encode_text(open_clip.tokenize(texts), normalize=True).numpy())


def test_openclip_import_writes_immichs_layout_and_our_card(clip_model_dir):
    for part in ("config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx",
                 "textual/tokenizer_config.json", "facegrid.json"):
        assert (clip_model_dir / part).is_file(), part
    card = json.loads((clip_model_dir / "facegrid.json").read_text())
    assert card["format"] == "facegrid-model/1" and card["family"] == "openclip" and card["arch"] == "ViT-S-32"
    assert card["name"] == clip_model_dir.name == "clip-vit-s-32"
    assert card["dim"] == json.loads((clip_model_dir / "config.json").read_text())["embed_dim"] == 384
    assert set(card["towers"]) == {"image", "text"} and card["towers"]["text"]["context_length"] == 77
    preprocess = json.loads((clip_model_dir / "visual" / "preprocess_cfg.json").read_text())
    assert preprocess["size"] == [224, 224] and preprocess["interpolation"] == "bicubic" and preprocess["resize_mode"] == "shortest"
    # Immich's OpenClipTextualEncoder pads with this token; open_clip pads with id 0, which is "!".
    assert json.loads((clip_model_dir / "textual" / "tokenizer_config.json").read_text())["pad_token"] == "!"
    assert not [p for p in clip_model_dir.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_openclip_state_dict_serves_open_clips_vectors_on_real_photos(clip_checkpoint, clip_model_dir, faces_dir):
    import open_clip

    # The reference: open_clip loading the same file itself (a file path, not a tag: nothing is downloaded).
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-S-32", pretrained=str(clip_checkpoint))
    photos = reference_photos(faces_dir)
    expected_images, expected_texts = _open_clip_reference(model.eval(), preprocess, photos, TEXTS)
    served = Served(clip_model_dir)
    got_images = served.images([decode_image(p.read_bytes()) for p in photos])
    assert got_images.shape == (len(photos), 384)
    assert np.abs(got_images - expected_images).max() < TOLERANCE
    got_texts = served.texts(TEXTS)
    assert np.abs(got_texts - expected_texts).max() < TOLERANCE
    # One at a time gives the same as a batch (the graph's batch dimension is dynamic).
    assert np.abs(served.images([decode_image(photos[0].read_bytes())])[0] - expected_images[0]).max() < TOLERANCE


def test_openai_torchscript_checkpoint_serves_open_clips_vectors(faces_dir, tmp_path):
    import open_clip

    from facegrid.encoder.importers import import_openclip
    from helpers import save_openai_torchscript

    checkpoint = tmp_path / "ViT-S-32-openai.pt"
    save_openai_torchscript("ViT-S-32", checkpoint, seed=7)
    folder = import_openclip("ViT-S-32", checkpoint, tmp_path / "models", name="openai-vit-s-32")
    assert json.loads((folder / "config.json").read_text())["quick_gelu"] is True
    assert json.loads((folder / "facegrid.json").read_text())["source"]["format"] == "torchscript"
    # The reference: open_clip's own OpenAI loader (fp16 weights of the archive, run in fp32).
    model = open_clip.load_openai_model(str(checkpoint), device="cpu", precision="fp32").eval()
    preprocess = open_clip.image_transform(model.visual.image_size, is_train=False,
                                           mean=open_clip.OPENAI_DATASET_MEAN, std=open_clip.OPENAI_DATASET_STD)
    photos = reference_photos(faces_dir)[:3]
    expected_images, expected_texts = _open_clip_reference(model, preprocess, photos, TEXTS)
    served = Served(folder)
    assert np.abs(served.images([decode_image(p.read_bytes()) for p in photos]) - expected_images).max() < TOLERANCE
    assert np.abs(served.texts(TEXTS) - expected_texts).max() < TOLERANCE


def test_wrong_architecture_is_refused_and_nothing_written(clip_checkpoint, tmp_path):
    from facegrid.encoder.importers import import_openclip

    models = tmp_path / "models"
    with pytest.raises(ImportFailed, match=r"not a ViT-B-32 checkpoint: .*weights of another shape .*"
                                           r"visual\.conv1\.weight \(384, 3, 32, 32\) vs \(768, 3, 32, 32\)"):
        import_openclip("ViT-B-32", clip_checkpoint, models)
    # Same widths, other depth: the keys of the missing layers are named.
    with pytest.raises(ImportFailed, match=r"not a ViT-S-16 checkpoint"):
        import_openclip("ViT-S-16", clip_checkpoint, models)
    assert not models.exists() or list(models.iterdir()) == []


def test_checkpoint_missing_weights_is_named(clip_checkpoint, tmp_path):
    from facegrid.encoder.importers import import_openclip

    state = torch.load(clip_checkpoint, weights_only=True)["state_dict"]
    del state["module.ln_final.weight"]
    cut = tmp_path / "cut.pt"
    torch.save(state, cut)
    with pytest.raises(ImportFailed, match=r"1 weights of ViT-S-32 missing: ln_final\.weight"):
        import_openclip("ViT-S-32", cut, tmp_path / "models")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04 truncated zip"])
def test_corrupt_checkpoint_is_a_clear_error(content, tmp_path):
    from facegrid.encoder.importers import import_openclip, import_torchvision

    bad = tmp_path / "model.pt"
    bad.write_bytes(content)
    with pytest.raises(ImportFailed, match=r"model\.pt: not a checkpoint torch can read"):
        import_openclip("ViT-S-32", bad, tmp_path / "models")
    with pytest.raises(ImportFailed, match=r"model\.pt: not a checkpoint torch can read"):
        import_torchvision("resnet18", bad, tmp_path / "models")
    with pytest.raises(ImportFailed, match="no such checkpoint file"):
        import_openclip("ViT-S-32", tmp_path / "absent.pt", tmp_path / "models")


def test_a_checkpoint_that_would_run_code_is_not_unpickled(tmp_path):
    import pickle

    from facegrid.encoder.importers import import_torchvision

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "ran",))

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": Payload()}, evil, pickle_module=pickle)
    with pytest.raises(ImportFailed, match="only weights are read"):
        import_torchvision("resnet18", evil, tmp_path / "models")
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("arch, says", [
    ("ViT-B-16-SigLIP", "SigLIP"),
    ("xlm-roberta-base-ViT-B-32", "Hugging Face tokenizer 'xlm-roberta-base'"),
    ("coca_ViT-B-32", "CoCa"),
    ("ViT-Nope-99", "unknown open_clip architecture"),
])
def test_unsupported_open_clip_models_say_which_are(arch, says, clip_checkpoint, tmp_path):
    from facegrid.encoder.importers import import_openclip

    with pytest.raises(ImportFailed, match=says):
        import_openclip(arch, clip_checkpoint, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_an_existing_folder_or_a_bad_name_is_refused(clip_checkpoint, clip_model_dir, tmp_path):
    from facegrid.encoder.importers import import_openclip

    with pytest.raises(ImportFailed, match="already exists"):
        import_openclip("ViT-S-32", clip_checkpoint, clip_model_dir.parent, name=clip_model_dir.name)
    with pytest.raises(ImportFailed, match="model name '../x'"):
        import_openclip("ViT-S-32", clip_checkpoint, tmp_path, name="../x")


# ---- torchvision backbones ---------------------------------------------------------------------------------

def _torchvision_reference(arch: str, checkpoint: Path, photos: list[Path]) -> np.ndarray:
    """torchvision's own model and standard eval transforms, the checkpoint loaded as torchvision loads it."""
    import torchvision
    from PIL import Image

    model = torchvision.models.get_model(arch, weights=None)
    model.load_state_dict(torch.load(checkpoint, weights_only=True))
    model.fc = torch.nn.Identity()
    transform = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
    with torch.no_grad():
        batch = torch.stack([transform(Image.fromarray(decode_image(p.read_bytes()))) for p in photos])
        return _unit(model.eval()(batch).numpy())


def test_torchvision_import_serves_torchvisions_vectors_on_real_photos(resnet_checkpoint, resnet_model_dir, faces_dir):
    card = json.loads((resnet_model_dir / "facegrid.json").read_text())
    assert card["family"] == "torchvision" and set(card["towers"]) == {"image"} and card["dim"] == 512
    preprocess = json.loads((resnet_model_dir / "visual" / "preprocess_cfg.json").read_text())
    assert (preprocess["size"], preprocess["resize"], preprocess["interpolation"]) == ([224, 224], 256, "bilinear")
    photos = reference_photos(faces_dir)
    expected = _torchvision_reference("resnet18", resnet_checkpoint, photos)
    got = Served(resnet_model_dir).images([decode_image(p.read_bytes()) for p in photos])
    assert np.abs(got - expected).max() < TOLERANCE


@pytest.mark.parametrize("style", ["lightly", "solo-learn"])
def test_self_supervised_checkpoints_load_as_the_same_backbone(style, faces_dir, tmp_path):
    from facegrid.encoder.importers import import_torchvision
    from helpers import save_torchvision_state_dict

    checkpoint = tmp_path / f"{style}.ckpt"
    model = save_torchvision_state_dict("resnet18", checkpoint, style=style, seed=3)
    full = tmp_path / "full.pth"
    torch.save(model.state_dict(), full)  # the same weights, as torchvision would save them
    folder = import_torchvision("resnet18", checkpoint, tmp_path / "models", name=f"simclr-{style}")
    photos = reference_photos(faces_dir)[:2]
    got = Served(folder).images([decode_image(p.read_bytes()) for p in photos])
    assert np.abs(got - _torchvision_reference("resnet18", full, photos)).max() < TOLERANCE


def test_torchvision_wrong_architecture_is_refused_and_nothing_written(resnet_checkpoint, tmp_path):
    from facegrid.encoder.importers import import_torchvision

    with pytest.raises(ImportFailed, match=r"not a torchvision resnet50 .*layer1\.0\.conv1\.weight \(64, 64, 3, 3\) vs \(64, 64, 1, 1\)"):
        import_torchvision("resnet50", resnet_checkpoint, tmp_path / "models")
    with pytest.raises(ImportFailed, match="unknown torchvision classification model 'resnet9000'"):
        import_torchvision("resnet9000", resnet_checkpoint, tmp_path / "models")
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


# ---- ImageBind and a third tower ----------------------------------------------------------------------------

def test_imagebind_says_exactly_why_not(tmp_path):
    from facegrid.encoder.importers import import_imagebind

    with pytest.raises(ImportFailed, match="no maintained PyPI package provides its architecture.*functional_tensor"):
        import_imagebind(tmp_path / "imagebind_huge.pth", tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_a_folder_with_an_audio_tower_loads_all_three(clip_model_dir, tmp_path):
    from facegrid.encoder.runtime import EncoderSettings
    from facegrid.encoder.towers.registry import ModelRegistry

    folder = tmp_path / "models" / "three-towers"
    shutil.copytree(clip_model_dir, folder)
    card = json.loads((folder / "facegrid.json").read_text())
    card["name"] = "three-towers"
    # An ImageBind-style audio tower (here any graph giving dim-wide vectors) with its own preprocessing fields.
    card["towers"]["audio"] = {"onnx": "visual/model.onnx", "sample_rate": 16000, "clip_seconds": 2, "mel_bins": 128}
    (folder / "facegrid.json").write_text(json.dumps(card))
    registry = ModelRegistry(EncoderSettings(models_dir=tmp_path / "models"))
    assert registry.load() == ["three-towers"], registry.broken
    entry = {e.name: e for e in registry.entries()}["three-towers"]
    assert entry.modalities == ("image", "text", "audio") and entry.dim == 384


# ---- the command ----------------------------------------------------------------------------------------------

def test_cli_imports_into_the_servers_models_dir_and_refuses_a_wrong_architecture(resnet_checkpoint, tmp_path):
    from helpers import facegrid, last_json

    served = tmp_path / "served-models"
    done = facegrid("models", "import", "torchvision", "--arch", "resnet18", "--checkpoint", str(resnet_checkpoint),
                    "--name", "my-simclr", "--json", env={"FACEGRID_MODELS_DIR": str(served)})
    assert done.returncode == 0, done.stderr
    assert last_json(done.stdout) == {"folder": str((served / "my-simclr").resolve()), "name": "my-simclr", "modalities": ["image"],
                                      "dim": 512, "metric": "cosine", "family": "torchvision", "arch": "resnet18"}
    wrong = facegrid("models", "import", "torchvision", "--arch", "resnet50", "--checkpoint", str(resnet_checkpoint),
                     "--models-dir", str(tmp_path / "other"))
    assert wrong.returncode == 1 and "not a torchvision resnet50" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not (tmp_path / "other").exists()
