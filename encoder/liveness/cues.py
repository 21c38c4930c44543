"""Multi-frame cues a screen cannot hide when its edge is out of view: the ones kept after measuring.

Each was measured on the pad data across recording set-ups and within face-size bands before it was kept
(`facegrid eval liveness --cues`, evaluation/liveness_cues.py, docs/door.md). Kept:

- glare: the share of the inner face box that is a specular highlight (bright and colourless). A phone's glass
  reflects the room's lights as a white patch over the face; skin highlights are small and coloured. It only
  ever lowers the score (a veto), so on a live face without glare it costs nothing.
- nose parallax: how far the nose tip leaves the plane that the eyes and mouth corners span, across the burst.
  A photo (or a screen) moved, tilted or turned moves as one plane, so the nose stays where the plane's
  homography puts it; a turning head does not. A replayed *video* of a turning head is not one plane either, so
  this only tells real turns from turned photos: it is part of the active challenge (pose.py), not the score.

Measured and not kept (inconsistent direction across set-ups, or following face size): frequency content of the
face (high-band energy, spectral peaks of moire), colour spread, brightness flicker across frames, row banding.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

# A glare pixel: bright (HSV value > 230 of 255) and nearly colourless (saturation < 40 of 255).
GLARE_VALUE, GLARE_SATURATION = 230, 40
INNER = 0.8  # the face box shrunk about its centre: the hair and background at its edge are not the face


def inner_box(box: tuple[float, float, float, float], width: int, height: int, shrink: float = INNER) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the face box shrunk about its centre, inside the image."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    w, h = w * shrink, h * shrink
    left, top = int(max(0, cx - w / 2)), int(max(0, cy - h / 2))
    right, bottom = int(min(width, cx + w / 2)), int(min(height, cy + h / 2))
    return left, top, max(right, left), max(bottom, top)


def glare(rgb: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Share (0..1) of the inner face box that is specular glare."""
    left, top, right, bottom = inner_box(box, rgb.shape[1], rgb.shape[0])
    face = rgb[top:bottom, left:right]
    if face.size == 0:
        return 0.0
    hsv = cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_RGB2HSV)
    return float(((hsv[..., 2] > GLARE_VALUE) & (hsv[..., 1] < GLARE_SATURATION)).mean())


def _homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking four source points exactly onto four target points (direct linear transform)."""
    rows = []
    for (x, y), (u, v) in zip(source, target):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, _, vt = np.linalg.svd(np.asarray(rows, np.float64))
    matrix = vt[-1].reshape(3, 3)
    return matrix / matrix[2, 2] if abs(matrix[2, 2]) > 1e-12 else matrix


def nose_parallax(landmarks: Sequence[np.ndarray]) -> float:
    """Largest distance, in interocular distances, between the nose tip and where the first frame's face plane
    (eyes and mouth corners) puts it in each later frame: ~0 for a plane (photo, screen), larger for a turning head."""
    if len(landmarks) < 2:
        return 0.0
    first = np.asarray(landmarks[0], np.float64)
    interocular = max(float(np.linalg.norm(first[0] - first[1])), 1e-6)
    plane = [0, 1, 3, 4]  # eyes and mouth corners, ArcFace order
    worst = 0.0
    for later in landmarks[1:]:
        later = np.asarray(later, np.float64)
        matrix = _homography(first[plane], later[plane])
        nose = matrix @ np.array([first[2, 0], first[2, 1], 1.0])
        if abs(nose[2]) < 1e-9:
            continue
        worst = max(worst, float(np.linalg.norm(nose[:2] / nose[2] - later[2])) / interocular)
    return worst
