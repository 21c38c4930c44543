"""dlib's 128-d face ResNet (`face_recognition_models`), rebuilt as an ONNX graph.

dlib-bin runs this network at ~73 ms a chip on one core (no BLAS); the same
weights on ONNX Runtime run in a few milliseconds and match dlib to ~1e-7.
"""

from __future__ import annotations

import numpy as np

from ..align import DlibChipper
from ..catalog import PRECISIONS
from ..detect import Detection
from .base import FaceModel
from ..runtime import EncoderSettings
from ..sessions.open import open_session
from .dlib_onnx import cached_dlib_onnx, preprocess


class DlibResNet(FaceModel):
    """dlib's ResNet: 150x150 chips in dlib's own geometry (padding 0.25), 128-d."""

    name = "dlib"
    dim = 128
    input_size = (150, 150)
    def __init__(self, mirror: bool = False, settings: EncoderSettings | None = None) -> None:
        super().__init__(mirror=mirror)
        settings = settings or EncoderSettings()
        self._chipper = DlibChipper(size=150, padding=0.25)
        self._session = open_session(cached_dlib_onnx(folder=settings.converted_dir()), settings, "dlib", PRECISIONS["dlib"],
                                     self.max_batch)
        self._input = self._session.get_inputs()[0].name

    @property
    def session(self):
        """The session that runs the chips."""
        return self._session

    def chip(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """150x150 RGB chip from dlib's 5-point landmarks fitted inside the detected box."""
        return self._chipper.chip(image, detection)

    def _embed_raw(self, chips: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: preprocess(chips)})[0]
