"""gRPC GateService: requests to typed calls of domain/gate_core.py's GateCore, results to messages (least
disclosure is the core's: it answers with what the caller may see)."""

from __future__ import annotations

from facegrid.v1 import gate_pb2, gate_pb2_grpc

from facegrid.encoder.liveness_port import Challenge

from . import audit, messages
from .auth import caller_of, note_audit, sees_everything
from .errors import grpc_errors
from .metrics import Metrics
from ..domain.door_pass import PassQuery
from ..domain.errors import BadRequest, EnrollmentRefused
from ..domain.gate_core import GateCore
from ..domain.subject_access import AccessChange
from ..store.subjects import ACTIVE, SUSPENDED

STATUSES = {gate_pb2.SUBJECT_ACTIVE: ACTIVE, gate_pb2.SUBJECT_SUSPENDED: SUSPENDED}
CHALLENGES = {gate_pb2.NO_CHALLENGE: Challenge.NONE, gate_pb2.TURN_LEFT: Challenge.TURN_LEFT,
              gate_pb2.TURN_RIGHT: Challenge.TURN_RIGHT, gate_pb2.LOOK_UP: Challenge.LOOK_UP}


class GateService(gate_pb2_grpc.GateServiceServicer):
    """The gate and the doors over gRPC."""

    def __init__(self, core: GateCore, metrics: Metrics | None = None) -> None:
        self.core = core
        self.metrics = metrics

    def _embedded(self, kind: str, faces: int) -> None:
        if self.metrics is not None and faces:
            self.metrics.faces.labels(kind).inc(faces)

    @grpc_errors
    def Enroll(self, request: gate_pb2.EnrollRequest, context) -> gate_pb2.EnrollResponse:
        """Enroll a subject from photos; a refused enrollment answers why for each photo."""
        try:
            result = self.core.enroll(request.subject_id, list(request.photos), request.display_name, context.is_active,
                                      tuple(request.groups), request.replace)  # replace: scope admin (auth.REQUEST_SCOPES)
        except EnrollmentRefused as refused:
            self._embedded("enroll", sum(o.face is not None for o in refused.outcomes))
            note_audit(context, **audit.refused_enrollment(refused.outcomes))
            raise
        self._embedded("enroll", sum(o.face is not None for o in result.photos))
        return messages.enroll_response(result.subject.subject_id, result.photos, result.templates, result.removed)

    @grpc_errors
    def Verify(self, request: gate_pb2.VerifyRequest, context) -> gate_pb2.VerifyResponse:
        """1:1: whether the photo shows the subject, told to the caller as much as its scopes allow."""
        answer = self.core.verify(request.subject_id, request.photo, context.is_active, full=sees_everything(caller_of(context)))
        self._embedded("probe", 1)
        # The audit log keeps the score, and whether the subject exists, whoever the caller is (admins read it).
        note_audit(context, score=answer.compared.score, threshold=answer.compared.threshold,
                   **({} if answer.enrolled else {"decision": "not_enrolled"}))
        return gate_pb2.VerifyResponse(
            match=answer.match,
            decision=messages.decision(answer.decision),
            band=messages.band(answer.band),
            other_faces=answer.other_faces,
            face=messages.box(answer.face),
            quality=messages.quality(answer.face.quality),
            quality_issue=messages.photo_issue(answer.issue.issue if answer.issue else None),
            quality_warning=answer.issue.reason if answer.issue else "",
        )

    @grpc_errors
    def Identify(self, request: gate_pb2.IdentifyRequest, context) -> gate_pb2.IdentifyResponse:
        """1:N: who is in the photo, or unknown, told to the caller as much as its scopes allow."""
        answer = self.core.identify(request.photo, request.candidates, context.is_active,
                                    full=sees_everything(caller_of(context)))
        self._embedded("probe", 1)
        if answer.compared is not None:
            note_audit(context, score=answer.compared.score, threshold=answer.compared.threshold)
        return gate_pb2.IdentifyResponse(
            known=answer.subject_id is not None,
            subject_id=answer.subject_id or "",
            decision=messages.decision(answer.decision),
            band=messages.band(answer.band),
            other_faces=answer.other_faces,
            margin=answer.margin,
            candidates=[gate_pb2.Candidate(subject_id=s, score=score) for s, score in answer.candidates],
            face=messages.box(answer.face),
            quality=messages.quality(answer.face.quality),
            reason=answer.reason,
            unknown_reason=messages.unknown_reason(answer.why),
            quality_issue=messages.photo_issue(answer.issue.issue if answer.issue else None),
            quality_warning=answer.issue.reason if answer.issue else "",
        )

    @grpc_errors
    def Forget(self, request: gate_pb2.ForgetRequest, context) -> gate_pb2.ForgetResponse:
        """Delete a subject and all its templates."""
        forgotten = self.core.forget(request.subject_id)
        return gate_pb2.ForgetResponse(subject_id=forgotten.subject_id, templates_removed=forgotten.templates_removed)

    @grpc_errors
    def GetSubject(self, request: gate_pb2.GetSubjectRequest, context) -> gate_pb2.Subject:
        """A subject and its templates (never their vectors)."""
        record, templates = self.core.subject(request.subject_id)
        return messages.subject(record, templates)

    @grpc_errors
    def UpdateSubject(self, request: gate_pb2.UpdateSubjectRequest, context) -> gate_pb2.Subject:
        """Set a subject's groups, status and expiry."""
        status = None
        if request.HasField("status"):
            if request.status not in STATUSES:
                raise BadRequest(f"status must be SUBJECT_ACTIVE or SUBJECT_SUSPENDED, got {request.status}")
            status = STATUSES[request.status]
        change = AccessChange(groups=list(request.groups) if request.set_groups else None, status=status,
                              expires_at=request.expires_at if request.HasField("expires_at") else None,
                              status_reason=request.status_reason)
        return messages.subject(self.core.update_subject(request.subject_id, change))

    @grpc_errors
    def Pass(self, request: gate_pb2.PassRequest, context) -> gate_pb2.PassResponse:
        """A door's decision on a burst of frames: face, liveness and door rule."""
        if request.challenge not in CHALLENGES:
            raise BadRequest(f"challenge {request.challenge} is not one of {', '.join(gate_pb2.Challenge.keys())}")
        query = PassQuery(frames=list(request.frames), door=request.door, subject_id=request.subject_id, track=request.track,
                          challenge=CHALLENGES[request.challenge], frame_times=list(request.frame_times),
                          allow_groups=request.allow_groups, full=sees_everything(caller_of(context)))
        result = self.core.decide_pass(query)
        self._embedded("probe", result.faces_embedded)
        if result.decision is not None:  # the audit log keeps the score whoever the caller is (admins read it)
            note_audit(context, score=result.decision.score, threshold=result.decision.threshold)
        if result.probe_id:  # the probe thumbnail kept, where the operator keeps them
            note_audit(context, probe=result.probe_id)
        return messages.pass_response(result)

    @grpc_errors
    def ListSubjects(self, request: gate_pb2.ListSubjectsRequest, context) -> gate_pb2.ListSubjectsResponse:
        """One page of the subjects, in lexical order."""
        page = self.core.list_subjects(request.page_token, request.page_size)
        return gate_pb2.ListSubjectsResponse(subjects=[messages.subject(r) for r in page.subjects],
                                             next_page_token=page.next_page_token, total=page.total)
