"""Two face models at once: their unit vectors concatenated and renormalised.

For unit vectors a and b, [a, b] / sqrt(2) has unit length, and the inner
product of two fused vectors is the mean of the two models' cosines: score
fusion that any inner-product index (FAISS) computes directly.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..detect import Detection
from .base import FaceModel, l2_normalise


class FusedModel(FaceModel):
    """Concatenation of several face models' normalised vectors."""

    def __init__(self, name: str, parts: Sequence[FaceModel]) -> None:
        super().__init__(mirror=False, threads=0)
        self.name = name
        self.parts = list(parts)
        self.dim = sum(p.dim for p in self.parts)
        self.input_size = self.parts[0].input_size

    def chip(self, image: np.ndarray, detection: Detection) -> tuple:
        """One chip per part model, each in that model's own geometry."""
        return tuple(part.chip(image, detection) for part in self.parts)

    def embed(self, chips: Sequence[Any]) -> np.ndarray:
        """L2-normalised concatenation of each part's vectors, shape (n, dim)."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        pieces = [part.embed([c[i] for c in chips]) for i, part in enumerate(self.parts)]
        return l2_normalise(np.hstack(pieces))

    def _embed_raw(self, chips: np.ndarray) -> np.ndarray:  # pragma: no cover - embed is overridden
        raise NotImplementedError

    def describe(self) -> dict:
        """As FaceModel.describe, plus the parts."""
        info = super().describe()
        info["mirror"] = [p.mirror for p in self.parts]
        info["parts"] = [p.name for p in self.parts]
        return info
