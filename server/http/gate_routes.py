"""The gate over HTTP: /v1/subjects, /v1/verify, /v1/identify and /v1/pass, each the GateCore call its gRPC twin
makes, with the same scope, the same least disclosure (the core's) and the same audit entry."""

from __future__ import annotations

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from facegrid.encoder.liveness_port import Challenge

from ..domain.callers import Caller, NotPermitted, sees_everything
from ..domain.door_pass import PassQuery
from ..domain.enrollment import subject_of
from ..domain.errors import BadRequest, EnrollmentRefused
from ..domain.gate_core import MAX_PHOTOS_PER_ENROLL
from ..domain.subject_access import AccessChange
from ..store.subjects import ACTIVE, SUSPENDED
from . import forms
from .access import AccessRefused
from .forms import BINARY
from .routes import audit, failed_decision, gate, needs, router
from .schemas import (CandidateOut, DecisionOut, BoxOut, EnrollOut, ForgetOut, IdentifyOut, PassOut, PhotoOutcomeOut,
                      QualityOut, SubjectChange, SubjectOut, SubjectsOut, VerifyOut)

router = router("gate")
MAX_FRAMES = 16  # a door's burst (domain/door_pass.py refuses more)
SUBJECT_ID = {"type": "string", "minLength": 1, "maxLength": 128}
CHALLENGES = {c.value: c for c in Challenge}


def _limit(request: Request) -> int:
    return request.app.state.limits.max_photo_bytes


def _enroll_audit(subject_id: str, photos: int, replace: bool) -> dict:
    return {"subject_id": subject_of(subject_id), "detail": f"{photos} photos" + (", replace" if replace else "")}


@router.post("/verify", response_model=VerifyOut, openapi_extra=forms.multipart_body(
    ["subject_id", "photo"], {"subject_id": SUBJECT_ID, "photo": BINARY}))
async def verify(request: Request, caller: Caller = Depends(needs("gate", "GateService/Verify"))) -> VerifyOut:
    """1:1: whether the photo shows the subject (scope gate; scores only to keys with enroll or admin)."""
    form = await forms.read_form(request, 1, _limit(request))
    subject_id = forms.text(form, "subject_id", required=True, max_length=256)
    photo = (await forms.files(form, "photo"))[0]
    try:
        answer = await run_in_threadpool(gate(request).verify, subject_id, photo, full=sees_everything(caller))
    except Exception as error:
        audit(request, caller, "GateService/Verify", subject_id=subject_of(subject_id), decision=failed_decision(error))
        raise
    audit(request, caller, "GateService/Verify", subject_id=subject_of(subject_id),
          decision=("match" if answer.match else "no_match") if answer.enrolled else "not_enrolled",
          score=answer.compared.score, threshold=answer.compared.threshold)
    return VerifyOut(match=answer.match, band=answer.band.value, decision=DecisionOut.of(answer.decision),
                     other_faces=answer.other_faces, face=BoxOut.of(answer.face), quality=QualityOut.of(answer.face.quality),
                     quality_issue=answer.issue.issue.value if answer.issue else None,
                     quality_warning=answer.issue.reason if answer.issue else "")


@router.post("/identify", response_model=IdentifyOut, openapi_extra=forms.multipart_body(
    ["photo"], {"photo": BINARY, "candidates": {"type": "integer", "minimum": 0, "maximum": 100}}))
async def identify(request: Request, caller: Caller = Depends(needs("gate", "GateService/Identify"))) -> IdentifyOut:
    """1:N: who the photo shows among everyone enrolled, or nobody (scope gate)."""
    form = await forms.read_form(request, 1, _limit(request))
    candidates = forms.integer(form, "candidates")
    photo = (await forms.files(form, "photo"))[0]
    try:
        answer = await run_in_threadpool(gate(request).identify, photo, candidates, full=sees_everything(caller))
    except Exception as error:
        audit(request, caller, "GateService/Identify", decision=failed_decision(error))
        raise
    fields = {"subject_id": answer.subject_id or "", "decision": "known" if answer.subject_id else "unknown"}
    if answer.compared is not None:
        fields.update(score=answer.compared.score, threshold=answer.compared.threshold)
    if answer.subject_id is None and answer.reason:
        fields["detail"] = answer.reason[:130]
    audit(request, caller, "GateService/Identify", **fields)
    return IdentifyOut(known=answer.subject_id is not None, subject_id=answer.subject_id,
                       band=answer.band.value if answer.band is not None else None, decision=DecisionOut.of(answer.decision),
                       other_faces=answer.other_faces, margin=answer.margin,
                       candidates=[CandidateOut(subject_id=s, score=score) for s, score in answer.candidates],
                       face=BoxOut.of(answer.face), quality=QualityOut.of(answer.face.quality), reason=answer.reason,
                       unknown_reason=answer.why.value if answer.why is not None else None,
                       quality_issue=answer.issue.issue.value if answer.issue else None,
                       quality_warning=answer.issue.reason if answer.issue else "")


