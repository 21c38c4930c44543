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
    # Largest batch per inference call: beyond it a CPU gets slower per chip (measured).
    max_batch = 16
    # The ONNX Runtime session that runs the chips (None: not on ONNX Runtime), for warm-up.
    session = None

    def __init__(self, mirror: bool = False) -> None:
        # Average each face's vector with that of its horizontally flipped chip.
        self.mirror = mirror

    @abstractmethod
    def chip(self, image: np.ndarray, detection: Detection) -> Any:
        """The aligned face chip this model embeds, from an RGB image."""

    @abstractmethod
    def _embed_raw(self, chips: np.ndarray) -> np.ndarray:
        """Unnormalised vectors for a stack of (n, h, w, 3) uint8 RGB chips."""

    def _embed_batched(self, stack: np.ndarray) -> np.ndarray:
        if len(stack) <= self.max_batch:
            return self._embed_raw(stack)
        return np.vstack([self._embed_raw(stack[i : i + self.max_batch]) for i in range(0, len(stack), self.max_batch)])

    def embed(self, chips: Sequence[Any]) -> np.ndarray:
        """L2-normalised float32 vectors, shape (n, dim), one per chip."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        stack = np.stack(chips)
        if not self.mirror:
            return l2_normalise(self._embed_batched(stack))
        # Chips and their mirror images in the same batches: fewer inference round trips.
        both = l2_normalise(self._embed_batched(np.concatenate([stack, stack[:, :, ::-1]])))
        return l2_normalise(both[: len(stack)] + both[len(stack) :])

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
