"""Model registry: every embedding model by name, built on first use.

`fused` (dlib ResNet + SFace, 256-d) is the default face model.
"""

from __future__ import annotations

from typing import Callable

from ..errors import UnknownModel
from .base import FaceModel, l2_normalise

DEFAULT_MODEL = "fused"


def _dlib(mirror: bool, threads: int) -> FaceModel:
    from .dlib_resnet import DlibResNet

    return DlibResNet(mirror=mirror, threads=threads)


def _sface(mirror: bool, threads: int) -> FaceModel:
    from .sface import SFace

    return SFace(mirror=mirror, threads=threads)


def _fused(mirror: bool, threads: int) -> FaceModel:
    from .fused import FusedModel

    return FusedModel("fused", [_dlib(mirror, threads), _sface(mirror, threads)])


_FACTORIES: dict[str, Callable[[bool, int], FaceModel]] = {
    "dlib": _dlib,
    "sface": _sface,
    "fused": _fused,
}


def model_names() -> list[str]:
    """Names of all registered models."""
    return list(_FACTORIES)


def load_model(name: str = DEFAULT_MODEL, mirror: bool = False, threads: int = 0) -> FaceModel:
    """A ready model by name; `threads=0` lets ONNX Runtime use every core."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r}; available: {', '.join(_FACTORIES)}") from None
    return factory(mirror, threads)


__all__ = ["DEFAULT_MODEL", "FaceModel", "l2_normalise", "load_model", "model_names"]
