"""How worth sending a face in a frame is: size, sharpness, head pose (from the 5 landmarks), detector score.

The same measures as the server's probe rules (encoder/quality.py), computed cheaply on the face box
instead of an aligned chip, so that the client sends what the server will use: a face the server would
refuse (under 40 px, blurred, turned more than 60 degrees) is never sent as one of the best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .detector import Face

FULL_SIZE_PX = 112.0      # the server compares 112x112 chips: a larger face adds no detail
FULL_SHARPNESS = 80.0     # Laplacian variance on the 112 px grey face; live faces on the pad videos: 35-120 (median)
MIN_SHARPNESS = 10.0      # below this the face is a smear (the server refuses under 6 on its aligned chip)
MAX_PITCH = 35.0
# Where the nose tip sits between the eye line (0) and the mouth line (1) in a frontal face: ArcFace's
# 112x112 template (encoder/detect.py), (71.74 - 51.60) / (92.28 - 51.60).
FRONTAL_NOSE_DEPTH = 0.4950


@dataclass(frozen=True)
class FaceQuality:
    """Measures of one face in one frame, and `score` in [0, 1] combining them (higher: send this one)."""

    width: float
    sharpness: float
    yaw: float      # degrees, rough: 0 frontal, +-90 profile
    pitch: float    # degrees, rough: positive looking down
    score: float
    usable: bool    # big, sharp and frontal enough to be decided on


def head_pose(landmarks: np.ndarray) -> tuple[float, float]:
    """Rough (yaw, pitch) in degrees from YuNet's five landmarks, the eye line's roll undone first."""
    points = np.asarray(landmarks, dtype=np.float64)
    dx, dy = points[1] - points[0]
    angle = -math.atan2(dy, dx)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    upright = (points - points.mean(axis=0)) @ rotation.T
    eye_mid, mouth_mid = upright[:2].mean(axis=0), upright[3:].mean(axis=0)
    half_interocular = max(float(np.linalg.norm(upright[1] - upright[0])) / 2.0, 1e-6)
    yaw = math.degrees(math.asin(float(np.clip((upright[2, 0] - eye_mid[0]) / half_interocular, -1, 1))))
    depth = (upright[2, 1] - eye_mid[1]) / max(mouth_mid[1] - eye_mid[1], 1e-6)
    pitch = math.degrees(math.asin(float(np.clip((depth - FRONTAL_NOSE_DEPTH) * 2.0, -1, 1))))
    return yaw, pitch


def face_sharpness(bgr: np.ndarray, face: Face) -> float:
    """Variance of the Laplacian of the face box, grey, resized to 112x112 (0 for a box outside the frame)."""
    x, y, w, h = face.box
    height, width = bgr.shape[:2]
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(width, int(x + w)), min(height, int(y + h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    grey = cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA if x1 - x0 > 112 else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def assess(bgr: np.ndarray, face: Face, min_face: float, max_yaw: float = 40.0) -> FaceQuality:
    """The quality of one face in a BGR frame; `usable` needs at least `min_face` px and at most `max_yaw` degrees."""
    yaw, pitch = head_pose(face.landmarks)
    sharp = face_sharpness(bgr, face)
    size_score = min(1.0, face.width / FULL_SIZE_PX)
    sharp_score = min(1.0, sharp / FULL_SHARPNESS)
    pose_score = max(0.0, 1 - (yaw / 60.0) ** 2) * max(0.0, 1 - (pitch / 50.0) ** 2)
    usable = face.width >= min_face and sharp >= MIN_SHARPNESS and abs(yaw) <= max_yaw and abs(pitch) <= MAX_PITCH
    return FaceQuality(face.width, sharp, yaw, pitch, size_score * sharp_score * pose_score * face.score, usable)
