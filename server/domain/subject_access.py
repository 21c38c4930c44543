"""Who a subject is at the doors: its groups, its status (active or suspended) and when it expires.

Kept in the subject's Redis record beside its templates; set by Enroll (groups added) and UpdateSubject
(groups, status and expiry replaced); read by every Pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..store.subjects import ACTIVE, SUSPENDED, SubjectRecord, SubjectStore, SubjectUpdate
from .enrollment import normalise_subject_id
from .errors import InvalidSubjectUpdate, SubjectNotFound
from .groups import group_names

STATUSES = (ACTIVE, SUSPENDED)
MAX_TIME = 1e11  # seconds: the year 5138, as ListAudit's `since`
MAX_STATUS_REASON = 120


@dataclass(frozen=True)
class AccessChange:
    """An UpdateSubject request as the domain takes it: None leaves a field as it is."""

    groups: list[str] | None = None
    status: str | None = None
    expires_at: float | None = None  # 0: never
    status_reason: str = ""  # kept with a status set: why (a roster sync marks its suspensions so)


def checked_change(change: AccessChange) -> SubjectUpdate:
    """The change with its names and values checked; InvalidName / InvalidSubjectUpdate saying what is wrong."""
    if change.status is not None and change.status not in STATUSES:
        raise InvalidSubjectUpdate(f"status must be one of {', '.join(STATUSES)}, got {change.status!r}")
    if change.expires_at is not None and not (math.isfinite(change.expires_at) and 0 <= change.expires_at <= MAX_TIME):
        raise InvalidSubjectUpdate(f"expires_at must be a Unix time in seconds (0: never), got {change.expires_at}")
    if len(change.status_reason) > MAX_STATUS_REASON or not change.status_reason.isprintable():
        raise InvalidSubjectUpdate(f"status_reason must be printable text of at most {MAX_STATUS_REASON} characters")
    if change.status_reason and change.status is None:
        raise InvalidSubjectUpdate("status_reason goes with a status: set status too")
    groups = group_names(change.groups) if change.groups is not None else None
    return SubjectUpdate(groups, change.status, change.expires_at, change.status_reason)


def update_subject(store: SubjectStore, subject_id: str, change: AccessChange) -> SubjectRecord:
    """Set a subject's groups, status or expiry; its record after. SubjectNotFound for an unknown subject."""
    subject_id = normalise_subject_id(subject_id)
    record = store.update_subject(subject_id, checked_change(change))
    if record is None:
        raise SubjectNotFound(f"no subject {subject_id!r}")
    return record
