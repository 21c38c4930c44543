"""Presentation-attack metrics in ISO/IEC 30107-3 terms: APCER (attacks accepted as live), BPCER (live
presentations refused), at a fixed threshold and at the threshold that gives a BPCER, and the ROC's area."""

from __future__ import annotations

import numpy as np

SIZE_BANDS = ((0, 96), (96, 128), (128, 192), (192, None))  # face box's shorter side, pixels


def apcer(attack: np.ndarray, threshold: float) -> float:
    """Share of attack scores accepted (>= threshold); 0 when there are none."""
    return float((np.asarray(attack) >= threshold).mean()) if len(attack) else 0.0


def bpcer(live: np.ndarray, threshold: float) -> float:
    """Share of live scores refused (< threshold); 0 when there are none."""
    return float((np.asarray(live) < threshold).mean()) if len(live) else 0.0


def apcer_at_bpcer(live: np.ndarray, attack: np.ndarray, target: float) -> float | None:
    """APCER at the highest threshold whose BPCER is at most `target` (None without both kinds)."""
    if not len(live) or not len(attack):
        return None
    ordered = np.sort(np.asarray(live, np.float64))
    refused = int(np.floor(target * len(ordered)))  # live scores that may fall below the threshold
    return apcer(attack, float(ordered[min(refused, len(ordered) - 1)]))


def auc(live: np.ndarray, attack: np.ndarray) -> float | None:
    """Probability that a live score exceeds an attack score (ties count half): the ROC's area."""
    live, attack = np.asarray(live, np.float64), np.asarray(attack, np.float64)
    if not len(live) or not len(attack):
        return None
    values = np.concatenate([live, attack])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):  # average ranks over ties
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[:len(live)].sum() - len(live) * (len(live) + 1) / 2) / (len(live) * len(attack)))


def summary(live: np.ndarray, attack: np.ndarray, threshold: float) -> dict:
    """The figures of one set of scores: counts, APCER/BPCER at the threshold and at BPCER 5% and 1%, AUC."""
    live, attack = np.asarray(live, np.float64), np.asarray(attack, np.float64)
    rounded = lambda v: None if v is None else round(v, 4)  # noqa: E731
    return {"live": int(len(live)), "attack": int(len(attack)), "apcer": rounded(apcer(attack, threshold)) if len(attack) else None,
            "bpcer": rounded(bpcer(live, threshold)) if len(live) else None, "apcer_at_bpcer_5": rounded(apcer_at_bpcer(live, attack, 0.05)),
            "apcer_at_bpcer_1": rounded(apcer_at_bpcer(live, attack, 0.01)), "auc": rounded(auc(live, attack))}


def band_name(low: int, high: int | None) -> str:
    """A face-size band's label in reports, such as "40-80px" or "160px+"."""
    return f"{low}-{high}px" if high else f"{low}px+"


def by_band(sizes: np.ndarray, scores: np.ndarray, is_live: np.ndarray, threshold: float) -> dict:
    """The summary within each face-size band (attack faces are smaller in most recordings: compare within a band)."""
    result = {}
    for low, high in SIZE_BANDS:
        inside = (sizes >= low) & (sizes < (high if high else np.inf))
        result[band_name(low, high)] = summary(scores[inside & is_live], scores[inside & ~is_live], threshold)
    return result
