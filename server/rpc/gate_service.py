"""gRPC GateService: thin adapter over domain/gate.py's Gate, door_pass.py's DoorPass and subject_access.py
(validation and messages only)."""

from __future__ import annotations

from facegrid.v1 import gate_pb2, gate_pb2_grpc

from facegrid.encoder.liveness_port import Challenge

from . import audit, messages, page_tokens
from .auth import caller_of, note_audit, sees_everything
from ..domain.errors import BadRequest
from .errors import grpc_errors
from .metrics import Metrics
from ..domain.door_pass import DoorPass, PassQuery
from ..domain.enrollment import normalise_subject_id
from ..domain.errors import EnrollmentRefused
from ..domain.gate import Gate
from ..domain.score_band import band_of
from ..domain.subject_access import AccessChange, update_subject
from ..store.subjects import ACTIVE, SUSPENDED

MAX_CANDIDATES = 100
MAX_PAGE = 1000
MAX_PHOTOS_PER_ENROLL = 20
STATUSES = {gate_pb2.SUBJECT_ACTIVE: ACTIVE, gate_pb2.SUBJECT_SUSPENDED: SUSPENDED}
CHALLENGES = {gate_pb2.NO_CHALLENGE: Challenge.NONE, gate_pb2.TURN_LEFT: Challenge.TURN_LEFT,
              gate_pb2.TURN_RIGHT: Challenge.TURN_RIGHT, gate_pb2.LOOK_UP: Challenge.LOOK_UP}


def _limit(value: int, default: int, maximum: int, name: str) -> int:
    if value == 0:
        return default
    if not 1 <= value <= maximum:
        raise BadRequest(f"{name} must be between 1 and {maximum}, got {value}")
    return value


