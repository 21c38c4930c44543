"""Typed results of the door calls (Pass, doors, subjects' access), made from their protobuf messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from facegrid.v1 import gate_pb2

CHALLENGES = {"none": gate_pb2.NO_CHALLENGE, "turn_left": gate_pb2.TURN_LEFT, "turn_right": gate_pb2.TURN_RIGHT,
              "look_up": gate_pb2.LOOK_UP}


@dataclass
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
    timings: dict[str, float] = field(default_factory=dict)  # server milliseconds: decode, detect, liveness, embed, search, rule, total

    @property
    def accepted(self) -> bool:
        """Whether the door opens for this result."""
        return self.decision == "ACCEPT"

    @classmethod
    def from_message(cls, reply: gate_pb2.PassResponse) -> "PassResult":
        t = reply.timings
        shown = reply.score != 0.0 or reply.threshold != 0.0  # gate keys get 0 for both
        return cls(
            decision=gate_pb2.PassDecision.Name(reply.decision),
            reason=gate_pb2.PassReason.Name(reply.reason),
            message=reply.message,
            subject=reply.subject_id,
            display_name=reply.display_name,
            band=gate_pb2.ScoreBand.Name(reply.band) if reply.band else None,
            score=reply.score if shown else None,
            threshold=reply.threshold if shown else None,
            liveness=gate_pb2.Liveness.Name(reply.liveness),
            liveness_score=reply.liveness_score,
            frame_liveness=list(reply.frame_liveness),
            frame_used=reply.frame_used,
            door=reply.door,
            fallback=reply.fallback,
            timings={name: getattr(t, name) for name in ("decode", "detect", "liveness", "embed", "search", "rule", "total")},
        )


@dataclass
class DoorInfo:
    """A door's rule as the server holds it."""

    name: str
    groups: list[str]
    hours: str  # "" : always open
    timezone: str  # "" : UTC
    fallback: str
    updated_at: float
    last_seen_at: float | None  # None: no Pass yet

    @classmethod
    def from_message(cls, door: gate_pb2.Door) -> "DoorInfo":
        return cls(door.name, list(door.groups), door.hours, door.timezone, door.fallback, door.updated_at,
                   door.last_seen_at or None)


@dataclass
class SubjectInfo:
    """A subject's record: who, their groups and whether they may pass doors (templates not included)."""

    subject_id: str
    display_name: str
    created_at: float
    groups: list[str]
    status: str  # "active" or "suspended"
    expires_at: float | None  # None: never
    templates: int  # how many (GetSubject); 0 where the listing does not say
    status_reason: str = ""  # why the status was set, as its setter said ("" : not said)

    @property
    def active(self) -> bool:
        """Whether the subject is active (not suspended)."""
        return self.status == "active"

    @classmethod
    def from_message(cls, subject: gate_pb2.Subject) -> "SubjectInfo":
        return cls(subject.subject_id, subject.display_name, subject.created_at, list(subject.groups),
                   "suspended" if subject.status == gate_pb2.SUBJECT_SUSPENDED else "active",
                   subject.expires_at or None, len(subject.templates), subject.status_reason)
