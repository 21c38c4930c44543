"""Verification and open-set identification decisions over subject vectors.

Each subject is one vector in a vector store: the L2-normalised mean of its
templates, so a probe's score against a subject aggregates all of its photos
(its cosine to their mean direction). A probe is accepted when that score
reaches the calibrated threshold; identification also asks for a margin over
the best other subject, so two look-alikes never resolve by a hair.

The target FAR means the same thing to the operator in both modes: how often a
wrong person gets through. In 1:1 it is the per-comparison false-accept rate.
In 1:N a stranger is compared with every subject, so the chance that one of N
comparisons passes is ~N times the per-comparison rate; the identification
threshold is therefore set at target / N (the false-positive identification
rate, FPIR, is then about the target). On LFW with 1,680 subjects, a
per-comparison threshold let 12.9% of strangers be named; the scaled one lets
through the expected ~0.1%.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .calibration import Calibration
from .checks import check_vectors
from .store import VectorStore


@dataclass(frozen=True)
class Decision:
    """A score, the threshold it was compared with, and how rare such a score is among impostors."""

    accepted: bool
    score: float
    threshold: float
    estimated_far: float
    target_far: float


@dataclass(frozen=True)
class Candidate:
    """One subject's best score against a probe, before the open-set decision."""

    subject: int  # the subject's number in the collection
    score: float


class UnknownReason(str, Enum):
    """Why a probe was not named (gate.proto's UnknownReason has the same names)."""

    NO_SUBJECTS = "NO_SUBJECTS"
    BELOW_THRESHOLD = "BELOW_THRESHOLD"
    TOO_CLOSE_TO_RUNNER_UP = "TOO_CLOSE_TO_RUNNER_UP"
    NOT_ENROLLED = "NOT_ENROLLED"  # the best match's number is no longer a subject's (the index is catching up)


@dataclass(frozen=True)
class Identification:
    """Who the probe is (a subject number) or None for unknown, with the evidence."""

    subject: int | None
    decision: Decision | None
    margin: float
    candidates: list[Candidate] = field(default_factory=list)
    reason: str = ""
    why: UnknownReason | None = None  # set when unknown


@dataclass(frozen=True)
class Policy:
    """Where decisions are drawn: a calibration table, a target FAR, and a margin for identification."""

    calibration: Calibration
    target_far: float = 1e-3
    margin: float = 0.02  # best minus runner-up score needed to name someone

    @property
    def threshold(self) -> float:
        """1:1 threshold."""
        return self.calibration.threshold(self.target_far)

    def identification_threshold(self, gallery_size: int) -> float:
        """1:N threshold: per-comparison FAR of target / N, so strangers are named at about the target rate."""
        return self.calibration.threshold(self.target_far / max(gallery_size, 1))

    def decide(self, score: float) -> Decision:
        """1:1 decision; estimated_far is the per-comparison false-accept rate of the score."""
        threshold = self.threshold
        return Decision(
            accepted=score >= threshold,
            score=float(score),
            threshold=threshold,
            estimated_far=self.calibration.estimated_far(score),
            target_far=self.target_far,
        )

    def decide_identification(self, score: float, gallery_size: int) -> Decision:
        """1:N decision; estimated_far is the expected false-positive identification rate at this score."""
        threshold = self.identification_threshold(gallery_size)
        return Decision(
            accepted=score >= threshold,
            score=float(score),
            threshold=threshold,
            estimated_far=min(1.0, self.calibration.estimated_far(score) * max(gallery_size, 1)),
            target_far=self.target_far,
        )


def subject_vector(templates: np.ndarray) -> np.ndarray:
    """One vector standing for a subject: the unit-length mean of its unit templates."""
    mean = np.asarray(templates, dtype=np.float32).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def verify(probe: np.ndarray, subject: np.ndarray, policy: Policy) -> Decision:
    """1:1 - is the probe this subject?"""
    probe = check_vectors(probe, len(subject))[0]
    return policy.decide(float(probe @ subject))


def identify(probe: np.ndarray, subjects: VectorStore, policy: Policy, candidates: int = 5) -> Identification:
    """1:N open-set - the best subject if it clears the threshold and the margin, else unknown."""
    if subjects.count() == 0:
        return Identification(None, None, 0.0, [], "no subjects enrolled", UnknownReason.NO_SUBJECTS)
    hits = subjects.search(probe, max(candidates, 2))
    found = [Candidate(int(i), float(s)) for s, i in zip(hits.scores[0], hits.ids[0]) if i >= 0]
    best = found[0]
    runner_up = found[1].score if len(found) > 1 else -1.0
    margin = best.score - runner_up
    decision = policy.decide_identification(best.score, subjects.count())
    shown = found[:candidates]
    if not decision.accepted:
        return Identification(None, decision, margin, shown, "best score below the threshold", UnknownReason.BELOW_THRESHOLD)
    if margin < policy.margin:
        return Identification(None, decision, margin, shown, "too close to the runner-up", UnknownReason.TOO_CLOSE_TO_RUNNER_UP)
    return Identification(best.subject, decision, margin, shown)
