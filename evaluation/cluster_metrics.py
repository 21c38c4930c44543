"""Clustering quality against true labels: BCubed precision / recall / F and pairwise F.

Unassigned items (label -1) count as singleton groups of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _singletons(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels).copy()
    if labels.dtype.kind in "iu":
        unassigned = labels < 0
        labels[unassigned] = labels.max(initial=0) + 1 + np.arange(unassigned.sum())
    return labels


@dataclass(frozen=True)
class ClusterScores:
    """How a grouping compares with the true identities: BCubed and pairwise precision, recall and F."""

    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    groups: int
    people: int


def _contingency(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (true, predicted) cell: its size, and the sizes of its true class and predicted group."""
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(predicted, return_inverse=True)
    cells, cell_of = np.unique(t.astype(np.int64) * (p.max() + 1) + p, return_inverse=True)
    cell_size = np.bincount(cell_of)
    return cell_of, cell_size, np.bincount(t)[t], np.bincount(p)[p], cells


def score_clustering(truth, predicted) -> ClusterScores:
    """BCubed and pairwise precision, recall and F of a clustering."""
    truth, predicted = np.asarray(truth), _singletons(predicted)
    cell_of, cell_size, class_size, group_size, _ = _contingency(truth, predicted)
    together = cell_size[cell_of]  # items sharing both the class and the group of each item
    precision = float((together / group_size).mean())
    recall = float((together / class_size).mean())
    pairs_both = float((cell_size * (cell_size - 1) / 2).sum())
    pairs_group = float(sum(c * (c - 1) / 2 for c in np.unique(predicted, return_counts=True)[1]))
    pairs_class = float(sum(c * (c - 1) / 2 for c in np.unique(truth, return_counts=True)[1]))
    pp = pairs_both / pairs_group if pairs_group else 1.0
    pr = pairs_both / pairs_class if pairs_class else 1.0
    return ClusterScores(
        bcubed_precision=precision,
        bcubed_recall=recall,
        bcubed_f=2 * precision * recall / (precision + recall),
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f=2 * pp * pr / (pp + pr) if pp + pr else 0.0,
        groups=len(np.unique(predicted)),
        people=len(np.unique(truth)),
    )
