"""The liveness checker the gate calls: passive scores per frame, the kept cues, one fused score and a verdict.

Per frame: the passive score of the face the gate found (the largest), and only where that face is confident
(a 1x1 or faceless crop scores live about half the time, so such a frame is never scored). Per burst: the mean
of the scored frames' scores, lowered by the glare veto (cues.py); the verdict from two thresholds; and, where
the door gave a challenge, whether the head followed it (pose.py).

The thresholds were fixed on the two image set-ups of the pad data (ff_codersworld, ff_ramkumarkh: 200 live,
196 attack frames) and never tuned on the video set-ups the reported figures come from (docs/door.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..liveness_port import Challenge, LivenessFrame, LivenessResult, Verdict
from ..runtime import EncoderSettings
from .card import LivenessCard, liveness_folders, read_liveness_card
from .cues import glare, nose_parallax
from .passive import PassiveModel
from .pose import follows, pose_changes

log = logging.getLogger("facegrid.encoder")


@dataclass(frozen=True)
class LivenessThresholds:
    """Where the verdict's lines are drawn; fixed on the pad data's image set-ups (docs/door.md)."""

    # The shipped operating threshold: a fused score at or above it is LIVE. 0.5 is the model's own line (the live
    # class holds half the probability); on the image set-ups it refuses 0 of 200 live frames (the lowest scores
    # 0.53) and accepts 0 of 196 attacks (the highest 0.10).
    live: float = 0.5
    attack: float = 0.2  # below it the verdict is ATTACK; between the two UNCERTAIN (the door denies both)
    min_detector_score: float = 0.7  # a face below this is not confident enough to score
    min_face: float = 32.0  # pixels, the face box's shorter side after clipping to the image
    # Glare (share of the inner face box): no effect up to glare_start, the score falls to 0 at glare_veto. The
    # image set-ups' live faces reach 0.012 at most (glasses and lit skin); attacks with a lit screen 0.05-0.25.
    glare_start: float = 0.02
    glare_veto: float = 0.04


def _clipped(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in box)
    left, top = max(0.0, x), max(0.0, y)
    right, bottom = min(float(width), x + w), min(float(height), y + h)
    return left, top, max(0.0, right - left), max(0.0, bottom - top)


class MiniFASNetChecker:
    """Judges a burst with MiniFASNet's passive scores and the kept multi-frame cues (LivenessChecker)."""

    def __init__(self, card: LivenessCard, settings: EncoderSettings | None = None,
                 thresholds: LivenessThresholds | None = None) -> None:
        self.model = PassiveModel(card, settings)
        self.name = card.name
        self.thresholds = thresholds or LivenessThresholds()

    def scorable(self, frame: LivenessFrame) -> bool:
        """Whether a frame holds a confident face large enough to score."""
        image = frame.image
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            return False
        if not np.isfinite(np.asarray(frame.box, np.float64)).all() or frame.detector_score < self.thresholds.min_detector_score:
            return False
        _, _, width, height = _clipped(frame.box, image.shape[1], image.shape[0])
        return min(width, height) >= self.thresholds.min_face

    def glare_factor(self, glare_share: float) -> float:
        """What the glare veto multiplies the passive score by: 1 without glare, 0 from `glare_veto` on."""
        t = self.thresholds
        return float(np.clip((t.glare_veto - glare_share) / (t.glare_veto - t.glare_start), 0.0, 1.0))

    def frame_scores(self, frames: Sequence[LivenessFrame]) -> list[float | None]:
        """The passive score of each frame's face, None where the frame is not scorable."""
        keep = [i for i, frame in enumerate(frames) if self.scorable(frame)]
        scores = self.model.score([(frames[i].image, _clipped(frames[i].box, frames[i].image.shape[1], frames[i].image.shape[0]))
                                   for i in keep])
        result: list[float | None] = [None] * len(frames)
        for i, score in zip(keep, scores):
            result[i] = float(score)
        return result

    def check(self, frames: Sequence[LivenessFrame], challenge: Challenge = Challenge.NONE) -> LivenessResult:
        """The burst's verdict; frames are in the order they were taken."""
        t = self.thresholds
        scores = self.frame_scores(frames)
        scored = [i for i, s in enumerate(scores) if s is not None]
        frame_scores = [0.0 if s is None else s for s in scores]  # an unscored frame never counts as live
        if len(scored) * 2 < len(frames) or not scored:  # judged on at least half the burst, never on one lucky frame
            detail = f"{len(scored)} of {len(frames)} frames hold a confident face of at least {t.min_face:.0f} px"
            followed = None if challenge is Challenge.NONE else False
            return LivenessResult(Verdict.UNCERTAIN, 0.0, frame_scores, followed, detail, {"frames_scored": float(len(scored))})
        passive = float(np.mean([scores[i] for i in scored]))
        burst_glare = float(np.median([glare(frames[i].image, frames[i].box) for i in scored]))
        glare_factor = self.glare_factor(burst_glare)
        score = passive * glare_factor
        landmarks = [np.asarray(frames[i].landmarks, np.float64) for i in scored]
        yaw, pitch = pose_changes(landmarks)
        cues = {"passive": passive, "glare": burst_glare, "glare_factor": glare_factor, "parallax": nose_parallax(landmarks),
                "yaw_change": float(np.abs(yaw).max()), "pitch_change": float(np.abs(pitch).max()),
                "frames_scored": float(len(scored))}
        followed, why = follows(challenge, landmarks)
        if score < t.attack:
            verdict = Verdict.ATTACK
            detail = "glare of a screen on the face" if glare_factor < 0.5 <= passive else f"presentation attack (score {score:.2f})"
        elif score < t.live:
            verdict, detail = Verdict.UNCERTAIN, f"liveness uncertain (score {score:.2f} below {t.live})"
        elif not followed:
            verdict, detail = Verdict.UNCERTAIN, why
        else:
            verdict, detail = Verdict.LIVE, f"live (score {score:.2f})"
        return LivenessResult(verdict, score, frame_scores, None if challenge is Challenge.NONE else followed, detail, cues)


def load_checker(models_dir: Path, settings: EncoderSettings | None = None) -> MiniFASNetChecker | None:
    """The checker of the liveness folder in models_dir ('minifasnet' first), or None when none is imported.

    A liveness folder that does not load raises BadModelFolder: a broken model is said, never skipped silently.
    """
    folders = liveness_folders(Path(models_dir))
    if not folders:
        return None
    folder = next((f for f in folders if f.name == "minifasnet"), folders[0])
    if len(folders) > 1:
        log.warning("several liveness folders in %s; using %s", models_dir, folder)
    checker = MiniFASNetChecker(read_liveness_card(folder), settings)
    log.info("liveness model %s loaded from %s", checker.name, folder)
    return checker
