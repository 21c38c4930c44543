"""The image-only model folder (Immich's `visual/` layout plus our card), written from a torch tower.

Shared by `facegrid models import torchvision` and the training recipes' export (encoder/train/export.py),
so an imported backbone and a trained one are the same kind of folder, served the same way.
"""

from __future__ import annotations

from pathlib import Path

from ..extras import require

require("torch", "import")  # before torch itself: the error names the extra
import torch

from ..towers.preprocess import ImagePreprocess
from .folder import write_json
from .onnx_export import OPSET, check_tower, export_tower

IMAGE_ONNX = "visual/model.onnx"
IMAGE_PREPROCESS = "visual/preprocess_cfg.json"


def checked_preprocess(preprocess_cfg: dict, source: str) -> ImagePreprocess:
    """The preprocessing the serving side will read back (BadModelFolder naming `source` when it cannot)."""
    return ImagePreprocess.from_config(dict(preprocess_cfg), source)


def write_image_folder(folder: Path, tower: torch.nn.Module, preprocess_cfg: dict, *, name: str, family: str,
                       arch: str, card_extra: dict | None = None, config_extra: dict | None = None) -> int:
    """Export `tower` ((n, 3, H, W) -> (n, dim)) into `folder` with its preprocessing and card; the dimension."""
    size = checked_preprocess(preprocess_cfg, f"{name}: preprocess_cfg").size
    write_json(folder / IMAGE_PREPROCESS, preprocess_cfg)
    example = torch.randn(1, 3, *size)
    onnx = folder / IMAGE_ONNX
    export_tower(tower, example, onnx, "image")
    check_tower(tower, onnx, [example, torch.randn(3, 3, *size)], "image")
    with torch.no_grad():
        dim = int(tower(example).reshape(1, -1).shape[-1])
    # Immich's config.json carries the dimension; a folder without our card still reads.
    write_json(folder / "config.json", {"embed_dim": dim, "vision_cfg": {"image_size": size[0], **(config_extra or {})}})
    write_json(folder / "facegrid.json", {
        "format": "facegrid-model/1", "name": name, "family": family, "arch": arch, "dim": dim, "metric": "cosine",
        "towers": {"image": {"onnx": IMAGE_ONNX, "preprocess": IMAGE_PREPROCESS}},
        **(card_extra or {}),
    })
    return dim


def versions() -> dict:
    """What made the graph: torch's version and the ONNX opset (recorded in every card we write)."""
    return {"torch": torch.__version__, "opset": OPSET}
