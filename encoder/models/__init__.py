"""Model registry: every embedding model by name, built on first use.

`fused` (dlib ResNet + SFace, 256-d) is the default face model. A name that is not shipped is a folder face
model under `settings.models_dir` (trained by `facegrid train`: models/folder.py). Per model,
test-time mirroring is on by default where it measured worth its cost, and the
fused weights give each part an equal say relative to its score spread
(docs/benchmarks.md says how both were chosen).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..catalog import DEFAULT_MODEL, FUSED_WEIGHTS, MIRROR_BY_DEFAULT, is_shipped, model_dim, model_names, parts as _parts
from ..runtime import EncoderSettings
from .base import FaceModel, l2_normalise

__all__ = ["DEFAULT_MODEL", "FUSED_WEIGHTS", "MIRROR_BY_DEFAULT", "FaceModel", "is_shipped", "l2_normalise", "load_model",
           "model_dim", "model_folder", "model_names", "mirror_settings", "vectors_setup"]

def mirror_settings(name: str, mirror: bool | None = None, settings: EncoderSettings | None = None) -> dict[str, bool]:
    """Whether each part of a model mirrors: `mirror` forces all, None takes each part's default (a folder
    network: off; a head: its base's)."""
    if not is_shipped(name):
        card = _folder_card(name, settings)
        face = card.towers["face"].face
        return mirror_settings(face.base, mirror) if face.is_head else {name: bool(mirror)}
    parts = _parts(name)
    return {part: MIRROR_BY_DEFAULT[part] if mirror is None else mirror for part in parts}


def vectors_setup(name: str, mirror: bool | None = None, settings: EncoderSettings | None = None) -> str:
    """What a model's vectors depend on, for caches keyed on it: a folder model's card and ONNX digest included,
    so a model retrained under the same name is never served its predecessor's vectors."""
    shipped = f"mirror={mirror_settings(name, mirror, settings)}|weights={FUSED_WEIGHTS}"
    if is_shipped(name):
        return shipped
    from .folder import folder_digest

    return f"{shipped}|folder={folder_digest(_folder_card(name, settings))}"


def model_folder(name: str, settings: EncoderSettings | None = None) -> Path | None:
    """A folder face model's folder (where its calibration table lives); None for a shipped model."""
    return None if is_shipped(name) else _folder_card(name, settings).folder


def _folder_card(name: str, settings: EncoderSettings | None):
    from .folder import find_face_card

    return find_face_card(name, (settings or EncoderSettings()).models_dir)


def _single(name: str, mirror: bool, settings: EncoderSettings | None) -> FaceModel:
    # Imported here so listing models does not load dlib or ONNX.
    if name == "dlib":
        from .dlib_resnet import DlibResNet

        return DlibResNet(mirror=mirror, settings=settings)
    from .sface import SFace

    return SFace(mirror=mirror, settings=settings)


def _part_settings(settings: EncoderSettings | None, parts: int) -> EncoderSettings | None:
    """With batching on, the parts' batchers run side by side: each part gets its share of the cores
    (where threads is 0, all cores). Measured for fused on 2 cores: 1 thread a part, 1.24x unbatched at
    32 callers, against 1.06x with every core a part (docs/benchmarks.md)."""
    if settings is None or settings.batch_max <= 0 or settings.threads or parts == 1:
        return settings
    return replace(settings, threads=max(1, (os.cpu_count() or 1) // parts))


def load_model(name: str = DEFAULT_MODEL, mirror: bool | None = None, settings: EncoderSettings | None = None) -> FaceModel:
    """A ready model by name, shipped or a folder face model under settings.models_dir; `mirror=None` keeps each
    part's default; settings: cache folder, device, threads, and batching across callers (a batcher per part
    when settings.batch_max > 0)."""
    model = _build(name, mirror, settings)
    if settings is not None:
        model.use_batching(settings)
    return model


def _build(name: str, mirror: bool | None, settings: EncoderSettings | None) -> FaceModel:
    """The model, its batchers not yet started."""
    if not is_shipped(name):
        from .folder import FolderFaceModel, HeadFaceModel

        card = _folder_card(name, settings)
        face = card.towers["face"].face
        if face.is_head:
            return HeadFaceModel(card, _build(face.base, mirror, settings), settings)
        return FolderFaceModel(card, mirror=bool(mirror), settings=settings)
    mirrors = mirror_settings(name, mirror)
    parts = [_single(part, mirrors[part], _part_settings(settings, len(mirrors))) for part in mirrors]
    if len(parts) == 1:
        model = parts[0]
    else:
        from .fused import FusedModel

        model = FusedModel(name, parts, [FUSED_WEIGHTS[p.name] for p in parts])
    return model


__all__ = ["DEFAULT_MODEL", "FaceModel", "is_shipped", "l2_normalise", "load_model", "mirror_settings", "model_dim",
           "model_folder", "model_names", "vectors_setup"]
