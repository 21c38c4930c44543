"""Importers: operators' checkpoints (open_clip state dicts, OpenAI TorchScript, torchvision backbones) into
model folders whose served vectors equal the reference libraries' own, on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facegrid.encoder.errors import ImportFailed

pytest.importorskip("open_clip", reason="open_clip_torch is not installed (pip install 'facegrid[import]')")


def test_openclip_import_writes_immichs_layout_and_our_card(clip_model_dir):
    for part in ("config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx",
                 "textual/tokenizer_config.json", "facegrid.json"):
        assert (clip_model_dir / part).is_file(), part
    card = json.loads((clip_model_dir / "facegrid.json").read_text())
    assert card["format"] == "facegrid-model/1" and card["family"] == "openclip" and card["arch"] == "ViT-S-32"
    assert card["dim"] == json.loads((clip_model_dir / "config.json").read_text())["embed_dim"] == 384
    assert set(card["towers"]) == {"image", "text"} and card["towers"]["text"]["context_length"] == 77
    preprocess = json.loads((clip_model_dir / "visual" / "preprocess_cfg.json").read_text())
    assert preprocess["size"] == [224, 224] and preprocess["interpolation"] == "bicubic" and preprocess["resize_mode"] == "shortest"


def test_wrong_architecture_is_refused_and_nothing_written(clip_checkpoint, tmp_path):
    from facegrid.encoder.importers import import_openclip

    with pytest.raises(ImportFailed, match=r"not a ViT-B-32 checkpoint: .*weights of another shape .*visual\.conv1\.weight \(384, 3, 32, 32\) vs \(768, 3, 32, 32\)"):
        import_openclip("ViT-B-32", clip_checkpoint, tmp_path / "models")
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []
