"""The JSON the REST API answers with: pydantic records that name the same fields as the gRPC messages (snake_case,
enums by name, absent numbers as null), built from the service core's typed results, so /openapi.json describes
exactly what is sent. Stored vectors are never among them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from facegrid.encoder.pipeline import Face
from facegrid.encoder.quality import FaceQuality
from facegrid.index.identify import Decision

from ..domain.door_pass import PassResult
from ..domain.gate import PhotoOutcome
from ..store.subjects import SubjectRecord, TemplateRecord


class QualityOut(BaseModel):
    """How usable a face is (encoder.proto's Quality)."""

    size: float
    interocular: float
    sharpness: float
    yaw: float
    pitch: float
    roll: float
    detector_score: float

    @classmethod
    def of(cls, quality: FaceQuality) -> "QualityOut":
        """As sent over gRPC: each measure rounded as in FaceQuality.as_dict."""
        return cls(**quality.as_dict())


class BoxOut(BaseModel):
    """A face's box in the photo's pixels."""

    x: float
    y: float
    width: float
    height: float

    @classmethod
    def of(cls, face: Face) -> "BoxOut":
        """The box of a found face."""
        x, y, w, h = face.box
        return cls(x=float(x), y=float(y), width=float(w), height=float(h))


class DecisionOut(BaseModel):
    """The numbers behind a decision: only to keys with scope `enroll` or `admin`."""

    score: float = Field(description="cosine similarity, -1..1")
    threshold: float = Field(description="accept at or above this score")
    estimated_far: float = Field(description="share of impostor comparisons scoring this high")
    target_far: float = Field(description="the false-accept rate the threshold was set for")

    @classmethod
    def of(cls, decision: Decision | None) -> "DecisionOut | None":
        """None stays None (a caller that may not see numbers)."""
        if decision is None:
            return None
        return cls(score=float(decision.score), threshold=float(decision.threshold),
                   estimated_far=float(decision.estimated_far), target_far=float(decision.target_far))


BAND_DESCRIPTION = "LOW below the threshold, MEDIUM at or above it, HIGH with an estimated FAR below a hundredth of the target"


class VerifyOut(BaseModel):
    """Verify's answer: whether the photo shows the subject."""

    match: bool
    band: str = Field(description=BAND_DESCRIPTION)
    decision: DecisionOut | None = None
    other_faces: int
    face: BoxOut
    quality: QualityOut
    quality_issue: str | None = Field(None, description="what is wrong with the probe, where the probe rule only reports")
    quality_warning: str = ""


class CandidateOut(BaseModel):
    """A runner-up of Identify."""

    subject_id: str
    score: float


class IdentifyOut(BaseModel):
    """Identify's answer: who the photo shows, or nobody enrolled."""

    known: bool
    subject_id: str | None = None
    band: str | None = Field(None, description=BAND_DESCRIPTION + "; null where no face was compared")
    decision: DecisionOut | None = None
    other_faces: int
    margin: float = 0.0
    candidates: list[CandidateOut] = []
    face: BoxOut
    quality: QualityOut
    reason: str = ""
    unknown_reason: str | None = None
    quality_issue: str | None = None
    quality_warning: str = ""


class PhotoOutcomeOut(BaseModel):
    """What became of one enrollment photo."""

    index: int
    accepted: bool
    template_id: str | None = None
    reason: str = ""
    warnings: list[str] = []
    duplicate: bool = False
    quality: QualityOut | None = None
    issue: str | None = None
    resembles: str = ""

    @classmethod
    def of(cls, o: PhotoOutcome) -> "PhotoOutcomeOut":
        """One photo's outcome."""
        return cls(index=o.index, accepted=o.accepted, template_id=str(o.template_id) if o.template_id is not None else None,
                   reason=o.reason, warnings=list(o.warnings), duplicate=o.duplicate,
                   quality=QualityOut.of(o.face.quality) if o.face is not None else None,
                   issue=o.issue.value if o.issue is not None else None, resembles=o.resembles)


class EnrollOut(BaseModel):
    """Enroll's answer: the subject, each photo's outcome and the template counts."""

    subject_id: str
    photos: list[PhotoOutcomeOut]
    templates: int
    templates_removed: int = 0


class TemplateOut(BaseModel):
    """One enrolled face (never its vector)."""

    template_id: str
    model: str
    photo_sha256: str
    quality: QualityOut
    created_at: float


class SubjectOut(BaseModel):
    """A subject with its groups, status and expiry, and its templates where asked for."""

    subject_id: str
    display_name: str
    created_at: float
    groups: list[str]
    status: str = Field(description="active or suspended")
    expires_at: float = Field(description="Unix time from which every door denies the subject; 0: never")
    status_reason: str = ""
    templates: list[TemplateOut] = []

    @classmethod
    def of(cls, record: SubjectRecord, templates: list[TemplateRecord] = ()) -> "SubjectOut":
        """A subject record, with templates where given."""
        return cls(subject_id=record.subject_id, display_name=record.display_name, created_at=record.created_at,
                   groups=list(record.groups), status=record.status, expires_at=record.expires_at,
                   status_reason=record.status_reason,
                   templates=[TemplateOut(template_id=str(t.template_id), model=t.model, photo_sha256=t.photo_sha256,
                                          quality=QualityOut.of(t.quality), created_at=t.created_at) for t in templates])


class SubjectsOut(BaseModel):
    """One page of subjects in id order; `next_page_token` is "" after the last page."""

    subjects: list[SubjectOut]
    next_page_token: str
    total: int


class ForgetOut(BaseModel):
    """A subject forgotten."""

    subject_id: str
    templates_removed: int


class SubjectChange(BaseModel):
    """Set a subject's groups, status or expiry; a field left out stays as it is."""

    groups: list[str] | None = None
    status: str | None = Field(None, description="active or suspended")
    expires_at: float | None = Field(None, description="Unix time; 0: never")
    status_reason: str = ""


class PassTimingsOut(BaseModel):
    """Where the server's time went, milliseconds."""

    decode: float
    detect: float
    liveness: float
    embed: float
    search: float
    rule: float
    total: float


class PassOut(BaseModel):
    """A door's decision on a burst of frames."""

    decision: str = Field(description="ACCEPT or DENY")
    reason: str
    message: str
    subject_id: str = ""
    display_name: str = ""
    band: str | None = None
    score: float | None = None
    threshold: float | None = None
    liveness: str
    liveness_score: float
    frame_liveness: list[float]
    frame_used: int
    door: str
    fallback: str = ""
    timings: PassTimingsOut

    @classmethod
    def of(cls, result: PassResult) -> "PassOut":
        """A door's answer (score and threshold only where the core filled them in)."""
        t = result.timings
        return cls(decision="ACCEPT" if result.accepted else "DENY", reason=result.reason.value, message=result.message,
                   subject_id=result.subject_id, display_name=result.display_name,
                   band=result.band.value if result.band is not None else None, score=result.score, threshold=result.threshold,
                   liveness=result.liveness.value, liveness_score=float(result.liveness_score),
                   frame_liveness=[float(v) for v in result.frame_liveness], frame_used=result.frame_used, door=result.door,
                   fallback=result.fallback,
                   timings=PassTimingsOut(decode=t.decode, detect=t.detect, liveness=t.liveness, embed=t.embed,
                                          search=t.search, rule=t.rule, total=t.total))
