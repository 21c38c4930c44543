"""All LFW images by person, and their vectors through the evaluation cache."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from .datasets import read_lfw_pairs
from .lfw import embed_images


def people(root: Path, only: set[str] | None = None) -> dict[str, list[str]]:
    """Person name -> image paths relative to the LFW folder, in file-name order (those in `only`, if given)."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.glob("*/*.jpg")):
        image = f"{path.parent.name}/{path.name}"
        if only is None or image in only:
            found[path.parent.name].append(image)
    return dict(found)


def pair_images(root: Path) -> set[str]:
    """The images named in LFW's pairs.txt (View 2, all ten folds)."""
    return {image for pair in read_lfw_pairs(root) for image in (pair.first, pair.second)}


def all_vectors(root: Path, model: str, detector: str = "cascade", workers: int | None = None, progress=None,
                models_dir: str | Path | None = None, only: set[str] | None = None):
    """(people, image -> vector) for every LFW image (or those in `only`): the face nearest the centre, else a
    centred guess."""
    by_person = people(root, only)
    images = [image for paths in by_person.values() for image in paths]
    vectors, detectors, embedded = embed_images(root, images, model, detector, None, workers, progress, models_dir)
    return by_person, vectors, detectors, embedded


def stack(vectors: dict[str, np.ndarray], images: list[str]) -> np.ndarray:
    """The vectors of `images`, in that order, as one float32 (n, dim) array."""
    return np.stack([vectors[i] for i in images]).astype(np.float32)
