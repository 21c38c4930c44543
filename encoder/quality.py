"""Per-face quality measures, later used to refuse poor enrollment photos with reasons."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .align import arcface_chip
from .detect import ARCFACE_TEMPLATE, Detection

# Where the nose tip sits between the eye line (0) and the mouth line (1) in a frontal face.
_FRONTAL_NOSE_DEPTH = float(
    (ARCFACE_TEMPLATE[2, 1] - ARCFACE_TEMPLATE[:2, 1].mean())
    / (ARCFACE_TEMPLATE[3:, 1].mean() - ARCFACE_TEMPLATE[:2, 1].mean())
)


@dataclass(frozen=True)
class FaceQuality:
    """How usable a face is: size, sharpness, head pose and detector confidence."""

    size: float  # shorter side of the face box, pixels
    interocular: float  # distance between the eye centres, pixels
    sharpness: float  # variance of the Laplacian on the 112x112 aligned grey chip
    yaw: float  # degrees, rough, from landmarks: 0 frontal, +-90 profile
    pitch: float  # degrees, rough: positive when the face looks down
    roll: float  # degrees, in-plane tilt of the eye line
    detector_score: float

    def as_dict(self) -> dict:
        """Plain dict for JSON output."""
        return {k: round(float(v), 3) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "FaceQuality":
        """Back from `as_dict` (as stored in Redis); measures missing from old records read as 0."""
        return cls(**{name: float(values.get(name, 0.0)) for name in cls.__dataclass_fields__})


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Rough (yaw, pitch, roll) in degrees from the five landmarks.

    Roll is the eye line's angle. Yaw and pitch come from where the nose tip
    sits relative to the eyes and mouth once roll is undone: a rough estimate
    (no 3-D model), good for telling frontal from turned faces.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    right_eye, left_eye, nose, right_mouth, left_mouth = points
    dx, dy = left_eye - right_eye
    roll = math.degrees(math.atan2(dy, dx))
    angle = -math.radians(roll)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    upright = (points - points.mean(axis=0)) @ rotation.T
    eye_mid = upright[:2].mean(axis=0)
    mouth_mid = upright[3:].mean(axis=0)
    half_interocular = max(np.linalg.norm(upright[1] - upright[0]) / 2.0, 1e-6)
    yaw = math.degrees(math.asin(float(np.clip((upright[2, 0] - eye_mid[0]) / half_interocular, -1, 1))))
    eye_to_mouth = max(mouth_mid[1] - eye_mid[1], 1e-6)
    depth = (upright[2, 1] - eye_mid[1]) / eye_to_mouth
    pitch = math.degrees(math.asin(float(np.clip((depth - _FRONTAL_NOSE_DEPTH) * 2.0, -1, 1))))
    return yaw, pitch, roll


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of a grey chip: low for blurred or upscaled faces."""
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(image: np.ndarray, detection: Detection) -> FaceQuality:
    """Quality of one detected face in an RGB image."""
    yaw, pitch, roll = head_pose(detection.landmarks)
    chip = arcface_chip(image, detection.landmarks, 112)
    interocular = float(np.linalg.norm(detection.landmarks[1] - detection.landmarks[0]))
    return FaceQuality(
        size=detection.size,
        interocular=interocular,
        sharpness=sharpness(chip),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        detector_score=detection.score,
    )
