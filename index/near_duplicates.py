"""Near-duplicate photos: groups of whole-photo vectors linked by pairs scoring above a threshold, and the
threshold itself, measured per image model.

Groups are connected components (single link) of the graph whose edges are the pairs scoring at least
`threshold` among each vector's nearest neighbours: a re-compressed copy, a resized one and a cropped one
of one photo all end up with it, even where two of the copies are further apart than the threshold.
Single link chains, so the threshold must be strict: it is set where distinct photos almost never pair.

The threshold is a property of the model's space, not of a collection, so it is measured once per model
(`facegrid bench near-duplicates`, bench/near_duplicates.py) from real photos, their edited copies and
distinct photos, and written beside the model's card as `near_duplicates.json`. A model with random
weights (the tests') has its own, meaningless one: measure it like any other.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .cluster import knn_pairs
from .checks import check_vectors

NEIGHBOURS = 16  # pairs are looked for among each photo's 16 nearest: a photo rarely has more copies
CALIBRATION_FILE = "near_duplicates.json"


@dataclass(frozen=True)
class NearDuplicateCalibration:
    """The threshold measured for one image model, and what it was measured on."""

    model: str
    threshold: float
    false_merge_rate: float  # target: share of distinct-photo pairs scoring >= threshold
    measured_false_merge_rate: float
    recall: float  # share of (photo, edited copy) pairs scoring >= threshold
    recall_by_edit: dict[str, float]
    photos: int
    distinct_pairs: int
    duplicate_pairs: int
    source: str
    measured_at: float = 0.0

    def save(self, folder: Path) -> Path:
        """Write it beside the model's card; its path."""
        path = Path(folder) / CALIBRATION_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path


def load_near_duplicate_calibration(folder: Path) -> NearDuplicateCalibration | None:
    """The calibration in a model folder, or None where it was never measured."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return None
    return NearDuplicateCalibration(**json.loads(path.read_text()))


def threshold_at(distinct_scores: np.ndarray, false_merge_rate: float) -> float:
    """The lowest score that at most `false_merge_rate` of the distinct pairs reach (just above the
    highest distinct score where the rate allows none)."""
    # float32 throughout: scores are float32 where the threshold is used (FAISS), and a float64 threshold one
    # float64 step above a score rounds back onto it there.
    scores = np.sort(np.asarray(distinct_scores, dtype=np.float32))[::-1]
    allowed = int(np.floor(false_merge_rate * len(scores)))
    if len(scores) == 0:
        raise ValueError("no distinct pairs to measure a threshold on")
    # Scores >= threshold: at most `allowed` of them; the threshold sits just above the first one not allowed.
    return float(np.nextafter(scores[allowed], np.float32(np.inf))) if allowed < len(scores) else float(scores[-1])


def calibrate(model: str, distinct_scores: np.ndarray, duplicate_scores: dict[str, np.ndarray], false_merge_rate: float,
              photos: int, source: str) -> NearDuplicateCalibration:
    """The threshold at a target false-merge rate, with the recall of each kind of edited copy at it."""
    threshold = threshold_at(distinct_scores, false_merge_rate)
    every = np.concatenate([np.asarray(v) for v in duplicate_scores.values()])
    return NearDuplicateCalibration(
        model=model, threshold=threshold, false_merge_rate=false_merge_rate,  # not rounded: rounding down lets pairs in
        measured_false_merge_rate=float(np.mean(np.asarray(distinct_scores, dtype=np.float32) >= np.float32(threshold))),
        recall=float(np.mean(every.astype(np.float32) >= np.float32(threshold))),
        recall_by_edit={edit: float(np.mean(np.asarray(v, np.float32) >= np.float32(threshold)))
                        for edit, v in duplicate_scores.items()},
        photos=photos, distinct_pairs=int(len(distinct_scores)), duplicate_pairs=int(len(every)), source=source,
        measured_at=time.time(),
    )


def near_duplicate_groups(vectors: np.ndarray, threshold: float, neighbours: int = NEIGHBOURS) -> list[np.ndarray]:
    """Positions of each group of near-duplicates (two or more vectors), largest group first."""
    vectors = check_vectors(vectors, np.asarray(vectors).shape[-1])
    n = len(vectors)
    if n < 2:
        return []
    first, second, _ = knn_pairs(vectors, neighbours, threshold)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(first.tolist(), second.tolist()):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(i) for i in range(n)])
    order = np.argsort(roots, kind="stable")
    groups = np.split(order, np.nonzero(np.diff(roots[order]))[0] + 1)
    return sorted((g for g in groups if len(g) > 1), key=lambda g: (-len(g), int(g[0])))
