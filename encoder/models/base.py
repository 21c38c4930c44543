"""What every embedding model offers, whatever its family."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np

from ..detect import Detection


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class FaceModel(ABC):
    """A face embedding model: aligns faces its own way, then embeds the chips.

    `chip` and `embed` are separate so a caller can align faces from many
    photos and embed them in one batch.
    """

    name: str
    modality = "face"
    dim: int
    metric = "cosine"  # vectors are L2-normalised: inner product is the cosine
    input_size: tuple[int, int]

    def __init__(self, mirror: bool = False, threads: int = 0) -> None:
        self.mirror = mirror  # average with the horizontally flipped chip (test-time augmentation)
        self.threads = threads

    @abstractmethod
    def chip(self, image: np.ndarray, detection: Detection) -> Any:
        """The aligned face chip this model embeds, from an RGB image."""

    @abstractmethod
    def _embed_raw(self, chips: np.ndarray) -> np.ndarray:
        """Unnormalised vectors for a stack of (n, h, w, 3) uint8 RGB chips."""

    def embed(self, chips: Sequence[Any]) -> np.ndarray:
        """L2-normalised float32 vectors, shape (n, dim), one per chip."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        stack = np.stack(chips)
        vectors = l2_normalise(self._embed_raw(stack))
        if self.mirror:
            vectors = vectors + l2_normalise(self._embed_raw(np.ascontiguousarray(stack[:, :, ::-1])))
        return l2_normalise(vectors)

    def describe(self) -> dict:
        """Name, modality, dim, metric and input size, for listings."""
        return {
            "name": self.name,
            "modality": self.modality,
            "dim": self.dim,
            "metric": self.metric,
            "input_size": list(self.input_size),
            "mirror": self.mirror,
        }
