"""Trained networks into model folders that `facegrid serve` loads: a face tower, a face head, an image tower.

Each function takes an eval-mode torch module mapping its input to (n, dim), exports it to ONNX with a
numeric check against torch (encoder/importers/onnx_export.py), writes the card, and reads the folder back
as the server will before it is moved into place (encoder/importers/folder.py:staged_folder): a network
that would not serve never lands in the models directory.

    face model  facegrid.json "face": {"onnx": "face/model.onnx", "chip": {"geometry", "size"}, "mean", "std"}
                ONNX input "chip" float32 (n, 3, size, size) = (rgb/255 - mean)/std
    face head   "face": {"onnx": "face/head.onnx", "base": "fused", "base_dim": 256}
                ONNX input "vector" float32 (n, base_dim): the base model's unit vectors
    image model Immich's visual/ layout, as `facegrid models import torchvision` writes it
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import torch

from ..errors import ImportFailed
from ..importers.folder import staged_folder, write_json
from ..importers.image_folder import versions, write_image_folder
from ..importers.onnx_export import check_tower, export_tower
from ..models import model_dim, model_names
from ..towers.card import CARD_FILE, CARD_FORMAT, FACE_GEOMETRIES, FACE_HEAD_ONNX, FACE_MODEL_ONNX, FACE_SIZES, read_card

FAMILY = "facegrid"  # models trained here
# Card keys `extra` may not replace: they say what the folder is.
_RESERVED = {"format", "name", "family", "arch", "dim", "metric", "towers"}


def export_face_model(module: torch.nn.Module, models_dir: Path, name: str, *, arch: str, size: int,
                      geometry: str = "arcface", mean: Sequence[float], std: Sequence[float],
                      extra: dict | None = None) -> Path:
    """A face network (chips (n, 3, size, size), normalised by mean/std, to (n, dim)) as models_dir/name."""
    if geometry not in FACE_GEOMETRIES:
        raise ImportFailed(f"chip geometry {geometry!r}: use one of {', '.join(FACE_GEOMETRIES)}")
    if not isinstance(size, int) or not FACE_SIZES[0] <= size <= FACE_SIZES[1]:
        raise ImportFailed(f"chip size {size!r}: use a whole number of pixels in {FACE_SIZES[0]}..{FACE_SIZES[1]}")
    mean, std = _three(mean, "mean"), _three(std, "std")
    if min(std) <= 0:
        raise ImportFailed(f"std {std}: every value must be > 0")
    tower = _frozen(module)
    example = torch.randn(2, 3, size, size)
    with staged_folder(models_dir, name) as folder:
        dim = _export_checked(tower, example, torch.randn(3, 3, size, size), folder / FACE_MODEL_ONNX, "chip")
        _write_card(folder, name, arch, dim, {"onnx": FACE_MODEL_ONNX, "chip": {"geometry": geometry, "size": size},
                                              "mean": mean, "std": std}, extra)
    return Path(models_dir).expanduser() / name


def export_face_head(module: torch.nn.Module, models_dir: Path, name: str, *, base: str, base_dim: int,
                     arch: str = "head", extra: dict | None = None) -> Path:
    """A head over a shipped face model's unit vectors ((n, base_dim) to (n, dim)) as models_dir/name."""
    if base not in model_names():
        raise ImportFailed(f"head base {base!r}: a head sits on a shipped face model: {', '.join(model_names())}")
    if base_dim != model_dim(base):
        raise ImportFailed(f"base_dim {base_dim}: the {base} model gives {model_dim(base)}-d vectors")
    tower = _frozen(module)
    example, check = _unit_rows(2, base_dim), _unit_rows(5, base_dim)
    with staged_folder(models_dir, name) as folder:
        dim = _export_checked(tower, example, check, folder / FACE_HEAD_ONNX, "vector")
        _write_card(folder, name, arch, dim, {"onnx": FACE_HEAD_ONNX, "base": base, "base_dim": base_dim}, extra)
    return Path(models_dir).expanduser() / name


def export_image_model(module: torch.nn.Module, models_dir: Path, name: str, *, arch: str, preprocess_cfg: dict,
                       extra: dict | None = None) -> Path:
    """A whole-photo network (open_clip preprocess_cfg: size, mean, std, ...) as models_dir/name, image tower only."""
    tower = _frozen(module)
    card_extra = _extra(extra)
    with staged_folder(models_dir, name) as folder:
        write_image_folder(folder, tower, dict(preprocess_cfg), name=name, family=FAMILY, arch=arch,
                           card_extra={"source": versions(), **card_extra})
        _read_back(folder, name)
    return Path(models_dir).expanduser() / name


def _frozen(module: torch.nn.Module) -> torch.nn.Module:
    """A float32 CPU copy in eval mode: the caller's module (maybe on a GPU, maybe training) is left as it is."""
    if not isinstance(module, torch.nn.Module):
        raise ImportFailed(f"expected a torch.nn.Module, got {type(module).__name__}")
    return copy.deepcopy(module).cpu().float().eval()


def _three(values: Sequence[float], what: str) -> list[float]:
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ImportFailed(f"{what} {values!r}: expected 3 numbers (one per RGB channel)") from None
    if len(floats) != 3:
        raise ImportFailed(f"{what} {values!r}: expected 3 numbers (one per RGB channel)")
    return floats


def _unit_rows(n: int, dim: int) -> torch.Tensor:
    """Random unit vectors: what a head is fed (the base model's vectors are unit length)."""
    rows = torch.randn(n, dim)
    return rows / rows.norm(dim=1, keepdim=True)


def _export_checked(tower: torch.nn.Module, example: torch.Tensor, more: torch.Tensor, path: Path, input_name: str) -> int:
    """Export, check against torch on two batch sizes, and return the output dimension."""
    with torch.no_grad():
        out = tower(example)
    if out.ndim != 2 or out.shape[0] != len(example):
        raise ImportFailed(f"the network gives shape {tuple(out.shape)} for a batch of {len(example)}; expected (n, dim)")
    export_tower(tower, example, path, input_name)
    check_tower(tower, path, [example, more], input_name)
    return int(out.shape[1])


def _extra(extra: dict | None) -> dict:
    extra = dict(extra or {})
    clash = sorted(_RESERVED & set(extra))
    if clash:
        raise ImportFailed(f"extra card fields {clash} would replace what the card says the folder is")
    return extra


def _write_card(folder: Path, name: str, arch: str, dim: int, face: dict, extra: dict | None) -> None:
    write_json(folder / CARD_FILE, {"format": CARD_FORMAT, "name": name, "family": FAMILY, "arch": arch, "dim": dim,
                                    "metric": "cosine", "towers": {"face": face}, "source": versions(), **_extra(extra)})
    _read_back(folder, name)


def _read_back(folder: Path, name: str) -> None:
    """The card as the server reads it; a folder it would refuse is not moved into place."""
    card = read_card(folder)
    if card.name != name:  # pragma: no cover - written just above
        raise ImportFailed(f"{folder / CARD_FILE}: reads back as {card.name!r}, not {name!r}")
