"""Several face models at once: their unit vectors, weighted and concatenated.

For unit vectors a and b and weights wa + wb = 1, [sqrt(wa) a, sqrt(wb) b] has
unit length, and the inner product of two fused vectors is wa cos(a) + wb cos(b):
weighted score fusion that any inner-product index (FAISS) computes directly.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..detect import Detection
from .base import FaceModel


class FusedModel(FaceModel):
    """Weighted concatenation of several face models' normalised vectors."""

    def __init__(self, name: str, parts: Sequence[FaceModel], weights: Sequence[float]) -> None:
        super().__init__(mirror=False)
        if len(parts) != len(weights) or min(weights) <= 0:
            raise ValueError("one positive weight per part")
        self.name = name
        self.parts = list(parts)
        total = float(sum(weights))
        self.weights = [w / total for w in weights]
        self._scales = [np.float32(np.sqrt(w)) for w in self.weights]
        self.dim = sum(p.dim for p in self.parts)
        self.input_size = self.parts[0].input_size

    def chip(self, image: np.ndarray, detection: Detection) -> tuple:
        """One chip per part model, each in that model's own geometry."""
        return tuple(part.chip(image, detection) for part in self.parts)

    def embed_later(self, chips: Sequence[Any]) -> Callable[[], np.ndarray]:
        """Unit vectors, shape (n, dim): each part's unit vector scaled by sqrt(its weight).

        Every part's request is queued before any is waited on: with batchers, the parts run side by side.
        """
        if len(chips) == 0:
            return lambda: np.zeros((0, self.dim), dtype=np.float32)
        later = [part.embed_later([c[i] for c in chips]) for i, part in enumerate(self.parts)]
        return lambda: np.hstack([scale * finish() for finish, scale in zip(later, self._scales)]).astype(np.float32)

    def use_batching(self, settings, name: str | None = None) -> None:
        """A batcher in front of each part (named `<this model>/<part>`)."""
        for part in self.parts:
            part.use_batching(settings, f"{name or self.name}/{part.name}")

    def close(self) -> None:
        """Stop every part's batcher."""
        for part in self.parts:
            part.close()

    def _embed_raw(self, chips: np.ndarray) -> np.ndarray:  # pragma: no cover - embed is overridden
        raise NotImplementedError

    def describe(self) -> dict:
        """As FaceModel.describe, plus the parts, their weights and mirroring."""
        info = super().describe()
        info["mirror"] = {p.name: p.mirror for p in self.parts}
        info["parts"] = {p.name: round(w, 4) for p, w in zip(self.parts, self.weights)}
        return info
