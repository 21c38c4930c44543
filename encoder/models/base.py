"""What every embedding model offers, whatever its family."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..batcher import Batcher, batched
from ..detect import Detection
from .. import runtime
from ..runtime import EncoderSettings
from ..vectors import l2_normalise  # noqa: F401 - here for the models that import it from base


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
    # The session that runs the chips (encoder/sessions; None: the OpenCV reference backend), for warm-up.
    session = None
    # A folder model's folder (its calibration table lives there); None for the shipped models.
    folder: Path | None = None

    def __init__(self, mirror: bool = False) -> None:
        # Average each face's vector with that of its horizontally flipped chip.
        self.mirror = mirror
        # Set by use_batching: concurrent callers' stacks share model runs.
        self._batcher: Callable[[np.ndarray], np.ndarray] | None = None

    def use_batching(self, settings: EncoderSettings, name: str | None = None) -> None:
        """Put a batcher in front of this model's inference, per `settings` (nothing when batch_max is 0)."""
        # On a CPU a run goes in the model's own best chunks (max_batch, measured); a GPU takes the batch whole.
        whole = runtime.gpu_available(settings.device)
        run = batched(self._embed_raw if whole else self._embed_batched, settings, name or self.name)
        self._batcher = run if isinstance(run, Batcher) else None

    def close(self) -> None:
        """Stop the batcher, if any (queued callers get BatcherClosed)."""
        if isinstance(self._batcher, Batcher):
            self._batcher.close()
        self._batcher = None

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
        return self.embed_later(chips)()

    def embed_later(self, chips: Sequence[Any]) -> Callable[[], np.ndarray]:
        """`embed`, started now where a batcher runs it (queued at once) and finished by the call returned.

        A fused model queues every part's stack before waiting on any, so its parts run side by side.
        """
        if len(chips) == 0:
            return lambda: np.zeros((0, self.dim), dtype=np.float32)
        stack = np.stack(chips)
        if self.mirror:
            # Chips and their mirror images in the same request: fewer inference round trips, one batch.
            stack = np.concatenate([stack, stack[:, :, ::-1]])
        if isinstance(self._batcher, Batcher):
            future = self._batcher.submit(stack)
            return lambda: self._finish(future.result(), len(chips))
        return lambda: self._finish(self._embed_batched(stack), len(chips))

    def _finish(self, raw: np.ndarray, n: int) -> np.ndarray:
        """Unit vectors from raw outputs (mirrored rows, if any, after the n originals, averaged in)."""
        vectors = l2_normalise(raw)
        if not self.mirror:
            return vectors
        return l2_normalise(vectors[:n] + vectors[n:])

    def sessions(self) -> dict[str, Any]:
        """Every network's session by name (a fused model's parts; HeadFaceModel adds its head)."""
        networks = getattr(self, "parts", None) or [self]
        return {part.name: part.session for part in networks if part.session is not None}

    def runtimes(self) -> dict[str, str]:
        """`runtime:precision` of every network by name: what its vectors depend on besides the weights."""
        return {name: f"{s.choice.runtime}:{s.choice.precision}" for name, s in sorted(self.sessions().items())}

    def describe(self) -> dict:
        """Name, modality, dim, metric and input size, for listings."""
        return {
            "name": self.name,
            "modality": self.modality,
            "dim": self.dim,
            "metric": self.metric,
            "input_size": list(self.input_size),
            "mirror": self.mirror,
            "runtimes": self.runtimes(),
        }
