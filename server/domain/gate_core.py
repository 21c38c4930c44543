"""The gate's service core: every GateService call as a typed call, for any transport.

The request is checked here (BadRequest with the same words whoever calls), the use case runs (gate.py: enroll,
verify, identify, forget; door_pass.py: Pass; subject_access.py: groups, status, expiry), and the answer is shaped
for least disclosure here too: a caller that may not see scores (`full` False: a key with scope `gate` alone) gets
the decision and a band, never the numbers, the runners-up or why a card failed. The comparison as it was goes
with each answer for the audit log, which keeps it whoever the caller is (admins read it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facegrid.encoder.pipeline import Face
from facegrid.index.identify import Decision, UnknownReason

from ..store.subjects import SubjectRecord, SubjectStore, TemplateRecord
from . import page_tokens
from .door_pass import DoorPass, PassQuery, PassResult
from .enrollment import normalise_subject_id
from .errors import BadRequest, SubjectNotFound
from .gate import Enrollment, Gate, StillWanted
from .refusals import Refusal
from .score_band import ScoreBand, band_of
from .subject_access import AccessChange, update_subject

MAX_CANDIDATES = 100
DEFAULT_CANDIDATES = 5
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_PHOTOS_PER_ENROLL = 20


def _always() -> bool:
    return True


def _limit(value: int, default: int, maximum: int, name: str) -> int:
    """A count the caller may leave at 0 for the default; BadRequest outside 1..maximum."""
    if value == 0:
        return default
    if not 1 <= value <= maximum:
        raise BadRequest(f"{name} must be between 1 and {maximum}, got {value}")
    return value


def _photo(photo: bytes) -> bytes:
    if not photo:
        raise BadRequest("photo is empty")
    return photo


@dataclass(frozen=True)
class VerifyAnswer:
    """Verify's answer as this caller may see it."""

    match: bool
    band: ScoreBand
    face: Face
    other_faces: int
    issue: Refusal | None  # what is wrong with the probe, where the probe rule only reports
    decision: Decision | None  # the numbers: only to a caller that may see them
    compared: Decision  # the comparison as it was, for the audit log alone
    enrolled: bool  # False: the subject is unknown (compared with the decoy), for the audit log alone


@dataclass(frozen=True)
class IdentifyAnswer:
    """Identify's answer as this caller may see it."""

    subject_id: str | None  # None: nobody enrolled
    band: ScoreBand | None  # None where no face was compared
    face: Face
    other_faces: int
    reason: str
    why: UnknownReason | None
    issue: Refusal | None
    decision: Decision | None = None  # the numbers and the runners-up: only to a caller that may see them
    margin: float = 0.0
    candidates: list[tuple[str, float]] = field(default_factory=list)
    compared: Decision | None = None  # for the audit log alone


@dataclass(frozen=True)
class Forgotten:
    """A subject forgotten: its id as stored, and how many templates went with it."""

    subject_id: str
    templates_removed: int


@dataclass(frozen=True)
class TemplatesRemoved:
    """Templates taken from a subject: which, and how many it has left."""

    subject_id: str
    removed: list[int]
    templates_left: int


@dataclass(frozen=True)
class SubjectsPage:
    """One page of subjects in id order; `next_page_token` is "" after the last page."""

    subjects: list[SubjectRecord]
    next_page_token: str
    total: int


