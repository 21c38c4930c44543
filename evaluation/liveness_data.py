"""The liveness evaluation's input: labelled images and videos under live/ and spoof/, read upright, sampled
into bursts as the door sends them, and optionally cropped to a close-up of the attack's screen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from facegrid.encoder.detect import Detection, YuNetDetector
from facegrid.encoder.errors import ImageError
from facegrid.encoder.image import decode_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v"}
LABELS = ("live", "spoof")
BURST_FRAMES = 5  # frames a door sends per approach
BURST_GAP_S = 0.1  # at least this far apart: 5 frames over about half a second
# Close-up development set: the attack frame cut to this many face boxes about the face's centre. At 1.5 the window
# stays inside the phone's screen in nearly every attack frame of the pad data (edge and hand out of view); at 2
# it often reaches the phone's edge (docs/door.md).
CLOSEUP_WINDOW = 1.5


@dataclass(frozen=True)
class Media:
    """One labelled file: an image (a single frame) or a video (bursts)."""

    path: Path
    label: str  # "live" or "spoof"
    setup: str  # the --data folder it came from
    is_video: bool


@dataclass(frozen=True)
class Sample:
    """A frame as evaluated: the RGB image and its largest face (None: no face found)."""

    image: np.ndarray
    face: Detection | None
    time: float


def find_media(root: Path) -> list[Media]:
    """Images and videos at any depth under root/live and root/spoof (other files ignored), by path."""
    root = Path(root)
    found = []
    for label in LABELS:
        folder = root / label
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            suffix = path.suffix.lower()
            if path.is_file() and not path.name.startswith(".") and suffix in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                found.append(Media(path, label, root.name, suffix in VIDEO_SUFFIXES))
    return found


def read_image(path: Path) -> np.ndarray | None:
    """An image file as upright RGB (EXIF orientation applied), None when it cannot be decoded."""
    try:
        return decode_image(path.read_bytes())
    except (ImageError, OSError):
        return None


def video_frames(path: Path, gap_s: float = BURST_GAP_S) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds, upright RGB frame) of a video, at least gap_s apart: the frames a door would consider.

    OpenCV applies the rotation metadata of phone videos (CAP_PROP_ORIENTATION_AUTO); timestamps come from the
    container, so variable-frame-rate recordings (webm) are sampled by time, not by frame count.
    """
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    rate = capture.get(cv2.CAP_PROP_FPS) or 30.0
    last, index = None, -1
    try:
        while capture.grab():
            index += 1
            seconds = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if index and seconds <= 0:  # a container without timestamps: the frame rate's clock instead
                seconds = index / rate
            if last is not None and seconds < last + gap_s - 1e-3:
                continue
            ok, bgr = capture.retrieve()
            if not ok or bgr is None:
                continue
            last = seconds
            yield seconds, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def largest_face(detector: YuNetDetector, rgb: np.ndarray) -> Detection | None:
    """The largest face the detector finds (by box area), or None."""
    faces = detector.detect(rgb)
    return max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None


def closeup(rgb: np.ndarray, face: Detection, window: float = CLOSEUP_WINDOW) -> np.ndarray:
    """The frame cut to `window` face boxes about the face's centre (clipped to the frame), at its own resolution:
    an attack's screen filling the camera's view, edge and hand out of it."""
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    left, top = int(max(0, cx - w * window / 2)), int(max(0, cy - h * window / 2))
    right, bottom = int(min(rgb.shape[1], cx + w * window / 2)), int(min(rgb.shape[0], cy + h * window / 2))
    return np.ascontiguousarray(rgb[top:bottom, left:right])


def sample(detector: YuNetDetector, rgb: np.ndarray, time: float, crop_attack: bool) -> Sample:
    """A frame and its largest face; with crop_attack, the close-up of the face, detected again in the crop."""
    face = largest_face(detector, rgb)
    if crop_attack and face is not None:
        rgb = closeup(rgb, face)
        face = largest_face(detector, rgb) if min(rgb.shape[:2]) >= 8 else None
    return Sample(rgb, face, time)


def bursts(samples: Iterator[Sample], size: int = BURST_FRAMES) -> Iterator[tuple[list[Sample], int]]:
    """Consecutive bursts of `size` frames with a face, and how many frames without a face were passed over
    before each; the last burst may be shorter (its frames still count at the frame level)."""
    burst: list[Sample] = []
    faceless = 0
    for item in samples:
        if item.face is None:
            faceless += 1
            continue
        burst.append(item)
        if len(burst) == size:
            yield burst, faceless
            burst, faceless = [], 0
    if burst or faceless:
        yield burst, faceless
