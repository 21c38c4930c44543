"""The console's People pages (scope enroll): the subjects, enrolling from uploaded photos or the webcam, one
subject's templates with their quality, groups, status and expiry; adding and removing templates, suspending,
reactivating and forgetting. Each change is the call the REST route makes (gate_calls.py), audited with the
session key's name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from facegrid.encoder.quality import FaceQuality

from ...domain.enrollment import subject_of
from ...domain.errors import BadRequest, EnrollmentRefused
from ...domain.gate import PhotoOutcome
from ...domain.gate_core import MAX_PHOTOS_PER_ENROLL
from ...domain.subject_access import AccessChange
from ...store.subjects import ACTIVE, SUSPENDED, SubjectRecord
from .. import gate_calls
from ..routes import audit, failed_decision, gate
from .answers import Upload, uploads, user_error
from .frame import back_to, checked_form, page, router, signed_in, text_of
from .sessions import Session

router = router()
PAGE_SIZE = 50
ENROLL = signed_in("enroll")


def subject_path(subject_id: str) -> str:
    """The page of a subject (ids hold no '/': letters, digits and . _ - @ : +)."""
    return f"/ui/people/subject/{quote(subject_id, safe='')}"


def day(unix_time: float) -> str:
    """A Unix time as its UTC date ('' for 0: never)."""
    return datetime.fromtimestamp(unix_time, timezone.utc).strftime("%Y-%m-%d") if unix_time else ""


def moment(unix_time: float) -> str:
    """A Unix time as UTC date and minute."""
    return datetime.fromtimestamp(unix_time, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def expiry_of(text: str) -> float:
    """A date (YYYY-MM-DD, from the page's date field) as the Unix time of its start in UTC; 0 for none."""
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise BadRequest(f"expiry must be a date like 2027-06-30, got {text[:20]!r}") from None


@dataclass(frozen=True)
class PhotoResult:
    """What became of one uploaded photo, as the page shows it."""

    name: str
    state: str  # accepted, duplicate or refused
    issue: str  # why it was refused, for a machine (NO_FACE, NOT_LIKE_SUBJECT, ...); "" when accepted
    reason: str
    warnings: list[str]
    template_id: int | None
    quality: FaceQuality | None
    resembles: str


def results_of(photos: list[Upload], outcomes: list[PhotoOutcome]) -> list[PhotoResult]:
    """Each photo with its outcome, in the order they were sent."""
    return [PhotoResult(photo.name, "duplicate" if o.duplicate else "accepted" if o.accepted else "refused",
                        o.issue.value if o.issue is not None else "", o.reason, list(o.warnings), o.template_id,
                        o.face.quality if o.face is not None else None, o.resembles)
            for photo, o in zip(photos, outcomes)]


@router.get("/people", response_class=HTMLResponse)
def people(request: Request, q: str = "", page_token: str = "", session: Session = Depends(ENROLL)) -> HTMLResponse:
    """The subjects a page at a time (ids starting with `q` where given) and the enroll form."""
    q = q.strip()
    error = ""
    try:
        listed = gate(request).list_subjects(page_token, PAGE_SIZE, prefix=q)
    except Exception as failure:  # noqa: BLE001 - a bad search or page token is shown, not raised
        if user_error(failure) is None:
            raise
        error, listed = user_error(failure), gate(request).list_subjects("", PAGE_SIZE)
    return page(request, "people.html", session, listed=listed, q=q, search_error=error, day=day,
                subject_path=subject_path, max_photos=MAX_PHOTOS_PER_ENROLL)


async def _enroll(request: Request, session: Session, subject_id: str, display_name: str, groups: tuple[str, ...],
                  photos: list[Upload], back: str):
    """Enroll uploaded photos; the page of each photo's outcome, or back to `back` with what was wrong."""
    if not photos:
        return back_to(back, error="Choose at least one photo (or take one with the webcam).")
    try:
        result = await gate_calls.enroll(request, session.caller, subject_id, [p.data for p in photos], display_name,
                                         groups)
    except EnrollmentRefused as refused:
        return page(request, "enrolled.html", session, status=400, subject_id=refused.subject_id, enrolled=False,
                    templates=refused.templates, results=results_of(photos, refused.outcomes),
                    subject_path=subject_path)
    except Exception as failure:  # noqa: BLE001 - what the user can fix goes back to the form
        message = user_error(failure)
        if message is None:
            raise
        return back_to(back, error=message)
    return page(request, "enrolled.html", session, subject_id=result.subject.subject_id, enrolled=True,
                templates=result.templates, results=results_of(photos, result.photos), subject_path=subject_path)


@router.post("/people/enroll")
async def enroll(request: Request, session: Session = Depends(ENROLL)):
    """Enroll a new (or known) subject from uploaded or webcam photos."""
    form = await checked_form(request, session, MAX_PHOTOS_PER_ENROLL, request.app.state.limits.max_photo_bytes)
    groups = tuple(g.strip() for g in text_of(form, "groups", max_length=1000).split(",") if g.strip())
    return await _enroll(request, session, text_of(form, "subject_id", required=True, max_length=200),
                         text_of(form, "display_name"), groups, await uploads(form, "photos"), "/ui/people")


@router.get("/people/subject/{subject_id}", response_class=HTMLResponse)
def subject(request: Request, subject_id: str, session: Session = Depends(ENROLL)) -> HTMLResponse:
    """One subject: templates with their quality, groups, status, expiry, and what may be done to it."""
    try:
        record, templates = gate(request).subject(subject_id)
    except Exception as failure:  # noqa: BLE001 - an unknown subject: back to the list, saying so
        if user_error(failure) is None:
            raise
        return back_to("/ui/people", error=user_error(failure))
    return page(request, "subject.html", session, record=record, templates=templates, day=day, moment=moment,
                here=subject_path(record.subject_id), suspended=record.status == SUSPENDED,
                max_photos=MAX_PHOTOS_PER_ENROLL)


@router.post("/people/subject/{subject_id}/photos")
async def add_photos(request: Request, subject_id: str, session: Session = Depends(ENROLL)):
    """More photos of a subject: enrolled as new templates (those unlike the subject's are refused)."""
    form = await checked_form(request, session, MAX_PHOTOS_PER_ENROLL, request.app.state.limits.max_photo_bytes)
    return await _enroll(request, session, subject_id, "", (), await uploads(form, "photos"), subject_path(subject_id))


@router.post("/people/subject/{subject_id}/templates/{template_id}/remove")
async def remove_template(request: Request, subject_id: str, template_id: int, session: Session = Depends(ENROLL)):
    """Take one template from a subject (a bad photo enrolled)."""
    await checked_form(request, session)
    method = "Console/RemoveTemplate"  # no gRPC call does this alone: Undo of a naming removes templates too
    try:
        removed = await run_in_threadpool(gate(request).remove_templates, subject_id, [template_id])
    except Exception as failure:  # noqa: BLE001 - audited, then shown where the user can act on it
        audit(request, session.caller, method, subject_id=subject_of(subject_id), decision=failed_decision(failure),
              detail=f"template {template_id}")
        message = user_error(failure)
        if message is None:
            raise
        return back_to(subject_path(subject_id), error=message)
    audit(request, session.caller, method, subject_id=removed.subject_id, decision="removed",
          detail=f"template {template_id} removed, {removed.templates_left} left")
    return back_to(subject_path(removed.subject_id), note=f"Template {template_id} removed; "
                                                         f"{removed.templates_left} left.")


async def _change(request: Request, session: Session, subject_id: str, change: AccessChange,
                  done: str) -> RedirectResponse:
    try:
        record: SubjectRecord = await run_in_threadpool(gate_calls.update_subject, request, session.caller, subject_id,
                                                        change)
    except Exception as failure:  # noqa: BLE001 - what the user can fix goes back to the page
        message = user_error(failure)
        if message is None:
            raise
        return back_to(subject_path(subject_id), error=message)
    return back_to(subject_path(record.subject_id), note=done)


@router.post("/people/subject/{subject_id}/access")
async def set_access(request: Request, subject_id: str, session: Session = Depends(ENROLL)):
    """Set a subject's groups and expiry."""
    form = await checked_form(request, session)
    groups = [g.strip() for g in text_of(form, "groups", max_length=1000).split(",") if g.strip()]
    try:
        expires = expiry_of(text_of(form, "expires", max_length=20))
    except BadRequest as bad:
        return back_to(subject_path(subject_id), error=str(bad))
    return await _change(request, session, subject_id, AccessChange(groups=groups, expires_at=expires),
                         "Groups and expiry saved.")


@router.post("/people/subject/{subject_id}/status")
async def set_status(request: Request, subject_id: str, session: Session = Depends(ENROLL)):
    """Suspend a subject (every door denies it, its templates stay) or make it active again."""
    form = await checked_form(request, session)
    status = text_of(form, "status", required=True, max_length=20)
    if status not in (ACTIVE, SUSPENDED):
        return back_to(subject_path(subject_id), error=f"status must be {ACTIVE} or {SUSPENDED}")
    change = AccessChange(status=status, status_reason="suspended in the console" if status == SUSPENDED else "")
    return await _change(request, session, subject_id, change,
                         "Suspended: every door denies this subject." if status == SUSPENDED else "Active again.")


@router.post("/people/subject/{subject_id}/forget")
async def forget(request: Request, subject_id: str, session: Session = Depends(ENROLL)):
    """Forget a subject: its templates, its record and its names in photo collections."""
    await checked_form(request, session)
    try:
        forgotten = await run_in_threadpool(gate_calls.forget, request, session.caller, subject_id)
    except Exception as failure:  # noqa: BLE001 - an unknown subject: said on the list
        message = user_error(failure)
        if message is None:
            raise
        return back_to("/ui/people", error=message)
    return back_to("/ui/people",
                   note=f"{forgotten.subject_id} forgotten: {forgotten.templates_removed} templates removed.")