class GateCore:
    """The gate's calls: enroll, verify, identify, forget, subjects, and the doors' Pass."""

    def __init__(self, gate: Gate, door_pass: DoorPass, subjects: SubjectStore) -> None:
        self.gate = gate
        self.door_pass = door_pass
        self.subjects = subjects  # the subject records in Redis (the gate's system of record)

    def enroll(self, subject_id: str, photos: list[bytes], display_name: str = "", still_wanted: StillWanted = _always,
               groups: tuple[str, ...] = (), replace: bool = False) -> Enrollment:
        """Add one template per acceptable photo (EnrollmentRefused when none is); `replace` drops the older ones."""
        if not photos:
            raise BadRequest("no photos: send at least one")
        if len(photos) > MAX_PHOTOS_PER_ENROLL:
            raise BadRequest(f"at most {MAX_PHOTOS_PER_ENROLL} photos per call, got {len(photos)}")
        return self.gate.enroll(subject_id, photos, display_name, still_wanted, groups, replace)

    def verify(self, subject_id: str, photo: bytes, still_wanted: StillWanted = _always, full: bool = False) -> VerifyAnswer:
        """Is the photo's face this subject? An unknown subject gets the same answer as a stranger, after the same work."""
        photo = _photo(photo)
        result = self.gate.verify(subject_id, photo, still_wanted, full=full)
        return VerifyAnswer(
            match=result.enrolled and result.decision.accepted,
            band=band_of(result.decision),
            face=result.face,
            other_faces=result.other_faces,
            issue=result.issue,
            decision=result.decision if full else None,
            compared=result.decision,
            enrolled=result.enrolled,
        )

    def identify(self, photo: bytes, candidates: int = 0, still_wanted: StillWanted = _always,
                 full: bool = False) -> IdentifyAnswer:
        """Who the photo's face is among everyone enrolled, or nobody (candidates 0: DEFAULT_CANDIDATES)."""
        photo = _photo(photo)
        wanted = _limit(candidates, DEFAULT_CANDIDATES, MAX_CANDIDATES, "candidates")
        result = self.gate.identify(photo, wanted, still_wanted, full=full)
        return IdentifyAnswer(
            subject_id=result.subject_id,
            band=band_of(result.decision) if result.decision is not None else None,
            face=result.face,
            other_faces=result.other_faces,
            reason=result.reason,
            why=result.why,
            issue=result.issue,
            decision=result.decision if full else None,
            margin=result.margin if full else 0.0,
            candidates=list(result.candidates) if full else [],
            compared=result.decision,
        )

    def forget(self, subject_id: str) -> Forgotten:
        """Remove a subject and every template (SubjectNotFound for an unknown one)."""
        removed = self.gate.forget(subject_id)
        return Forgotten(normalise_subject_id(subject_id), removed)

    def subject(self, subject_id: str) -> tuple[SubjectRecord, list[TemplateRecord]]:
        """A subject's record and templates (never their vectors)."""
        return self.gate.subject(subject_id)

    def remove_templates(self, subject_id: str, template_ids: list[int]) -> TemplatesRemoved:
        """Take these templates from a subject (a bad photo enrolled); SubjectNotFound for a subject or template it
        does not have, BadRequest where none would be left (forget the subject instead)."""
        if not template_ids:
            raise BadRequest("name at least one template to remove")
        record, templates = self.gate.subject(subject_id)
        held = {t.template_id for t in templates}
        missing = sorted(set(template_ids) - held)
        if missing:
            raise SubjectNotFound(f"subject {record.subject_id!r} has no template {missing[0]}")
        if held <= set(template_ids):
            raise BadRequest(f"that would leave subject {record.subject_id!r} no template: forget the subject instead")
        removed = sorted(set(template_ids))
        count = self.gate.remove_templates(record.subject_id, removed)
        return TemplatesRemoved(record.subject_id, removed, len(held) - count)

    def update_subject(self, subject_id: str, change: AccessChange) -> SubjectRecord:
        """Set a subject's groups, status or expiry; its record after."""
        return update_subject(self.subjects, subject_id, change)

    def list_subjects(self, page_token: str = "", page_size: int = 0, prefix: str = "") -> SubjectsPage:
        """A page of subjects after the token's (page_size 0: DEFAULT_PAGE); with `prefix`, those whose id starts
        with it (`total` still counts every subject)."""
        size = _limit(page_size, DEFAULT_PAGE, MAX_PAGE, "page_size")
        after = page_tokens.decode(page_token)
        prefix = normalise_subject_id(prefix) if prefix else ""
        # One more than asked for tells whether another page follows: no token after the last page.
        page = self.subjects.list_subjects(after=after, limit=size + 1, prefix=prefix)
        more, page = len(page) > size, page[:size]
        records = [record for record in (self.subjects.subject(s) for s in page) if record is not None]
        return SubjectsPage(records, page_tokens.encode(page[-1]) if more else "", self.subjects.count_subjects())

    def decide_pass(self, query: PassQuery) -> PassResult:
        """A door's answer to one approach (door_pass.py)."""
        return self.door_pass.decide(query)

    def keeps_probe_thumbnails(self) -> float:
        """How many days probe thumbnails are kept (0: none is kept, the default)."""
        thumbnails = self.door_pass.thumbnails
        return thumbnails.retention_days if thumbnails is not None else 0.0

    def probe_thumbnail(self, probe_id: str) -> bytes | None:
        """A probe thumbnail's JPEG (admins see it beside the decision), or None where none is kept."""
        thumbnails = self.door_pass.thumbnails
        return thumbnails.get(probe_id) if thumbnails is not None else None

    def kept_probe_thumbnails(self, probe_ids: list[str]) -> set[str]:
        """Which of these probe thumbnails are still kept (not past their retention, nor forgotten)."""
        thumbnails = self.door_pass.thumbnails
        return thumbnails.kept(probe_ids) if thumbnails is not None else set()
