"""What a presentation-attack (liveness) check takes and gives: the seam between the gate's Pass and the model.

The gate decodes and detects the burst's frames; a checker scores the largest face of each frame with its
context (a passive model reads the area around the face), fuses the frames into one verdict, and checks an
active challenge where the door gave one. Plain data, no model code: the gate imports this, never a model.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np


class Verdict(enum.Enum):
    """The burst's liveness, as the door acts on it."""

    LIVE = "live"
    ATTACK = "attack"
    UNCERTAIN = "uncertain"


class Challenge(enum.Enum):
    """An instruction the door gave the person; the head pose across the burst must follow it."""

    NONE = "none"
    TURN_LEFT = "turn_left"  # the person's left
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"


@dataclass(frozen=True)
class LivenessFrame:
    """One frame of a burst with the face to judge in it."""

    image: np.ndarray  # the decoded frame, RGB uint8 (H, W, 3), upright
    box: tuple[float, float, float, float]  # the face: x, y, width, height in image pixels
    landmarks: np.ndarray  # (5, 2) float32, ArcFace order (right eye, left eye, nose, right and left mouth corner)
    detector_score: float = 1.0
    time: float | None = None  # seconds since the burst's first frame, when the client sent it


@dataclass(frozen=True)
class LivenessResult:
    """A burst judged: the verdict, the fused score and each frame's."""

    verdict: Verdict
    score: float  # fused, 0..1, 1 = live
    frame_scores: list[float]  # one per frame given, in order, 0..1
    challenge_followed: bool | None = None  # None: no challenge was given
    detail: str = ""  # in words, for the log and the door's answer
    cues: dict[str, float] = field(default_factory=dict)  # each multi-frame cue's own score, for evaluation


class LivenessChecker(Protocol):
    """Judges a burst of frames of one approach."""

    name: str  # the model's name, for logs and the model card

    def check(self, frames: Sequence[LivenessFrame], challenge: Challenge = Challenge.NONE) -> LivenessResult:
        """The burst's verdict; frames are in the order they were taken."""
        ...
