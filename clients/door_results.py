"""Typed results of the door calls (Pass, doors) and of subjects' records: plain frozen records, no protobuf.

clients/convert.py makes them from the server's messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .results import Quality


@dataclass(frozen=True)
class PassResult:
    """A door's answer to one approach. `decision` is "ACCEPT" only when the server said so: open on nothing else."""

    decision: str  # "ACCEPT" or "DENY"
    reason: str  # a PassReason name: ADMITTED, NO_MATCH, UNKNOWN_PERSON, PRESENTATION_ATTACK, ...
    message: str
    subject: str  # the person recognised; "" when nobody was
    display_name: str
    band: str | None  # LOW, MEDIUM, HIGH; None where no face was compared
    score: float | None  # to keys with enroll or admin only; None otherwise
    threshold: float | None
    liveness: str  # NOT_CHECKED, LIVE, ATTACK, UNCERTAIN
    liveness_score: float
    frame_liveness: list[float]  # per frame sent, -1 without a face; empty when not checked
    frame_used: int  # the frame whose face was compared; -1 for none
    door: str
    fallback: str  # the door's note on a denial ("card + PIN")
    # server milliseconds: decode, detect, liveness, embed, search, rule, total
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """Whether the server admitted the person (the only reason to open)."""
        return self.decision == "ACCEPT"


@dataclass(frozen=True)
class DoorInfo:
    """A door's rule as the server holds it."""

    name: str
    groups: list[str]
    hours: str  # "" : always open
    timezone: str  # "" : UTC
    fallback: str
    updated_at: float
    last_seen_at: float | None  # None: no Pass yet


@dataclass(frozen=True)
class Template:
    """One enrolled photo of a subject: its template, the model that made it, and the photo's hash (never the vector)."""

    template_id: str
    model: str
    photo_sha256: str
    quality: Quality | None
    created_at: float


@dataclass(frozen=True)
class SubjectInfo:
    """A subject's record: who, their groups, whether they may pass doors, and (GetSubject) their templates."""

    subject_id: str
    display_name: str
    created_at: float
    groups: list[str]
    status: str  # "active" or "suspended"
    expires_at: float | None  # None: never
    templates: list[Template] = field(default_factory=list)  # GetSubject's; empty where the listing does not say
    status_reason: str = ""  # why the status was set, as its setter said ("" : not said)

    @property
    def active(self) -> bool:
        """Whether the subject may pass doors (not suspended)."""
        return self.status == "active"
