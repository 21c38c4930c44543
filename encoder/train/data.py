"""The photos a recipe trains on: a folder listed, decoded safely, optionally cut into aligned face chips.

- `list_photos(dir)`: every image file under a folder (recursive; hidden files and folders left out).
- `load_photos(paths, side)`: decoded with facegrid's safe decoder and shrunk so the shorter side is `side`;
  unreadable ones are skipped and listed, never fatal.
- `face_chips(paths, size, ...)`: facegrid's own detector and ArcFace alignment, the same chips a face model
  is served with; the detections are cached on disk (one JSON file), so a rerun or a resumed run does
  not detect again. Photos without a face are skipped and counted.
- `person_folders(dir)`: DIR/person/*.jpg for the labelled recipes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..align import arcface_chip
from ..errors import EncoderError
from ..image import decode_image
from .run import TrainError

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff",
                            ".pgm", ".ppm", ".pbm", ".heic", ".heif"})
_CACHE_VERSION = 1


@dataclass
class Photos:
    """Decoded training items, (n, h, w, 3) uint8 RGB of one size, with the file each came from and what was left out."""

    images: np.ndarray
    sources: list[str]
    unreadable: dict[str, str] = field(default_factory=dict)  # path -> why
    no_face: list[str] = field(default_factory=list)

    def skipped(self) -> dict:
        """What TrainResult.skipped reports."""
        out: dict = {}
        if self.unreadable:
            out["unreadable"] = self.unreadable
        if self.no_face:
            out["no_face"] = len(self.no_face)
        return out


def list_photos(folder: str | Path) -> list[Path]:
    """Image files under `folder` by suffix, sorted; TrainError when it is not a folder or holds none."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise TrainError(f"{root}: not a folder of photos")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in PHOTO_SUFFIXES]
    if not found:
        raise TrainError(f"{root}: no photos in it (looked for {', '.join(sorted(PHOTO_SUFFIXES))}, in subfolders too)")
    return sorted(found)


def person_folders(folder: str | Path) -> dict[str, list[Path]]:
    """DIR/person/*.jpg as {person: photos}; TrainError when DIR has no person subfolder holding photos."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise TrainError(f"{root}: not a folder of person folders")
    people: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        photos = sorted(f for f in sub.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in PHOTO_SUFFIXES)
        if photos:
            people[sub.name] = photos
    if not people:
        raise TrainError(f"{root}: no person subfolders with photos in it (expected DIR/person/*.jpg)")
    return people


def _read(path: Path) -> np.ndarray:
    """A photo decoded by facegrid's safe decoder; UnreadableImage/ImageTooLarge (EncoderError) or OSError when not."""
    return decode_image(path.read_bytes())


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    """Centre square crop resized to side x side (the augmentations crop again; a fixed size keeps one array)."""
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    square = image[top:top + s, left:left + s]
    return cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA if s > side else cv2.INTER_LINEAR)


def load_photos(paths: list[Path], side: int) -> Photos:
    """Whole photos as side x side centre squares; unreadable files skipped and listed."""
    images, sources, unreadable = [], [], {}
    for path in paths:
        try:
            images.append(_shrink(_read(path), side))
            sources.append(str(path))
        except (EncoderError, OSError) as error:
            unreadable[str(path)] = f"{type(error).__name__}: {error}"
    return Photos(_stack(images, side), sources, unreadable)


def _stack(images: list[np.ndarray], side: int) -> np.ndarray:
    return np.stack(images) if images else np.zeros((0, side, side, 3), np.uint8)


class DetectionCache:
    """Landmarks found per photo, keyed by path with its size and mtime (a changed file is detected again)."""

    def __init__(self, path: Path | None, detector: str) -> None:
        self.path = path
        self.detector = detector
        self.entries: dict[str, dict] = {}
        if path is not None and path.is_file():
            try:
                saved = json.loads(path.read_text())
                if saved.get("version") == _CACHE_VERSION and saved.get("detector") == detector:
                    self.entries = saved["photos"]
            except (ValueError, KeyError, OSError):
                self.entries = {}  # a damaged cache only costs detecting again

    @staticmethod
    def _stamp(path: Path) -> list[int]:
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns]

    def get(self, path: Path) -> list[list[float]] | None:
        """The cached landmarks of a photo, or None when it is new or changed since."""
        entry = self.entries.get(str(path))
        return entry["faces"] if entry is not None and entry["stamp"] == self._stamp(path) else None

    def put(self, path: Path, faces: list[list[float]]) -> None:
        """Remember the landmarks found in a photo (written by save())."""
        self.entries[str(path)] = {"stamp": self._stamp(path), "faces": faces}

    def save(self) -> None:
        """Write atomically (a crash keeps the previous file)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.writing")
        temporary.write_text(json.dumps({"version": _CACHE_VERSION, "detector": self.detector, "photos": self.entries}))
        os.replace(temporary, self.path)


def detect_faces(image: np.ndarray, detector, min_face: float, centre_only: bool) -> list[list[float]]:
    """The five landmarks (10 floats) of each face at least `min_face` px (or only the one nearest the centre)."""
    from ..detect import nearest_to_centre

    found = [d for d in detector.detect(image) if d.size >= min_face]
    if centre_only:
        nearest = nearest_to_centre(found, image.shape)
        found = [nearest] if nearest is not None else []
    return [[round(float(v), 3) for v in d.landmarks.reshape(-1)] for d in found]


def face_chips(
    paths: list[Path],
    size: int,
    detector: str = "cascade",
    cache_file: Path | None = None,
    min_face: float = 40.0,
    centre_only: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Photos:
    """ArcFace-aligned size x size chips of the faces in `paths` (facegrid's detector), detections cached on disk."""
    from ..detect import make_detector

    cache = DetectionCache(cache_file, f"{detector}|min_face={min_face}|centre={centre_only}")
    made = None
    chips, sources, unreadable, no_face = [], [], {}, []
    fresh = 0
    for index, path in enumerate(paths):
        try:
            image = _read(path)
            faces = cache.get(path)
            if faces is None:
                made = made or make_detector(detector)
                faces = detect_faces(image, made, min_face, centre_only)
                cache.put(path, faces)
                fresh += 1
                if fresh % 500 == 0:
                    cache.save()  # an interrupted first pass keeps what it found
        except (EncoderError, OSError) as error:
            unreadable[str(path)] = f"{type(error).__name__}: {error}"
            continue
        if not faces:
            no_face.append(str(path))
        for points in faces:
            chips.append(arcface_chip(image, np.asarray(points, np.float32).reshape(5, 2), size))
            sources.append(str(path))
        if progress:
            progress(index + 1, len(paths))
    if fresh:
        cache.save()
    return Photos(_stack(chips, size), sources, unreadable, no_face)
