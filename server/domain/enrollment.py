"""What the gate accepts: the subject-id rule and the quality rules for enrollment photos."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from facegrid.encoder.pipeline import Face
from facegrid.encoder.quality import FaceQuality

from .errors import InvalidSubjectId
from .refusals import PhotoIssue, Refusal

MAX_SUBJECT_ID = 128
_SUBJECT_ID = re.compile(r"^[\w.\-@:+]+$")  # \w: letters, digits and _ of any script


def normalise_subject_id(raw: str) -> str:
    """The documented subject-id rule: 1-128 characters after NFC; letters, digits and . _ - @ : + of any script."""
    subject_id = unicodedata.normalize("NFC", raw or "")
    if not subject_id:
        raise InvalidSubjectId("subject id is empty")
    if len(subject_id) > MAX_SUBJECT_ID:
        raise InvalidSubjectId(f"subject id is {len(subject_id)} characters long; at most {MAX_SUBJECT_ID} are allowed")
    if not _SUBJECT_ID.match(subject_id):
        raise InvalidSubjectId(
            "subject id may hold only letters, digits and . _ - @ : + (no spaces or control characters)"
        )
    return subject_id


def subject_of(text: str) -> str:
    """A subject id as the audit log keeps and looks it up: normalised, or the given text cut short where it is not a
    valid id (a refused request is audited too; a subject id is at most 128 characters, longer text is not stored whole)."""
    try:
        return normalise_subject_id(text)
    except InvalidSubjectId:
        return text[:MAX_SUBJECT_ID + 2]


@dataclass(frozen=True)
class EnrollmentRules:
    """What an enrollment photo must show. Reasons name the rule so the operator can act."""

    min_face_size: float = 60.0  # pixels, shorter side of the face box
    min_sharpness: float = 20.0  # variance of the Laplacian on the 112x112 chip
    max_yaw: float = 40.0  # degrees
    max_pitch: float = 40.0  # degrees (rough estimate)
    min_detector_score: float = 0.7
    # Warn when a new template scores below this against the subject's other templates:
    # the estimated FAR there is 1%, so it looks more like someone else than like them.
    unlike_far: float = 1e-2

    def refusal(self, faces: list[Face]) -> str | None:
        """Why these faces cannot make a template, or None when there is exactly one usable face."""
        refused = self.check(faces)
        return refused.reason if refused else None

    def check(self, faces: list[Face]) -> Refusal | None:
        """The issue and reason these faces cannot make a template, or None when there is exactly one usable face."""
        if not faces:
            return Refusal(PhotoIssue.NO_FACE, "no face found in the photo")
        if len(faces) > 1:
            return Refusal(PhotoIssue.SEVERAL_FACES, f"{len(faces)} faces in the photo; an enrollment photo must show one person")
        return self.quality_check(faces[0].quality)

    def quality_refusal(self, q: FaceQuality) -> str | None:
        """Why one face is too poor to make a template (size, sharpness, pose, detector score), or None."""
        refused = self.quality_check(q)
        return refused.reason if refused else None

    def quality_check(self, q: FaceQuality) -> Refusal | None:
        """As `quality_refusal`, with the issue."""
        if q.size < self.min_face_size:
            return Refusal(PhotoIssue.FACE_TOO_SMALL, f"face too small: {q.size:.0f} px, at least {self.min_face_size:.0f} px needed")
        if q.sharpness < self.min_sharpness:
            return Refusal(PhotoIssue.BLURRED, f"face too blurry: sharpness {q.sharpness:.0f}, at least {self.min_sharpness:.0f} needed")
        if abs(q.yaw) > self.max_yaw or abs(q.pitch) > self.max_pitch:
            return Refusal(PhotoIssue.TURNED_AWAY,
                           f"head turned too far (yaw {q.yaw:+.0f}, pitch {q.pitch:+.0f} degrees); look at the camera")
        if q.detector_score < self.min_detector_score:
            return Refusal(PhotoIssue.UNCLEAR, f"face unclear (detector score {q.detector_score:.2f})")
        return None