class GateService(gate_pb2_grpc.GateServiceServicer):
    def __init__(self, gate: Gate, door_pass: DoorPass, metrics: Metrics | None = None) -> None:
        self.gate = gate
        self.door_pass = door_pass
        self.metrics = metrics

    def _embedded(self, kind: str, faces: int) -> None:
        if self.metrics is not None and faces:
            self.metrics.faces.labels(kind).inc(faces)

    @grpc_errors
    def Enroll(self, request: gate_pb2.EnrollRequest, context) -> gate_pb2.EnrollResponse:
        if not request.photos:
            raise BadRequest("no photos: send at least one")
        if len(request.photos) > MAX_PHOTOS_PER_ENROLL:
            raise BadRequest(f"at most {MAX_PHOTOS_PER_ENROLL} photos per call, got {len(request.photos)}")
        try:
            result = self.gate.enroll(request.subject_id, list(request.photos), request.display_name, context.is_active,
                                      tuple(request.groups), request.replace)  # replace: scope admin (auth.REQUEST_SCOPES)
        except EnrollmentRefused as refused:
            self._embedded("enroll", sum(o.face is not None for o in refused.outcomes))
            note_audit(context, **audit.refused_enrollment(refused.outcomes))
            raise
        self._embedded("enroll", sum(o.face is not None for o in result.photos))
        return messages.enroll_response(result.subject.subject_id, result.photos, result.templates, result.removed)

    @grpc_errors
    def Verify(self, request: gate_pb2.VerifyRequest, context) -> gate_pb2.VerifyResponse:
        if not request.photo:
            raise BadRequest("photo is empty")
        full = sees_everything(caller_of(context))
        result = self.gate.verify(request.subject_id, request.photo, context.is_active, full=full)
        self._embedded("probe", 1)
        # The audit log keeps the score, and whether the subject exists, whoever the caller is (admins read it).
        note_audit(context, score=result.decision.score, threshold=result.decision.threshold,
                   **({} if result.enrolled else {"decision": "not_enrolled"}))
        return gate_pb2.VerifyResponse(
            match=result.enrolled and result.decision.accepted,
            # Least disclosure: a gate device gets the decision and a band; numbers help hill-climb a fake face.
            decision=messages.decision(result.decision) if full else None,
            band=messages.band(band_of(result.decision)),
            other_faces=result.other_faces,
            face=messages.box(result.face),
            quality=messages.quality(result.face.quality),
            quality_issue=messages.photo_issue(result.issue.issue if result.issue else None),
            quality_warning=result.issue.reason if result.issue else "",
        )

    @grpc_errors
    def Identify(self, request: gate_pb2.IdentifyRequest, context) -> gate_pb2.IdentifyResponse:
        if not request.photo:
            raise BadRequest("photo is empty")
        candidates = _limit(request.candidates, 5, MAX_CANDIDATES, "candidates")
        full = sees_everything(caller_of(context))
        result = self.gate.identify(request.photo, candidates, context.is_active, full=full)
        self._embedded("probe", 1)
        if result.decision is not None:
            note_audit(context, score=result.decision.score, threshold=result.decision.threshold)
        # Least disclosure: a gate device gets the decision, the subject and a band; the numbers, and the runners-up
        # (who else is enrolled, how close), only go to a key that may see the subjects anyway.
        return gate_pb2.IdentifyResponse(
            known=result.subject_id is not None,
            subject_id=result.subject_id or "",
            decision=messages.decision(result.decision) if full else None,
            band=messages.band(band_of(result.decision)) if result.decision is not None else 0,
            other_faces=result.other_faces,
            margin=result.margin if full else 0.0,
            candidates=[gate_pb2.Candidate(subject_id=s, score=score) for s, score in result.candidates] if full else [],
            face=messages.box(result.face),
            quality=messages.quality(result.face.quality),
            reason=result.reason,
            unknown_reason=messages.unknown_reason(result.why),
            quality_issue=messages.photo_issue(result.issue.issue if result.issue else None),
            quality_warning=result.issue.reason if result.issue else "",
        )

    @grpc_errors
    def Forget(self, request: gate_pb2.ForgetRequest, context) -> gate_pb2.ForgetResponse:
        removed = self.gate.forget(request.subject_id)
        return gate_pb2.ForgetResponse(subject_id=normalise_subject_id(request.subject_id), templates_removed=removed)

    @grpc_errors
    def GetSubject(self, request: gate_pb2.GetSubjectRequest, context) -> gate_pb2.Subject:
        record, templates = self.gate.subject(request.subject_id)
        return messages.subject(record, templates)

    @grpc_errors
    def UpdateSubject(self, request: gate_pb2.UpdateSubjectRequest, context) -> gate_pb2.Subject:
        status = None
        if request.HasField("status"):
            if request.status not in STATUSES:
                raise BadRequest(f"status must be SUBJECT_ACTIVE or SUBJECT_SUSPENDED, got {request.status}")
            status = STATUSES[request.status]
        change = AccessChange(groups=list(request.groups) if request.set_groups else None, status=status,
                              expires_at=request.expires_at if request.HasField("expires_at") else None,
                              status_reason=request.status_reason)
        return messages.subject(update_subject(self.gate.metadata, request.subject_id, change))

    @grpc_errors
    def Pass(self, request: gate_pb2.PassRequest, context) -> gate_pb2.PassResponse:
        if request.challenge not in CHALLENGES:
            raise BadRequest(f"challenge {request.challenge} is not one of {', '.join(gate_pb2.Challenge.keys())}")
        query = PassQuery(frames=list(request.frames), door=request.door, subject_id=request.subject_id, track=request.track,
                          challenge=CHALLENGES[request.challenge], frame_times=list(request.frame_times),
                          allow_groups=request.allow_groups, full=sees_everything(caller_of(context)))
        result = self.door_pass.decide(query)
        self._embedded("probe", result.faces_embedded)
        if result.decision is not None:  # the audit log keeps the score whoever the caller is (admins read it)
            note_audit(context, score=result.decision.score, threshold=result.decision.threshold)
        return messages.pass_response(result)

    @grpc_errors
    def ListSubjects(self, request: gate_pb2.ListSubjectsRequest, context) -> gate_pb2.ListSubjectsResponse:
        size = _limit(request.page_size, 100, MAX_PAGE, "page_size")
        metadata = self.gate.metadata
        # One more than asked for tells whether another page follows: no token after the last page.
        page = metadata.list_subjects(after=page_tokens.decode(request.page_token), limit=size + 1)
        more, page = len(page) > size, page[:size]
        subjects = []
        for subject_id in page:
            record = metadata.subject(subject_id)
            if record is not None:
                subjects.append(messages.subject(record))
        token = page_tokens.encode(page[-1]) if more else ""
        return gate_pb2.ListSubjectsResponse(subjects=subjects, next_page_token=token, total=metadata.count_subjects())
