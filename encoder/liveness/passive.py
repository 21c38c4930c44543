"""The passive score of one face: the liveness folder's networks on their patches, softmaxes averaged.

Upstream sums the two networks' softmaxes and takes the live class; the mean of them is the same decision on a
0..1 scale. The networks read the context around the face (2.7x and 4x the box): a phone's edge, a hand.
"""

from __future__ import annotations

import numpy as np

from .. import runtime
from ..runtime import EncoderSettings
from .card import LivenessCard
from .patch import cut_patch


class PassiveModel:
    """A liveness folder's networks in ONNX Runtime sessions; `score` gives the live probability of faces."""

    def __init__(self, card: LivenessCard, settings: EncoderSettings | None = None) -> None:
        settings = settings or EncoderSettings()
        self.card = card
        self.name = card.name
        self._sessions = [(model, runtime.settings_session(card.folder / model.onnx, settings)) for model in card.models]

    def score(self, bgr: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
        """Live probability (0..1) of each face box in a BGR uint8 image."""
        if not boxes:
            return np.zeros(0, np.float32)
        total = np.zeros(len(boxes), np.float64)
        for model, session in self._sessions:
            patches = np.stack([cut_patch(bgr, box, model.scale, model.size) for box in boxes])
            batch = patches.transpose(0, 3, 1, 2).astype(np.float32)  # 0..255, not divided: as the model was trained
            probabilities = session.run(None, {session.get_inputs()[0].name: batch})[0]
            total += probabilities[:, self.card.live_class]
        return (total / len(self._sessions)).astype(np.float32)