@router.post("/subjects", response_model=EnrollOut, openapi_extra=forms.multipart_body(
    ["subject_id", "photos"], {"subject_id": SUBJECT_ID, "display_name": {"type": "string", "maxLength": 256},
                               "groups": {"type": "array", "items": {"type": "string"}},
                               "replace": {"type": "boolean"},
                               "photos": {"type": "array", "items": BINARY, "minItems": 1, "maxItems": MAX_PHOTOS_PER_ENROLL}}))
async def enroll(request: Request, caller: Caller = Depends(needs("enroll", "GateService/Enroll"))) -> EnrollOut:
    """Enroll a subject from photos, one template per acceptable photo (scope enroll; `replace` needs admin too).
    None accepted: 400 with each photo's outcome (reason NO_USABLE_PHOTO)."""
    form = await forms.read_form(request, MAX_PHOTOS_PER_ENROLL, _limit(request))
    subject_id = forms.text(form, "subject_id", required=True, max_length=256)
    replace = forms.flag(form, "replace")
    if replace and not caller.may("admin"):
        raise AccessRefused(request.app.state.access.refused(request, NotPermitted(
            f"key {caller.key_name!r} may not replace templates: it needs scope admin (replacing a subject's templates "
            "with photos unlike them is an administrator's call)", caller, "missing scope admin"), "GateService/Enroll"))
    display_name = forms.text(form, "display_name", max_length=256)
    groups = tuple(forms.texts(form, "groups", max_length=64))
    photos = await forms.files(form, "photos")
    fields = _enroll_audit(subject_id, len(photos), replace)
    try:
        result = await run_in_threadpool(gate(request).enroll, subject_id, photos, display_name, groups=groups, replace=replace)
    except EnrollmentRefused as refused:
        issues = sorted({o.issue.value for o in refused.outcomes if o.issue is not None})
        audit(request, caller, "GateService/Enroll", subject_id=fields["subject_id"], decision="refused",
              detail=f"{len(refused.outcomes)} photos refused: {', '.join(issues)[:80] or 'no reason'}",
              reason="NOT_LIKE_SUBJECT" if "NOT_LIKE_SUBJECT" in issues else "")
        raise
    except Exception as error:
        audit(request, caller, "GateService/Enroll", decision=failed_decision(error), **fields)
        raise
    accepted = sum(o.accepted for o in result.photos)
    duplicates = sum(o.duplicate for o in result.photos)
    unlike = sum(o.issue is not None and o.issue.value == "NOT_LIKE_SUBJECT" for o in result.photos)
    resembling = sorted({o.resembles for o in result.photos if o.resembles})
    audit(request, caller, "GateService/Enroll", subject_id=result.subject.subject_id,
          decision="replaced" if result.removed else "enrolled", reason="NOT_LIKE_SUBJECT" if unlike else "",
          detail=f"{accepted} of {len(result.photos)} photos accepted ({duplicates} already enrolled), {result.templates} templates"
                 + (f", {result.removed} older removed" if result.removed else "")
                 + (f", {unlike} refused NOT_LIKE_SUBJECT" if unlike else "")
                 + (f", resembles {','.join(resembling)[:40]}" if resembling else ""))  # as rpc/audit.py's _enroll
    return EnrollOut(subject_id=result.subject.subject_id, photos=[PhotoOutcomeOut.of(o) for o in result.photos],
                     templates=result.templates, templates_removed=result.removed)


@router.get("/subjects", response_model=SubjectsOut)
def list_subjects(request: Request, page_token: str = Query("", max_length=512), page_size: int = Query(0, ge=0, le=1000),
                  caller: Caller = Depends(needs("enroll", "GateService/ListSubjects"))) -> SubjectsOut:
    """One page of the subjects in id order (scope enroll); pass `next_page_token` back for the next."""
    page = gate(request).list_subjects(page_token, page_size)
    return SubjectsOut(subjects=[SubjectOut.of(r) for r in page.subjects], next_page_token=page.next_page_token,
                       total=page.total)


@router.get("/subjects/{subject_id}", response_model=SubjectOut)
def get_subject(request: Request, subject_id: str,
                caller: Caller = Depends(needs("enroll", "GateService/GetSubject"))) -> SubjectOut:
    """A subject and its templates with their quality (scope enroll; never their vectors)."""
    record, templates = gate(request).subject(subject_id)
    return SubjectOut.of(record, templates)


