"""Model folders of the binding recipe: a small CLIP-style pivot (image + text), and a pivot plus one bound tower.

Both are written in the layout encoder/importers/openclip.py writes (visual/, textual/, facegrid.json), through
staged_folder (nothing half-written) and ONNX exports checked against torch, so TowerModel serves them like
any imported CLIP. A bound model is a copy of the pivot's files with one more tower, `<modality>/model.onnx`,
listed in the card with its preprocessing settings.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ..importers.folder import staged_folder, write_json
from ..importers.onnx_export import OPSET, check_tower, export_tower
from ..towers.card import CARD_FILE, CARD_FORMAT, ModelCard
from ..towers.preprocess import ImagePreprocess
from ..towers.tokenizer import ClipTokenizer
from .run import TrainError


def export_clip_pivot(image_tower: torch.nn.Module, text_tower: torch.nn.Module, tokenizer: ClipTokenizer,
                      preprocess: ImagePreprocess, models_dir: Path, name: str, *, dim: int, arch: str,
                      extra: dict | None = None) -> Path:
    """An image + text model folder from two eval-mode towers; the folder."""
    image_tower.eval()
    text_tower.eval()
    with staged_folder(models_dir, name) as folder:
        write_json(folder / "visual" / "preprocess_cfg.json", preprocess.as_config())
        example = torch.randn(2, 3, *preprocess.size)
        export_tower(image_tower, example, folder / "visual" / "model.onnx", "image")
        check_tower(image_tower, folder / "visual" / "model.onnx", [example, torch.randn(5, 3, *preprocess.size)], "image")
        tokenizer.write_tokenizer_json(folder / "textual" / "tokenizer.json")
        texts = torch.from_numpy(tokenizer.encode(["a red heart", "", "grinning face with smiling eyes " * 9]).ids).to(torch.int32)
        export_tower(text_tower, texts[:1], folder / "textual" / "model.onnx", "text")
        check_tower(text_tower, folder / "textual" / "model.onnx", [texts[:1], texts], "text")
        write_json(folder / CARD_FILE, {
            "format": CARD_FORMAT, "name": name, "family": "facegrid", "arch": arch, "dim": dim, "metric": "cosine",
            "towers": {"image": {"onnx": "visual/model.onnx", "preprocess": "visual/preprocess_cfg.json"},
                       "text": {"onnx": "textual/model.onnx", "tokenizer": "textual/tokenizer.json",
                                "context_length": tokenizer.context_length}},
            "source": {"recipe": "clip", "torch": torch.__version__, "opset": OPSET, **(extra or {})},
        })
    return Path(models_dir).expanduser() / name


def export_bound(pivot: ModelCard, modality: str, tower: torch.nn.Module, examples: list[torch.Tensor], settings: dict,
                 models_dir: Path, name: str, *, arch: str, extra: dict | None = None) -> Path:
    """The pivot's towers plus `tower` for `modality` (ONNX input named after it), in a new folder; the folder."""
    if modality in pivot.towers:
        raise TrainError(f"pivot {pivot.name!r} already has its own {modality} tower; bind to a model without one")
    tower.eval()
    card = pivot.as_json()
    with staged_folder(models_dir, name) as folder:
        shutil.copytree(pivot.folder, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(CARD_FILE, ".*"))
        onnx = folder / modality / "model.onnx"
        export_tower(tower, examples[0], onnx, modality)
        check_tower(tower, onnx, examples, modality)
        card["towers"][modality] = {"onnx": f"{modality}/model.onnx", **settings}
        card.update(name=name, family="facegrid", arch=f"{card.get('arch') or pivot.name}+{modality}:{arch}")
        card["source"] = {"recipe": "bind", "pivot": pivot.name, "pivot_family": pivot.family, "torch": torch.__version__,
                          "opset": OPSET, **(extra or {})}
        write_json(folder / CARD_FILE, card)
    return Path(models_dir).expanduser() / name
