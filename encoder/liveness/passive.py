"""The passive score of faces: the liveness folder's networks on their patches, softmaxes averaged.

Upstream sums the two networks' softmaxes and takes the live class; their mean is the same decision on a
0..1 scale. The networks read the context around the face (2.7x and 4x the box): a phone's edge, a hand.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import BadModelFolder
from ..runtime import EncoderSettings
from ..sessions.open import open_session
from .card import LivenessCard
from .patch import cut_patch


def _session(path, settings: EncoderSettings):
    try:
        session = open_session(path, settings, f"liveness/{path.stem}", ("f32",), batch=1)
    except Exception as error:  # noqa: BLE001 - the runtimes raise their own untyped errors for bad graphs
        raise BadModelFolder(f"{path}: it cannot be loaded ({type(error).__name__}: {str(error)[:300]})") from None
    shape = session.get_inputs()[0].shape
    if len(session.get_inputs()) != 1 or len(shape) != 4 or shape[1] != 3:
        raise BadModelFolder(f"{path}: expected one input of shape (n, 3, size, size), found {[i.shape for i in session.get_inputs()]}")
    return session


class PassiveModel:
    """A liveness folder's networks in sessions (encoder/sessions); `score` gives the live probability of faces."""

    def __init__(self, card: LivenessCard, settings: EncoderSettings | None = None) -> None:
        settings = settings or EncoderSettings()
        self.card = card
        self.name = card.name
        self._sessions = [(model, _session(card.folder / model.onnx, settings)) for model in card.models]
        self._inputs = [session.get_inputs()[0].name for _, session in self._sessions]

    def score(self, faces: Sequence[tuple[np.ndarray, tuple[float, float, float, float]]]) -> np.ndarray:
        """Live probability (0..1) of each (RGB uint8 image, face box) pair, all run as one batch per network."""
        if not faces:
            return np.zeros(0, np.float32)
        total = np.zeros(len(faces), np.float64)
        for (model, session), input_name in zip(self._sessions, self._inputs):
            patches = np.stack([cut_patch(rgb, box, model.scale, model.size) for rgb, box in faces])
            # BGR values 0..255, not divided: as the networks were trained (the patch is cut from RGB, then flipped).
            batch = np.ascontiguousarray(patches[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
            probabilities = session.run(None, {input_name: batch})[0]
            total += probabilities[:, self.card.live_class]
        return (total / len(self._sessions)).astype(np.float32)