@router.patch("/subjects/{subject_id}", response_model=SubjectOut)
def update_subject(request: Request, subject_id: str, change: SubjectChange,
                   caller: Caller = Depends(needs("enroll", "GateService/UpdateSubject"))) -> SubjectOut:
    """Set a subject's groups, status (active or suspended) or expiry (scope enroll)."""
    if change.status is not None and change.status not in (ACTIVE, SUSPENDED):
        raise BadRequest(f"status must be {ACTIVE} or {SUSPENDED}, got {change.status[:20]!r}")
    access_change = AccessChange(groups=change.groups, status=change.status, expires_at=change.expires_at,
                                 status_reason=change.status_reason)
    try:
        record = gate(request).update_subject(subject_id, access_change)
    except Exception as error:
        audit(request, caller, "GateService/UpdateSubject", subject_id=subject_of(subject_id), decision=failed_decision(error))
        raise
    audit(request, caller, "GateService/UpdateSubject", subject_id=record.subject_id, decision="updated",
          detail=f"groups {','.join(record.groups)[:80] or '-'}; SUBJECT_{record.status.upper()}; expires {record.expires_at:.0f}")
    return SubjectOut.of(record)


@router.delete("/subjects/{subject_id}", response_model=ForgetOut)
def forget(request: Request, subject_id: str, caller: Caller = Depends(needs("enroll", "GateService/Forget"))) -> ForgetOut:
    """Forget a subject: every template, its record and its names in photo collections (scope enroll)."""
    try:
        forgotten = gate(request).forget(subject_id)
    except Exception as error:
        audit(request, caller, "GateService/Forget", subject_id=subject_of(subject_id), decision=failed_decision(error))
        raise
    audit(request, caller, "GateService/Forget", subject_id=forgotten.subject_id, decision="forgotten",
          detail=f"{forgotten.templates_removed} templates removed")
    return ForgetOut(subject_id=forgotten.subject_id, templates_removed=forgotten.templates_removed)


@router.post("/pass", response_model=PassOut, openapi_extra=forms.multipart_body(
    ["door", "frames"], {"door": {"type": "string", "minLength": 1, "maxLength": 64},
                         "frames": {"type": "array", "items": BINARY, "minItems": 1, "maxItems": MAX_FRAMES},
                         "subject_id": {"type": "string", "maxLength": 128}, "track": {"type": "string", "maxLength": 64},
                         "challenge": {"type": "string", "enum": list(CHALLENGES)},
                         "frame_times": {"type": "array", "items": {"type": "number"}},
                         "allow_groups": {"type": "boolean"}}))
async def pass_door(request: Request, caller: Caller = Depends(needs("gate", "GateService/Pass"))) -> PassOut:
    """A door's decision on a burst of frames: face, liveness and the door's rule (scope gate; a door key passes only as
    its own door)."""
    form = await forms.read_form(request, MAX_FRAMES, _limit(request))
    door = forms.text(form, "door", required=True, max_length=256)
    request.app.state.access.door_check(request, caller, door)
    challenge = forms.text(form, "challenge", max_length=16) or Challenge.NONE.value
    if challenge not in CHALLENGES:
        raise BadRequest(f"challenge must be one of {', '.join(CHALLENGES)}, got {challenge[:16]!r}")
    times = forms.texts(form, "frame_times", max_length=32)
    try:
        frame_times = [float(t) for t in times]
    except ValueError:
        raise BadRequest("frame_times must be numbers (seconds since the first frame)") from None
    query = PassQuery(frames=await forms.files(form, "frames"), door=door, subject_id=forms.text(form, "subject_id", max_length=256),
                      track=forms.text(form, "track", max_length=256), challenge=CHALLENGES[challenge], frame_times=frame_times,
                      allow_groups=forms.flag(form, "allow_groups"), full=sees_everything(caller))
    fields = {"door": door[:64], "detail": f"{len(query.frames)} frames" + (f", track {query.track[:32]!r}" if query.track else "")
              + (", card" if query.subject_id else "")}
    try:
        result = await run_in_threadpool(gate(request).decide_pass, query)
    except Exception as error:
        audit(request, caller, "GateService/Pass", decision=failed_decision(error), **fields)
        raise
    if result.liveness.value != "NOT_CHECKED":
        fields["detail"] += f", liveness {result.liveness.value} {result.liveness_score:.2f}"
    audit(request, caller, "GateService/Pass", subject_id=result.subject_id, decision="accept" if result.accepted else "deny",
          reason=result.reason.value, score=result.decision.score if result.decision else None,
          threshold=result.decision.threshold if result.decision else None, **fields)
    return PassOut.of(result)
