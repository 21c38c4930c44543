"""The door's loop: frame -> faces -> tracks -> zone and quality -> burst -> Pass (on a worker) -> outputs.

Capture and detection never wait for the server: a ready burst is handed to a worker thread, and the loop
goes on with the newest frame. One decision per approach: a track gets a new burst only after its
cooldown, which doubles after each decision (5, 10, 20 ... 60 s by default), and never again once
accepted; an ACCEPT of a subject already admitted within the cooldown is not repeated to the outputs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from .burst import Burst, Candidate
from .card_reader import CardReader
from .challenge import Challenger
from .crops import encode_jpeg, face_crop
from .decision import DoorDecision, door_decision
from .detector import FaceDetector
from .outputs import Outputs
from .pass_client import PassClient, PassResult, denied
from .quality import assess
from .sources import Frame, Source
from .tracker import Track, Tracker
from .zone import Zone

log = logging.getLogger("facegrid.door")

MAX_COOLDOWN_S = 60.0
CHALLENGE_MAX_YAW = 60.0   # with a challenge the turned frames are the evidence; the server allows up to 60


@dataclass(frozen=True)
class DoorConfig:
    """How one door decides (from `facegrid gate`'s options)."""

    door: str
    min_face: float = 48.0
    zone: Zone = field(default_factory=Zone)
    burst_size: int = 5
    burst_seconds: float = 0.15
    challenge: bool = False
    challenge_seconds: float = 2.0
    allow_groups: bool = False
    cooldown: float = 5.0
    subject_cooldown: float | None = None   # an ACCEPT of the same subject within this is not repeated (None: cooldown)
    max_gap: float = 0.7
    max_yaw: float = 40.0
    workers: int = 2


@dataclass
class DoorStats:
    """What the loop did: frames processed and the time it spent on them."""

    frames: int = 0
    busy_s: float = 0.0   # in `process`, decoding excluded
    wall_s: float = 0.0   # from the first frame asked for to the last processed, decoding included
    decisions: int = 0
    lag_s: deque = field(default_factory=lambda: deque(maxlen=100_000))   # live frames: done minus arrival, s


class DoorGate:
    """One door: feed it a source with `run`, or frames one by one with `process` (then `finish`)."""

    def __init__(self, config: DoorConfig, detector: FaceDetector, passer: PassClient, outputs: Outputs,
                 cards: CardReader | None = None, challenger: Challenger | None = None) -> None:
        self.config, self.detector, self.passer, self.outputs = config, detector, passer, outputs
        self.cards, self.challenger = cards, challenger
        self.tracker = Tracker(config.max_gap)
        self.bursts: dict[int, Burst] = {}
        self.stats = DoorStats()
        self._workers = ThreadPoolExecutor(config.workers, thread_name_prefix="door-pass")
        self._pending: list[Future] = []
        self._admitted: dict[str, float] = {}   # subject -> source time of its last ACCEPT
        self._lock = threading.Lock()

    def run(self, source: Source) -> DoorStats:
        """Every frame of the source, then the decisions still owed; the statistics."""
        started = time.perf_counter()
        try:
            for frame in source.frames():
                self.process(frame, live=source.live)
                self.stats.wall_s = time.perf_counter() - started
        finally:
            self.finish()
        return self.stats

    def process(self, frame: Frame, live: bool = False) -> None:
        """One frame: detect, track, collect bursts, decide the ready ones (on a worker)."""
        started = time.perf_counter()
        config = self.config
        height, width = frame.image.shape[:2]
        seen, ended = self.tracker.update(self.detector.detect(frame.image), frame.time)
        present = [(track, face) for track, face in seen
                   if track.confident and face.width >= config.min_face and config.zone.contains(face, width, height)]
        for track, face in present:
            if frame.time < track.next_decision_at:
                continue
            quality = assess(frame.image, face, config.min_face, CHALLENGE_MAX_YAW if config.challenge else config.max_yaw)
            if not quality.usable:
                continue
            candidate = Candidate(frame, face, quality)
            burst = self.bursts.get(track.id)
            if burst is not None:
                burst.add(candidate)
            elif config.challenge:
                self.bursts[track.id] = burst = Burst(track.id, candidate, config.burst_size, config.challenge_seconds, spread=True)
                burst.challenge = self.challenger.issue(config.door, track.id) if self.challenger else "none"
            else:
                self.bursts[track.id] = Burst(track.id, candidate, config.burst_size, config.burst_seconds)
        for track in ended:
            if self.bursts.pop(track.id, None) is not None:
                log.info("track %d left before its burst was complete: no decision", track.id)
        for track_id, burst in list(self.bursts.items()):
            if self.bursts.get(track_id) is burst and burst.ready(frame.time):   # a group's DENY may have taken it
                self._decide(burst, [track for track, _ in present], now=frame.time)
        self.stats.frames += 1
        self.stats.busy_s += time.perf_counter() - started
        if live:
            self.stats.lag_s.append(time.monotonic() - frame.wall)

    def finish(self) -> None:
        """At the end of a file: decide the bursts still collecting, wait for every answer, close the outputs."""
        for burst in list(self.bursts.values()):
            if self.bursts.get(burst.track_id) is burst:
                self._decide(burst, [], now=burst.started + burst.seconds)
        for future in self._pending:
            future.result()
        self._workers.shutdown(wait=True)
        self.outputs.close()
        self.passer.close()

    def _decide(self, burst: Burst, in_zone: list[Track], now: float) -> None:
        """A ready burst: DENY at once for a group in the zone (one decision for all of them), else ask the server."""
        del self.bursts[burst.track_id]
        card = self.cards.take() if self.cards else ""
        group = len(in_zone) > 1 and not self.config.allow_groups
        for track_id in {burst.track_id} | ({t.id for t in in_zone} if group else set()):
            self._cool_down(track_id, now)
        if group:
            for track in in_zone:
                self.bursts.pop(track.id, None)
            result = denied("MORE_THAN_ONE_FACE", f"{len(in_zone)} faces in the entry zone")
            log.info("track %d: %d faces in the zone: DENY MORE_THAN_ONE_FACE without asking the server",
                     burst.track_id, len(in_zone))
            self._emit(door_decision(result, self.config.door, burst.track_id, burst.first.frame.wall, 0, bool(card),
                                     burst.challenge), now)
            return
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._workers.submit(self._ask_server, burst, card, now))

    def _cool_down(self, track_id: int, now: float) -> None:
        track = self.tracker.tracks.get(track_id)
        if track is not None:
            track.decided += 1
            track.next_decision_at = now + min(MAX_COOLDOWN_S, self.config.cooldown * 2 ** (track.decided - 1))

    def _ask_server(self, burst: Burst, card: str, now: float) -> None:
        chosen = burst.chosen()
        challenge = burst.challenge
        try:
            frames = [encode_jpeg(face_crop(c.frame.image, c.face.box)) for c in chosen]
            # Seconds from the first frame sent (they go in the order taken).
            times = [round(c.frame.time - chosen[0].frame.time, 4) for c in chosen]
            started = time.perf_counter()
            result = self.passer.decide(frames, self.config.door, card, str(burst.track_id), challenge, times)
            server_ms = (time.perf_counter() - started) * 1000
        except Exception as error:  # noqa: BLE001 - fail closed on our own errors too
            log.exception("track %d: preparing the burst failed", burst.track_id)
            result, server_ms, frames = denied("SERVER_UNAVAILABLE", "the door client failed", repr(error)[:300]), None, []
        self._emit(door_decision(result, self.config.door, burst.track_id, burst.first.frame.wall, len(frames), bool(card),
                                 challenge, server_ms), now)

    def _emit(self, decision: DoorDecision, now: float) -> None:
        if decision.accepted:
            track = self.tracker.tracks.get(decision.track)
            if track is not None:
                track.next_decision_at = float("inf")   # let in: nothing more to decide while they stand there
        with self._lock:
            if decision.accepted and decision.subject:
                last = self._admitted.get(decision.subject)
                self._admitted[decision.subject] = now
                quiet = self.config.cooldown if self.config.subject_cooldown is None else self.config.subject_cooldown
                if last is not None and now - last < quiet:
                    log.info("track %d: %s admitted again within %.0f s: not repeated", decision.track, decision.subject, quiet)
                    return
            self.stats.decisions += 1
        self.outputs.emit(decision)
