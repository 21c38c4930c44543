"""What face models ship with facegrid: their names, parts, dimensions and fixed settings.

Imported by everyone that needs a model's name or size (the model registry, model cards, the tower registry,
the server), and imports nothing of facegrid but its errors: so listing models never loads one, and no
import cycle can run through here.
"""

from __future__ import annotations

from .errors import UnknownModel

DEFAULT_MODEL = "fused"

# Mirroring lifts dlib's LFW accuracy from 98.8% to 99.1% for ~5 ms a face;
# SFace gains nothing from it (99.43% vs 99.45%) at twice its cost.
MIRROR_BY_DEFAULT = {"dlib": True, "sface": False}

# Fused score = sum of weight * cosine. The weights are inversely proportional to
# each model's impostor-score spread (std 0.034 for dlib, 0.099 for SFace, measured
# on the ORL, deepface, face_recognition, faceapi_bbt and dlib photo sets, not LFW):
# dlib's cosines span a far narrower range, so equal weights would let SFace dominate.
FUSED_WEIGHTS = {"dlib": 0.74, "sface": 0.26}

# The precisions each shipped network may run at (FACEGRID_PRECISION, encoder/sessions/): f32, and bf16 where its
# vectors were measured to keep its accuracy (LFW View 2 within 0.1 points of f32; docs/models.md, the card).
PRECISIONS = {"dlib": ("f32", "bf16"), "sface": ("f32", "bf16")}

_PARTS = {"dlib": ["dlib"], "sface": ["sface"], "fused": ["dlib", "sface"]}
_DIMS = {"dlib": 128, "sface": 128}


def model_names() -> list[str]:
    """Names of the shipped face models."""
    return list(_PARTS)


def is_shipped(name: str) -> bool:
    """Whether `name` is a shipped face model (else it may be a folder model)."""
    return name in _PARTS


def parts(name: str) -> list[str]:
    """The shipped networks a shipped model is made of; UnknownModel for any other name."""
    try:
        return _PARTS[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r}; available: {', '.join(_PARTS)}") from None


def model_dim(name: str) -> int:
    """Vector length of a shipped model, without loading it."""
    return sum(_DIMS[part] for part in parts(name))
