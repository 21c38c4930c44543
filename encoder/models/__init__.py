"""Model registry: every embedding model by name, built on first use.

`fused` (dlib ResNet + SFace, 256-d) is the default face model. Per model,
test-time mirroring is on by default where it measured worth its cost, and the
fused weights give each part an equal say relative to its score spread
(docs/benchmarks.md says how both were chosen).
"""

from __future__ import annotations

import os
from dataclasses import replace

from ..errors import UnknownModel
from ..runtime import EncoderSettings
from .base import FaceModel, l2_normalise

DEFAULT_MODEL = "fused"

# Mirroring lifts dlib's LFW accuracy from 98.8% to 99.1% for ~5 ms a face;
# SFace gains nothing from it (99.43% vs 99.45%) at twice its cost.
MIRROR_BY_DEFAULT = {"dlib": True, "sface": False}

# Fused score = sum of weight * cosine. The weights are inversely proportional to
# each model's impostor-score spread (std 0.034 for dlib, 0.099 for SFace, measured
# on the ORL, deepface, face_recognition, faceapi_bbt and dlib photo sets, not LFW):
# dlib's cosines span a far narrower range, so equal weights would let SFace dominate.
FUSED_WEIGHTS = {"dlib": 0.74, "sface": 0.26}

_PARTS = {"dlib": ["dlib"], "sface": ["sface"], "fused": ["dlib", "sface"]}
_DIMS = {"dlib": 128, "sface": 128}


def model_names() -> list[str]:
    """Names of all registered models."""
    return list(_PARTS)


def model_dim(name: str) -> int:
    """Vector length of a model, without loading it."""
    return sum(_DIMS[part] for part in _parts(name))


def mirror_settings(name: str, mirror: bool | None = None) -> dict[str, bool]:
    """Whether each part of a model mirrors: `mirror` forces all, None takes each part's default."""
    parts = _parts(name)
    return {part: MIRROR_BY_DEFAULT[part] if mirror is None else mirror for part in parts}


def _parts(name: str) -> list[str]:
    try:
        return _PARTS[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r}; available: {', '.join(_PARTS)}") from None


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
    """A ready model by name; `mirror=None` keeps each part's default; settings: cache folder, device, threads,
    and batching across callers (a batcher per part when settings.batch_max > 0)."""
    mirrors = mirror_settings(name, mirror)
    parts = [_single(part, mirrors[part], _part_settings(settings, len(mirrors))) for part in mirrors]
    if len(parts) == 1:
        model = parts[0]
    else:
        from .fused import FusedModel

        model = FusedModel(name, parts, [FUSED_WEIGHTS[p.name] for p in parts])
    if settings is not None:
        model.use_batching(settings)
    return model


__all__ = ["DEFAULT_MODEL", "FaceModel", "l2_normalise", "load_model", "mirror_settings", "model_dim", "model_names"]
