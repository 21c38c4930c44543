"""Typed results of the SDK's gate, encoder and administration calls: plain frozen records, no protobuf.

clients/convert.py makes them from the server's messages; the photo library's are in library_results.py, the
doors' and subjects' in door_results.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]  # x, y, width, height in the photo's pixels
Point = tuple[float, float]  # x, y in the photo's pixels


# --- the gate ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Quality:
    """How usable a face is (the server's measures)."""

    size: float  # shorter side of the face box, pixels
    interocular: float
    sharpness: float  # variance of the Laplacian on the 112x112 chip
    yaw: float  # degrees
    pitch: float
    roll: float
    detector_score: float


@dataclass(frozen=True)
class PhotoOutcome:
    """One Enroll photo: accepted (with its template), or refused with the reason in words and `issue` in a word."""

    index: int
    accepted: bool
    template_id: str = ""
    reason: str = ""
    # NO_FACE, SEVERAL_FACES, FACE_TOO_SMALL, BLURRED, TURNED_AWAY, UNCLEAR, UNREADABLE, NOT_LIKE_SUBJECT
    issue: str | None = None
    warnings: list[str] = field(default_factory=list)
    duplicate: bool = False
    quality: Quality | None = None
    resembles: str = ""  # accepted, but as like this other subject as Identify's threshold (flagged, never merged)


@dataclass(frozen=True)
class EnrollResult:
    """Each photo's outcome of one Enroll call, and the subject's templates after it."""

    subject_id: str
    photos: list[PhotoOutcome]
    templates: int  # the subject's templates after the call
    templates_removed: int = 0  # with replace: the older templates removed


@dataclass(frozen=True)
class ProbeRefusal:
    """Why a Verify or Identify probe was refused: `issue` in a word, `reason` in words, and the face judged."""

    issue: str | None
    reason: str
    face: Box | None
    quality: Quality | None


@dataclass(frozen=True)
class VerifyResult:
    """Verify's answer: whether the face in the photo is the subject's."""

    match: bool
    # The numbers go only to keys with scope enroll or admin; a gate key gets None and the band.
    score: float | None
    threshold: float | None
    estimated_far: float | None
    face_box: Box
    quality: Quality | None = None
    quality_issue: str | None = None  # probe rule "report": what is wrong with the face, e.g. "BLURRED"
    quality_warning: str = ""
    band: str | None = None  # "LOW" (no match), "MEDIUM", "HIGH"; None from a server that sends none
    other_faces: int = 0  # faces of usable size besides the one compared (keys with enroll or admin)


@dataclass(frozen=True)
class IdentifyResult:
    """Identify's answer: the subject in the photo (None: unknown, and why) and the best candidates."""

    subject: str | None  # None: unknown
    score: float | None
    threshold: float | None
    estimated_far: float | None
    margin: float
    candidates: list[tuple[str, float]] = field(default_factory=list)
    reason: str = ""
    unknown_reason: str | None = None  # NO_SUBJECTS, BELOW_THRESHOLD, TOO_CLOSE_TO_RUNNER_UP, NOT_ENROLLED; None when named
    quality: Quality | None = None
    quality_issue: str | None = None  # as in VerifyResult
    quality_warning: str = ""
    band: str | None = None  # as in VerifyResult (None also when nobody is enrolled)
    other_faces: int = 0  # as in VerifyResult


# --- the encoder -------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelInfo:
    """A model the server can run: its modalities ("face", or towers such as "image" and "text") and space."""

    name: str
    modalities: tuple[str, ...]
    dim: int
    metric: str
    is_default: bool
    source: str  # "shipped", or "folder" for an operator-supplied model folder


@dataclass(frozen=True)
class Embedding:
    """A vector of one photo or text; `truncated` when the text was cut to the model's context length."""

    vector: np.ndarray  # (dim,) float32, unit length
    model: str
    truncated: bool = False
    id: str = ""


@dataclass(frozen=True)
class EmbeddedFace:
    """One face Embed found: where it is, its five landmarks, how usable it is, and its vector."""

    box: Box
    landmarks: list[Point]  # right eye, left eye, nose tip, right and left mouth corners
    quality: Quality
    vector: np.ndarray  # (dim,) float32, unit length: the cosine of two faces is their inner product
    model: str
    detector: str


@dataclass(frozen=True)
class FaceEmbeddings:
    """Every face of one photo with its vector (Embed), and the detectors that looked, in order."""

    faces: list[EmbeddedFace]
    model: str
    detectors: list[str] = field(default_factory=list)


# --- administration ----------------------------------------------------------------------

@dataclass(frozen=True)
class ApiKeyInfo:
    """A key's record (never the key itself)."""

    name: str
    scopes: list[str]
    created_at: float
    last_used_at: float | None
    revoked: bool
    revoked_at: float | None
    door: str = ""  # the door a gate key is bound to; "" for none


@dataclass(frozen=True)
class CreatedKey:
    """A key just made: the key itself, shown this once, and its record."""

    key: str  # shown once: the server keeps only its hash
    record: ApiKeyInfo


@dataclass(frozen=True)
class AuditRecord:
    """One audit-log entry."""

    id: str
    time: float
    key_name: str
    rpc: str
    subject_id: str
    decision: str
    score: float | None
    threshold: float | None
    peer: str
    detail: str
    door: str = ""  # Pass: the door
    reason: str = ""  # Pass: the PassReason name
