"""Landmarks to canonical face chips, one geometry per model family.

- ArcFace template, 112x112 (SFace): least-squares similarity transform of the five
  landmarks onto the template, as OpenCV's `FaceRecognizerSF.alignCrop` does.
- dlib chips, 150x150 with padding 0.25 (dlib's ResNet): dlib's own 5-point
  landmarks fitted inside the detected box, then `dlib.get_face_chip`.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .assets import dlib_model
from .detect import ARCFACE_TEMPLATE, Detection


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity (rotation, uniform scale, shift) taking source to target.

    Umeyama's closed form; no reflection.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = (source_centred**2).sum() / len(source)
    scale = float(np.trace(np.diag(singular) @ sign) / variance) if variance > 0 else 1.0
    shift = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])


def arcface_chip(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The face warped onto the ArcFace 5-point template: (size, size, 3) uint8 RGB."""
    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE * (size / 112.0))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


class DlibChipper:
    """dlib's face chip: its 5-point predictor inside the box, then `get_face_chip`.

    The predictor is fitted from a square box around the detection, which is
    the kind of box dlib's own detectors give it.
    """

    def __init__(self, size: int = 150, padding: float = 0.25) -> None:
        import dlib

        self._dlib = dlib
        self.size = size
        self.padding = padding
        self._path = str(dlib_model("shape_predictor_5_face_landmarks.dat"))
        self._local = threading.local()

    def _predictor(self):
        predictor = getattr(self._local, "predictor", None)
        if predictor is None:
            predictor = self._local.predictor = self._dlib.shape_predictor(self._path)
        return predictor

    def chip(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """A (size, size, 3) uint8 RGB chip in dlib's geometry."""
        rect = self._rect(detection)
        shape = self._predictor()(image, rect)
        return np.asarray(self._dlib.get_face_chip(image, shape, size=self.size, padding=self.padding))

    def _rect(self, detection: Detection):
        x, y, w, h = detection.box
        return self._dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
