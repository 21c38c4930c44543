"""Verification metrics: k-fold accuracy with thresholds chosen on the other folds, ROC, TAR at FAR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (accept when score >= it) with the highest accuracy on these pairs."""
    order = np.argsort(scores)
    sorted_scores, sorted_same = scores[order], same[order]
    # Accepting from position i on: true accepts are same pairs at >= i, true rejects different pairs before i.
    same_at_or_after = np.concatenate([np.cumsum(sorted_same[::-1])[::-1], [0]])
    different_before = np.concatenate([[0], np.cumsum(~sorted_same)])
    correct = same_at_or_after + different_before
    best = int(np.argmax(correct))
    if best == 0:
        return float(sorted_scores[0] - 1e-6)
    if best == len(scores):
        return float(sorted_scores[-1] + 1e-6)
    return float((sorted_scores[best - 1] + sorted_scores[best]) / 2.0)


@dataclass(frozen=True)
class FoldResult:
    """Accuracy on each held-out fold and the threshold chosen for it on the others."""

    accuracies: np.ndarray
    thresholds: np.ndarray

    @property
    def mean(self) -> float:
        """The mean accuracy over the folds."""
        return float(self.accuracies.mean())

    @property
    def std(self) -> float:
        """The standard deviation of the accuracy over the folds."""
        return float(self.accuracies.std())


def kfold_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> FoldResult:
    """Per fold: the threshold is fitted on the other folds, accuracy measured on this one."""
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        held_out = folds == fold
        threshold = best_threshold(scores[~held_out], same[~held_out])
        predicted = scores[held_out] >= threshold
        accuracies.append(float((predicted == same[held_out]).mean()))
        thresholds.append(threshold)
    return FoldResult(np.array(accuracies), np.array(thresholds))


def threshold_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """The lowest threshold whose false-accept rate on the different pairs is at most `far`."""
    impostor = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(impostor)))  # impostors that may score at or above it
    if allowed >= len(impostor):
        return float(impostor[-1])
    # Just above the (allowed+1)-th highest impostor score.
    return float(np.nextafter(impostor[allowed], np.inf))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """True-accept rate of the genuine pairs at the threshold that gives `far`."""
    threshold = threshold_at_far(scores, same, far)
    return float((scores[same] >= threshold).mean())


def roc_curve(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-accept rates, true-accept rates) over every threshold, from strict to lax."""
    order = np.argsort(-scores)
    ordered_same = same[order]
    tar = np.concatenate([[0.0], np.cumsum(ordered_same) / max(ordered_same.sum(), 1)])
    far = np.concatenate([[0.0], np.cumsum(~ordered_same) / max((~ordered_same).sum(), 1)])
    return far, tar
