"""The door's decision as every output sees it: one flat record, one JSON object."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from .pass_client import PassResult


@dataclass(frozen=True)
class DoorDecision:
    """One decision of one approach: what the server (or the client, failing closed) said, where and how fast."""

    decision: str               # "ACCEPT" or "DENY"
    reason: str                 # a PassReason name: ADMITTED, NO_MATCH, ..., SERVER_UNAVAILABLE
    message: str
    subject: str | None
    display_name: str
    score: float | None         # None where the server gives a band only (gate keys)
    band: str
    liveness: str               # NOT_CHECKED, LIVE, ATTACK, UNCERTAIN
    liveness_score: float | None
    door: str
    track: int
    time: str                   # ISO 8601, UTC, when the decision was made here
    latency_ms: float           # from the first frame in which the face was usable to this decision
    server_ms: float | None     # the Pass call alone; None when the server was not asked
    frames: int                 # frames sent
    card: bool                  # a card was read for this approach (the id is not repeated here)
    challenge: str              # none, turn_left, turn_right, look_up
    fallback: str               # the door's note for a denied person (card + PIN, call the desk)
    error: str                  # what failed when the client denied for the server; "" otherwise
    server_timings: dict        # the server's time, ms: decode, detect, liveness, embed, search, rule, total

    @property
    def accepted(self) -> bool:
        """Whether the door opens for this decision."""
        return self.decision == "ACCEPT"

    def as_json(self) -> dict:
        """The JSON object printed, posted and published."""
        return asdict(self)


def door_decision(result: PassResult, door: str, track: int, first_usable_wall: float, frames: int, card: bool,
                  challenge: str = "none", server_ms: float | None = None) -> DoorDecision:
    """The record of one decision; latency runs from `first_usable_wall` (time.monotonic) to now."""
    return DoorDecision(
        decision="ACCEPT" if result.accepted else "DENY", reason=result.reason, message=result.message,
        subject=result.subject, display_name=result.display_name,
        score=None if result.score is None else round(float(result.score), 4), band=result.band,
        liveness=result.liveness,
        liveness_score=None if result.liveness_score is None else round(float(result.liveness_score), 4),
        door=door, track=track,
        time=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        latency_ms=round((time.monotonic() - first_usable_wall) * 1000, 1),
        server_ms=None if server_ms is None else round(server_ms, 1), frames=frames, card=card, challenge=challenge,
        fallback=result.fallback, error=result.error, server_timings=dict(result.timings),
    )
