"""One id per person while they approach: greedy matching of each frame's faces to the live tracks.

A face joins the track whose last box it overlaps most (IoU), or, when a fast approach leaves no overlap,
whose centre is nearest within one face width; otherwise it starts a new track. A track survives
`max_gap` seconds without a face (a blink of the detector, a turned head) and then ends: whoever comes
next is a new approach.
"""

from __future__ import annotations

from dataclasses import dataclass

from .detector import Face

MIN_IOU = 0.3
# A track counts as a person (for bursts and for tailgating) when its recent detector scores average this
# much. Real faces, 48 px and up, score 0.83-0.94 on the pad videos; a doorway that YuNet took for a face in
# one of them flickered between 0.5 and 0.84 (0.65 on average): one frame's score is not enough.
CONFIDENT_SCORE = 0.75
SCORE_MEMORY = 0.7   # weight of the past in the running score


@dataclass
class Track:
    """A person across frames: the last face seen, when, and how sure the detector has been."""

    id: int
    face: Face
    first_seen: float
    last_seen: float
    score: float
    hits: int = 1
    next_decision_at: float = 0.0   # cooldown: no new burst for this track before this time
    decided: int = 0                 # decisions made for this track

    @property
    def confident(self) -> bool:
        """Whether the detector has been sure enough of this face to send it to the server."""
        return self.score >= CONFIDENT_SCORE


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


class Tracker:
    """Keeps the live tracks; `update` once per processed frame."""

    def __init__(self, max_gap: float = 0.7) -> None:
        self.max_gap = max_gap
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, faces: list[Face], now: float) -> tuple[list[tuple[Track, Face]], list[Track]]:
        """Match this frame's faces (at time `now`, seconds) to tracks: (track, face) pairs seen now, and the
        tracks that ended."""
        pairs = sorted(((self._affinity(track, face), track.id, i) for track in self.tracks.values()
                        for i, face in enumerate(faces)), reverse=True)
        matched: dict[int, int] = {}
        used: set[int] = set()
        for affinity, track_id, i in pairs:
            if affinity <= 0 or track_id in matched or i in used:
                continue
            matched[track_id] = i
            used.add(i)
        seen = []
        for track_id, i in matched.items():
            track, face = self.tracks[track_id], faces[i]
            track.face, track.last_seen, track.hits = face, now, track.hits + 1
            track.score = SCORE_MEMORY * track.score + (1 - SCORE_MEMORY) * face.score
            seen.append((track, face))
        for i, face in enumerate(faces):
            if i not in used:
                track = Track(self._next_id, face, now, now, face.score)
                self._next_id += 1
                self.tracks[track.id] = track
                seen.append((track, face))
        ended = [t for t in self.tracks.values() if now - t.last_seen > self.max_gap]
        for track in ended:
            del self.tracks[track.id]
        return seen, ended

    @staticmethod
    def _affinity(track: Track, face: Face) -> float:
        """Above 1 for overlapping boxes (1 + IoU), in (0, 1] for a near centre, 0 for no match."""
        overlap = iou(track.face.box, face.box)
        if overlap >= MIN_IOU:
            return 1.0 + overlap
        (tx, ty), (fx, fy) = track.face.centre, face.centre
        reach = max(track.face.width, face.width)
        distance = ((tx - fx) ** 2 + (ty - fy) ** 2) ** 0.5
        return 1.0 - distance / reach if distance < reach else 0.0
