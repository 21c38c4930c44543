"""A score against its threshold, coarsely: what a gate key is told instead of a number (a number, or a FAR,
helps hill-climb a synthetic face towards someone's template; a band of three says next to nothing more than
the decision)."""

from __future__ import annotations

from enum import Enum

from facegrid.index.identify import Decision


class ScoreBand(str, Enum):
    """gate.proto's ScoreBand has the same names."""

    LOW = "LOW"  # below the threshold
    MEDIUM = "MEDIUM"  # at or above it
    HIGH = "HIGH"  # estimated FAR below a hundredth of the target


def band_of(decision: Decision) -> ScoreBand:
    """The band of a comparison: below, at or well above its threshold."""
    if not decision.accepted:
        return ScoreBand.LOW
    return ScoreBand.HIGH if decision.estimated_far < decision.target_far / 100 else ScoreBand.MEDIUM
