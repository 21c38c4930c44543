"""The gate's changes as the REST routes and the console's pages both make them: the GateCore call and its audit
entry (the same fields as gRPC's, server/rpc/audit.py), so a change is logged alike whichever screen or program
made it."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..domain.callers import Caller
from ..domain.enrollment import subject_of
from ..domain.errors import EnrollmentRefused
from ..domain.gate import Enrollment
from ..domain.gate_core import Forgotten
from ..domain.subject_access import AccessChange
from ..store.subjects import SubjectRecord
from .routes import audit, failed_decision, gate


async def enroll(request: Request, caller: Caller, subject_id: str, photos: list[bytes], display_name: str = "",
                 groups: tuple[str, ...] = (), replace: bool = False) -> Enrollment:
    """Enroll photos for a subject (the caller's scopes are checked by the route or page)."""
    fields = {"subject_id": subject_of(subject_id), "detail": f"{len(photos)} photos" + (", replace" if replace else "")}
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
          decision="replaced" if result.removed else "enrolled",
          detail=f"{accepted} of {len(result.photos)} photos accepted ({duplicates} already enrolled), {result.templates} templates"
                 + (f", {result.removed} older removed" if result.removed else "")
                 + (f", {unlike} refused NOT_LIKE_SUBJECT" if unlike else "")
                 + (f", resembles {','.join(resembling)[:40]}" if resembling else ""),
          reason="NOT_LIKE_SUBJECT" if unlike else "")
    return result


def update_subject(request: Request, caller: Caller, subject_id: str, change: AccessChange) -> SubjectRecord:
    """Set a subject's groups, status or expiry."""
    try:
        record = gate(request).update_subject(subject_id, change)
    except Exception as error:
        audit(request, caller, "GateService/UpdateSubject", subject_id=subject_of(subject_id), decision=failed_decision(error))
        raise
    audit(request, caller, "GateService/UpdateSubject", subject_id=record.subject_id, decision="updated",
          detail=f"groups {','.join(record.groups)[:80] or '-'}; SUBJECT_{record.status.upper()}; expires {record.expires_at:.0f}")
    return record


def forget(request: Request, caller: Caller, subject_id: str) -> Forgotten:
    """Forget a subject: templates, record, names in photo collections."""
    try:
        forgotten = gate(request).forget(subject_id)
    except Exception as error:
        audit(request, caller, "GateService/Forget", subject_id=subject_of(subject_id), decision=failed_decision(error))
        raise
    audit(request, caller, "GateService/Forget", subject_id=forgotten.subject_id, decision="forgotten",
          detail=f"{forgotten.templates_removed} templates removed")
    return forgotten
