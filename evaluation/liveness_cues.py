"""Candidate liveness cues, measured before any is kept (`facegrid eval liveness --cues`).

Each candidate is a number per frame (from the face's own pixels) or per burst. A cue helps only if it separates
live from attack in the same direction in every recording set-up and within each face-size band (attack faces
are smaller in most of these recordings, so a cue that follows face size looks good and fails in the field).
The ones kept are in encoder/liveness/cues.py; the table this prints is in docs/door.md.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from facegrid.encoder.liveness.cues import glare, inner_box, nose_parallax

FRAME_CUES = ("high_band_energy", "spectral_peak", "chroma_spread", "brightness", "row_banding", "glare")
BURST_CUES = ("flicker", "nose_parallax", "landmark_motion")


def _grey_face(rgb: np.ndarray, box) -> np.ndarray:
    left, top, right, bottom = inner_box(box, rgb.shape[1], rgb.shape[0])
    return cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _spectrum(grey: np.ndarray) -> tuple[float, float]:
    """(share of the texture's energy above 0.12 cycles/pixel, the strongest high-band peak over the band's median):
    a screen's pixel grid and moire would show as energy and sharp peaks there."""
    texture = grey - cv2.GaussianBlur(grey, (0, 0), 3)
    height, width = texture.shape
    magnitude = np.abs(np.fft.fftshift(np.fft.fft2(texture * np.outer(np.hanning(height), np.hanning(width)))))
    fy = np.fft.fftshift(np.fft.fftfreq(height))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(width))[None, :]
    radius = np.sqrt(fx ** 2 + fy ** 2)
    off_axis = (np.abs(fx) > 2 / width) & (np.abs(fy) > 2 / height)  # the window's and blocks' axis leakage left out
    high, middle = off_axis & (radius > 0.12) & (radius < 0.5), off_axis & (radius > 0.04) & (radius <= 0.12)
    high_energy, middle_energy = float((magnitude[high] ** 2).sum()), float((magnitude[middle] ** 2).sum())
    values = magnitude[high]
    return high_energy / (high_energy + middle_energy + 1e-9), float(values.max() / (np.median(values) + 1e-6))


def frame_cues(rgb: np.ndarray, box) -> dict[str, float]:
    """The candidate per-frame cues of one face."""
    grey = _grey_face(rgb, box)
    if grey.shape[0] < 8 or grey.shape[1] < 8:
        return {}
    high_band, peak = _spectrum(grey)
    left, top, right, bottom = inner_box(box, rgb.shape[1], rgb.shape[0])
    ycrcb = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2YCrCb).astype(np.float32)
    rows = grey.mean(axis=1)
    rows = rows - cv2.GaussianBlur(rows[:, None], (0, 0), 5)[:, 0]
    row_spectrum = np.abs(np.fft.rfft(rows * np.hanning(len(rows))))[3:]
    return {"high_band_energy": high_band, "spectral_peak": peak,
            "chroma_spread": float(ycrcb[..., 1].std() + ycrcb[..., 2].std()), "brightness": float(grey.mean()),
            "row_banding": float(row_spectrum.max() / (np.median(row_spectrum) + 1e-6)) if len(row_spectrum) else 0.0,
            "glare": glare(rgb, box)}


def burst_cues(images: Sequence[np.ndarray], boxes: Sequence, landmarks: Sequence[np.ndarray]) -> dict[str, float]:
    """The candidate per-burst cues: brightness flicker of the face across frames (a screen's refresh beating
    with the camera), the nose's parallax off the face plane, and how much the landmarks moved."""
    brightness = np.array([_grey_face(image, box).mean() for image, box in zip(images, boxes)])
    steps = np.diff(brightness)
    first = np.asarray(landmarks[0], np.float64)
    interocular = max(float(np.linalg.norm(first[0] - first[1])), 1e-6)
    motion = max(float(np.linalg.norm(np.asarray(points) - first, axis=1).mean()) / interocular for points in landmarks[1:])
    return {"flicker": float(steps.std() / max(brightness.mean(), 1e-6)) if len(steps) else 0.0,
            "nose_parallax": nose_parallax(landmarks), "landmark_motion": motion}
