"""The active challenge: does the head pose across the burst follow the door's instruction?

Yaw and pitch come from the five landmarks (encoder/quality.head_pose: yaw grows as the nose moves to the
image's right, which is the person's left on a camera that does not mirror; pitch grows as the face looks
down). A turn must reach TURN_DEGREES away from the burst's first frame in the asked direction and not in the
other; looking up must lower the pitch by LOOK_UP_DEGREES. A turned photo moves as one plane: the nose must
also leave the face plane (cues.nose_parallax) by MIN_PARALLAX, which a photo does not.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..liveness_port import Challenge
from ..quality import head_pose
from .cues import nose_parallax

TURN_DEGREES = 15.0
LOOK_UP_DEGREES = 10.0
MIN_PARALLAX = 0.06  # interocular distances; see docs/door.md for where it was measured


def pose_changes(landmarks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and pitch of each frame minus the first frame's, in degrees."""
    poses = np.array([head_pose(np.asarray(points))[:2] for points in landmarks], np.float64)
    return poses[:, 0] - poses[0, 0], poses[:, 1] - poses[0, 1]


def follows_pose(challenge: Challenge, landmarks: Sequence[np.ndarray]) -> bool:
    """Whether the head pose alone (no parallax check) moves as the challenge asks."""
    if challenge is Challenge.NONE:
        return True
    if len(landmarks) < 2:
        return False
    yaw, pitch = pose_changes(landmarks)
    if challenge is Challenge.TURN_LEFT:
        return yaw.max() >= TURN_DEGREES and -yaw.min() < TURN_DEGREES
    if challenge is Challenge.TURN_RIGHT:
        return -yaw.min() >= TURN_DEGREES and yaw.max() < TURN_DEGREES
    return -pitch.min() >= LOOK_UP_DEGREES  # LOOK_UP


def follows(challenge: Challenge, landmarks: Sequence[np.ndarray]) -> tuple[bool, str]:
    """Whether the burst follows the challenge as a real head would, and why not when it does not."""
    if challenge is Challenge.NONE:
        return True, ""
    if not follows_pose(challenge, landmarks):
        return False, f"the head pose did not follow {challenge.value}"
    if nose_parallax(landmarks) < MIN_PARALLAX:
        return False, f"the face moved as a flat picture ({challenge.value} without depth)"
    return True, ""
