"""One approach's frames: from a track's first usable face, collected for a short time, the best N kept.

Without a challenge the burst is short (150 ms by default: at 30 frames a second that is five frames) and
keeps the N best by quality. With an active challenge the person needs time to turn their head, and the
server must see the turn: the burst lasts longer and keeps the best frame of each of N equal time slices.
"""

from __future__ import annotations

from dataclasses import dataclass

from .detector import Face
from .quality import FaceQuality
from .sources import Frame


@dataclass(frozen=True, eq=False)   # identity: frames hold arrays
class Candidate:
    """A frame worth sending, with the track's face in it and how good that face is."""

    frame: Frame
    face: Face
    quality: FaceQuality


class Burst:
    """The frames of one track's approach, from `first` (its first usable face) for `seconds`."""

    def __init__(self, track_id: int, first: Candidate, size: int = 5, seconds: float = 0.15, spread: bool = False) -> None:
        self.track_id = track_id
        self.size, self.seconds, self.spread = size, seconds, spread
        self.first = first
        self.challenge = "none"   # the instruction given for this approach, if any
        self._kept: dict[int, Candidate] | list[Candidate] = {} if spread else []
        self.seen = 0
        self.add(first)

    @property
    def started(self) -> float:
        """When the burst began: the time of its first usable face."""
        return self.first.frame.time

    def add(self, candidate: Candidate) -> None:
        """Consider one more usable frame of the track."""
        self.seen += 1
        if self.spread:
            elapsed = candidate.frame.time - self.started
            slot = min(self.size - 1, int(elapsed / self.seconds * self.size)) if self.seconds > 0 else 0
            best = self._kept.get(slot)
            if best is None or candidate.quality.score > best.quality.score:
                self._kept[slot] = candidate
            return
        self._kept.append(candidate)
        if len(self._kept) > self.size:
            worst = min(range(len(self._kept)), key=lambda i: self._kept[i].quality.score)
            del self._kept[worst]

    def ready(self, now: float) -> bool:
        """Whether the burst's time is up at source time `now`."""
        return now - self.started >= self.seconds

    def chosen(self) -> list[Candidate]:
        """The frames to send: the best N, in the order they were taken (the server's multi-frame checks and an
        active challenge read the burst as a sequence; it picks the frame to compare itself)."""
        kept = list(self._kept.values()) if self.spread else list(self._kept)
        best = sorted(kept, key=lambda c: c.quality.score, reverse=True)
        return sorted(best, key=lambda c: c.frame.time)
