"""`facegrid eval calibrate`: the score -> FAR table of a model, from every impostor pair of LFW.

All 13,233 LFW images are embedded (face nearest the centre); every pair of
images of two different people (~87.5 million) is scored, and the survival
curve of those scores becomes the table shipped in index/calibration/<model>.json,
or, for a folder model (trained by `facegrid train`), its folder's calibration.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facegrid.encoder.models import model_folder
from facegrid.index.calibration import Calibration, save_calibration

from .datasets import lfw_dir
from .lfw import encoder_settings
from .lfw_people import all_vectors, stack

_BINS = 200_000  # score resolution 1e-5 over [-1, 1]


def impostor_histogram(vectors: np.ndarray, labels: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of the scores of every pair (i < j) with different labels."""
    edges = np.linspace(-1.0, 1.0, _BINS + 1)
    counts = np.zeros(_BINS, dtype=np.int64)
    n = len(vectors)
    for start in range(0, n, block):
        scores = vectors[start : start + block] @ vectors.T
        rows = np.arange(start, min(start + block, n))[:, None]
        keep = (np.arange(n)[None, :] > rows) & (labels[rows] != labels[None, :])
        bins = np.clip(((scores[keep] + 1.0) / 2.0 * _BINS).astype(np.int64), 0, _BINS - 1)
        counts += np.bincount(bins, minlength=_BINS)
    return edges, counts


def calibrate(data: str | Path | None, model: str, workers: int | None = None, progress=None, save: bool = True,
              models_dir: str | Path | None = None) -> dict:
    """Measure and (by default) save the model's calibration table; a summary of it."""
    root = lfw_dir(data)
    folder = model_folder(model, encoder_settings(models_dir))  # before the long embedding: an unknown model fails now
    by_person, vectors, _, _ = all_vectors(root, model, workers=workers, progress=progress, models_dir=models_dir)
    images = [image for paths in by_person.values() for image in paths]
    labels = np.array([image.split("/")[0] for image in images])
    edges, counts = impostor_histogram(stack(vectors, images), labels)
    source = f"LFW deep-funneled, {len(images)} images, all impostor pairs (face nearest the centre)"
    table = Calibration.from_histogram(model, edges[:-1], counts, source)
    path = save_calibration(table, model_folder=folder) if save else None
    return {
        "model": model,
        "impostor_pairs": table.impostor_pairs,
        "thresholds": {f"{far:g}": round(table.threshold(far), 4) for far in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)},
        "path": str(path) if path else None,
    }
