"""Library data classes to protobuf messages (one place, shared by the services)."""

from __future__ import annotations

from facegrid.encoder.pipeline import Face
from facegrid.encoder.quality import FaceQuality
from facegrid.index.identify import Decision, UnknownReason
from facegrid.v1 import encoder_pb2, gate_pb2

from ..domain.door_pass import PassResult
from ..domain.gate import PhotoOutcome
from ..domain.refusals import PhotoIssue
from ..domain.score_band import ScoreBand
from ..store.subjects import SUSPENDED, SubjectRecord, TemplateRecord


def box(face: Face) -> encoder_pb2.Box:
    """A face's box as encoder.proto's Box."""
    x, y, w, h = face.box
    return encoder_pb2.Box(x=x, y=y, width=w, height=h)


def quality(q: FaceQuality) -> encoder_pb2.Quality:
    """A face's quality as sent (each measure rounded as in FaceQuality.as_dict)."""
    return encoder_pb2.Quality(**q.as_dict())


def quality_of(message: encoder_pb2.Quality) -> FaceQuality:
    """A face's quality from its message, measure by measure (those a message lacks read as 0)."""
    return FaceQuality.from_dict({name: getattr(message, name) for name in FaceQuality.__dataclass_fields__})


def face(f: Face) -> encoder_pb2.Face:
    """A face (box, landmarks, quality, vector, model) as encoder.proto's Face."""
    return encoder_pb2.Face(
        box=box(f),
        landmarks=[encoder_pb2.Point(x=float(x), y=float(y)) for x, y in f.landmarks],
        quality=quality(f.quality),
        vector=f.vector.tolist(),
        model=f.model,
        detector=f.detector,
    )


def decision(d: Decision | None) -> gate_pb2.Decision | None:
    """A decision's numbers as gate.proto's Decision (None stays None)."""
    if d is None:
        return None
    return gate_pb2.Decision(score=d.score, threshold=d.threshold, estimated_far=d.estimated_far, target_far=d.target_far)


def band(value: ScoreBand | None) -> int:
    """A domain ScoreBand as gate.proto's enum value of the same name (0, unspecified, for None)."""
    return gate_pb2.ScoreBand.Value(value.value) if value is not None else gate_pb2.BAND_UNSPECIFIED


def photo_issue(value: PhotoIssue | None) -> int:
    """A domain PhotoIssue as gate.proto's enum value of the same name (0, unspecified, for None)."""
    return gate_pb2.PhotoIssue.Value(value.value) if value is not None else 0


def unknown_reason(value: UnknownReason | None) -> int:
    """index.identify's UnknownReason as gate.proto's enum value of the same name (0 for None)."""
    return gate_pb2.UnknownReason.Value(value.value) if value is not None else 0


def photo_outcome(o: PhotoOutcome) -> gate_pb2.PhotoOutcome:
    """What became of one enrollment photo as gate.proto's PhotoOutcome."""
    return gate_pb2.PhotoOutcome(
        index=o.index,
        accepted=o.accepted,
        template_id=str(o.template_id) if o.template_id is not None else "",
        reason=o.reason,
        warnings=o.warnings,
        duplicate=o.duplicate,
        quality=quality(o.face.quality) if o.face else None,
        issue=photo_issue(o.issue),
        resembles=o.resembles,
    )


def enroll_response(subject_id: str, outcomes: list[PhotoOutcome], templates: int, removed: int = 0) -> gate_pb2.EnrollResponse:
    """Enroll's answer: the subject, each photo's outcome and the template counts."""
    return gate_pb2.EnrollResponse(subject_id=subject_id, photos=[photo_outcome(o) for o in outcomes], templates=templates,
                                   templates_removed=removed)


def subject(record: SubjectRecord, templates: list[TemplateRecord] = ()) -> gate_pb2.Subject:
    """A subject with its groups, status and expiry, and its templates where given (never their vectors)."""
    return gate_pb2.Subject(
        subject_id=record.subject_id,
        display_name=record.display_name,
        created_at=record.created_at,
        groups=list(record.groups),
        status=gate_pb2.SUBJECT_SUSPENDED if record.status == SUSPENDED else gate_pb2.SUBJECT_ACTIVE,
        expires_at=record.expires_at,
        status_reason=record.status_reason,
        templates=[
            gate_pb2.Template(template_id=str(t.template_id), model=t.model, photo_sha256=t.photo_sha256,
                              quality=quality(t.quality), created_at=t.created_at)
            for t in templates
        ],
    )


def pass_response(result: PassResult) -> gate_pb2.PassResponse:
    """A door's answer; score and threshold are set only where the domain filled them in (callers allowed to see them)."""
    t = result.timings
    return gate_pb2.PassResponse(
        decision=gate_pb2.ACCEPT if result.accepted else gate_pb2.DENY,
        reason=gate_pb2.PassReason.Value(result.reason.value),
        message=result.message,
        subject_id=result.subject_id,
        display_name=result.display_name,
        band=band(result.band),
        score=result.score or 0.0,
        threshold=result.threshold or 0.0,
        liveness=gate_pb2.Liveness.Value(result.liveness.value),
        liveness_score=result.liveness_score,
        frame_liveness=result.frame_liveness,
        frame_used=result.frame_used,
        door=result.door,
        fallback=result.fallback,
        timings=gate_pb2.PassTimings(decode=t.decode, detect=t.detect, liveness=t.liveness, embed=t.embed, search=t.search,
                                     rule=t.rule, total=t.total),
    )
