"""Why a photo's face cannot be used: a machine-readable issue beside the reason in the operator's words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PhotoIssue(str, Enum):
    """What is wrong with a photo's face (gate.proto's PhotoIssue has the same names)."""

    NO_FACE = "NO_FACE"
    SEVERAL_FACES = "SEVERAL_FACES"
    FACE_TOO_SMALL = "FACE_TOO_SMALL"
    BLURRED = "BLURRED"
    TURNED_AWAY = "TURNED_AWAY"  # head turned (yaw) or tilted up or down (pitch) too far
    UNCLEAR = "UNCLEAR"  # the detector is unsure it is a face
    UNREADABLE = "UNREADABLE"  # not a photo, or one that cannot be decoded
    NOT_LIKE_SUBJECT = "NOT_LIKE_SUBJECT"  # unlike the subject's enrolled photos: someone else? (an admin may replace)


@dataclass(frozen=True)
class Refusal:
    """A photo refused (or, where only reported, found wanting): the issue and the reason in words."""

    issue: PhotoIssue
    reason: str
