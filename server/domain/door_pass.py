"""The door's decision on one approach (Pass): a burst of frames in, ACCEPT or DENY with the reason out.

Plain library code (no gRPC): rpc/gate_service.py translates. The steps, in order, each denying with its
reason and skipping the rest:

1. Look: every frame decoded and its faces found with the gate's probe detector; a frame without a face is
   skipped. A frame with a second face of usable size (at least the probe minimum and a third of the largest
   face: a passer-by far behind is not tailgating) denies MORE_THAN_ONE_FACE, unless the door allows groups.
   No frame whose largest face passes the probe rule (size, sharpness, pose): POOR_QUALITY.
2. Liveness (FACEGRID_LIVENESS): `require` scores every frame with a face through the LivenessChecker
   (encoder/liveness_port.py) and denies an attack, an uncertain burst, or a challenge not followed; `report`
   scores and never denies; `off` scores nothing (NOT_CHECKED; an active challenge is then not checked either:
   the checker checks it). Required with no model loaded: the call fails (LivenessUnavailable), never a silent
   accept. A challenge the checker cannot judge (challenge_followed None) counts as not followed.
3. Identity, with the gate's policy, thresholds and index: the best frame (largest, then sharpest face) is
   embedded and verified against the card's subject, or identified without a card. A second frame (the last
   usable other than the best) is embedded too: a burst whose face is not one person (below the 1% FAR
   threshold between the two) denies PRESENTATION_ATTACK, since a live approach never changes face, while a
   replay spliced onto a live face does (the liveness evidence and the identity would come from two people).
4. The door's rule (`door_rule`, doors in domain/doors.py): SUSPENDED, EXPIRED, UNKNOWN_DOOR, NOT_ALLOWED_HERE,
   OUTSIDE_HOURS. The door's record is read once per call (its fallback note goes with any denial).
5. Only where the operator keeps probe thumbnails (FACEGRID_PROBE_THUMBNAILS_DAYS, probe_thumbnails.py): the face
   compared, else the largest face seen, is kept as a small JPEG whose id the audit entry names.

Least disclosure: to a caller without `full` (a key with scope `gate` alone) an unknown card id and a known
one that does not match give the same answer, NO_MATCH with the same message, after the same work (an
unknown id is compared with a fixed decoy vector), and no score or threshold, only a band.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Callable


from facegrid.encoder.errors import ImageError
from facegrid.encoder.image import decode_image
from facegrid.encoder.liveness_port import Challenge, LivenessChecker, LivenessFrame, LivenessResult, Verdict
from facegrid.encoder.pipeline import Face, FoundFaces
from facegrid.encoder.ports import FrameEncoder
from facegrid.encoder.quality import FaceQuality
from facegrid.index.identify import Decision, verify

from ..store.doors import DoorRecord, DoorStore
from ..store.subjects import ACTIVE, SubjectRecord
from .crowd import largest_and_others
from .door_hours import Interval, is_open, parse_hours, time_zone
from .enrollment import normalise_subject_id
from .errors import BadPassRequest, LivenessUnavailable, PassNotHere
from .gate import Gate
from .groups import door_name
from .liveness_mode import LivenessMode
from .probe_thumbnails import ProbeThumbnails
from .score_band import ScoreBand, band_of  # noqa: F401 - ScoreBand is part of PassResult

log = logging.getLogger("facegrid.server")

MAX_FRAMES = 10
SAME_PERSON_FAR = 1e-2  # the two embedded frames must score above the 1% FAR threshold to be one person
SEEN_EVERY_S = 10.0  # a door's last_seen_at is written at most this often per server
IMPORT_COMMAND = "facegrid models import minifasnet --checkpoint FILE --checkpoint FILE"


class PassReason(str, Enum):
    """Why a door said what it said (gate.proto's PassReason has the same names)."""

    ADMITTED = "ADMITTED"
    NO_MATCH = "NO_MATCH"
    UNKNOWN_PERSON = "UNKNOWN_PERSON"
    PRESENTATION_ATTACK = "PRESENTATION_ATTACK"
    LIVENESS_UNCERTAIN = "LIVENESS_UNCERTAIN"
    MORE_THAN_ONE_FACE = "MORE_THAN_ONE_FACE"
    POOR_QUALITY = "POOR_QUALITY"
    NOT_ALLOWED_HERE = "NOT_ALLOWED_HERE"
    OUTSIDE_HOURS = "OUTSIDE_HOURS"
    SUSPENDED = "SUSPENDED"
    EXPIRED = "EXPIRED"
    UNKNOWN_DOOR = "UNKNOWN_DOOR"
    CHALLENGE_FAILED = "CHALLENGE_FAILED"


class Liveness(str, Enum):
    """The burst's liveness as answered (gate.proto's Liveness)."""

    NOT_CHECKED = "NOT_CHECKED"
    LIVE = "LIVE"
    ATTACK = "ATTACK"
    UNCERTAIN = "UNCERTAIN"


_VERDICTS = {Verdict.LIVE: Liveness.LIVE, Verdict.ATTACK: Liveness.ATTACK, Verdict.UNCERTAIN: Liveness.UNCERTAIN}


@dataclass(frozen=True)
class PassQuery:
    """One approach, as a door sends it."""

    frames: list[bytes]
    door: str
    subject_id: str = ""  # from a card reader; empty: identify
    track: str = ""  # the client's id of the approach, for the log
    challenge: Challenge = Challenge.NONE
    frame_times: list[float] = field(default_factory=list)  # seconds since the first frame, one per frame, or none
    allow_groups: bool = False  # the door lets several people through at once: other faces do not deny
    full: bool = False  # the caller may see scores and why a card failed (a key with enroll or admin)


@dataclass
class PassTimings:
    """Where the server's time went, milliseconds."""

    decode: float = 0.0
    detect: float = 0.0
    liveness: float = 0.0
    embed: float = 0.0
    search: float = 0.0
    rule: float = 0.0
    total: float = 0.0


@dataclass
class PassResult:
    """The door's answer, with what the audit log keeps."""

    accepted: bool
    reason: PassReason
    message: str
    door: str
    subject_id: str = ""  # the person recognised; empty when nobody was
    display_name: str = ""
    band: ScoreBand | None = None  # None where no face was compared
    score: float | None = None  # to `full` callers only
    threshold: float | None = None
    liveness: Liveness = Liveness.NOT_CHECKED
    liveness_score: float = 0.0
    frame_liveness: list[float] = field(default_factory=list)  # per frame sent, -1 without a face; empty when not checked
    frame_used: int = -1  # the frame compared
    fallback: str = ""  # the door's note, on DENY
    timings: PassTimings = field(default_factory=PassTimings)
    decision: Decision | None = None  # the comparison as it was, for the audit log (whoever the caller is)
    faces_embedded: int = 0
    probe_id: str = ""  # the probe thumbnail kept (probe_thumbnails.py), for the audit log; "" for none


@dataclass
class _Frame:
    """One frame looked at: its faces, the largest one's index (None: no face), and other faces of usable size."""

    index: int
    found: FoundFaces
    largest: int | None
    crowd: int
    usable: bool = False

    @property
    def quality(self) -> FaceQuality:
        return self.found.qualities[self.largest]


class _Denied(Exception):
    """A step's denial, carried out of the steps to the one place that answers."""

    def __init__(self, reason: PassReason, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@lru_cache(maxsize=256)
def _schedule(hours: str, zone: str) -> tuple[list[Interval], object]:
    """A door's hours and zone, parsed once per text (they were checked when the door was set)."""
    return parse_hours(hours), time_zone(zone)


def door_rule(subject: SubjectRecord, door: DoorRecord | None, doors_configured: bool, now: float) -> tuple[PassReason, str]:
    """The door's rule for a recognised subject at `now` (Unix time): ADMITTED, or the reason it denies and why."""
    if subject.status != ACTIVE:  # suspended, or a status this version does not know: fail closed
        return PassReason.SUSPENDED, "suspended: this person may not pass any door"
    if subject.expires_at and now >= subject.expires_at:
        return PassReason.EXPIRED, "expired: this person's access has ended"
    if not doors_configured:
        return PassReason.ADMITTED, "admitted (no door has a rule yet: every door admits every active person)"
    if door is None:
        return PassReason.UNKNOWN_DOOR, "this door has no rule: doors are configured and it is not among them"
    if not set(subject.groups) & set(door.groups):
        return PassReason.NOT_ALLOWED_HERE, "not allowed here: none of this person's groups may use this door"
    intervals, zone = _schedule(door.hours, door.timezone)
    if not is_open(intervals, zone, now):
        return PassReason.OUTSIDE_HOURS, f"outside this door's hours ({door.hours}, {door.timezone or 'UTC'})"
    return PassReason.ADMITTED, "admitted"


class DoorPass:
    """Decides Pass calls with the gate's detector, models, policy and index, the door rules, and a liveness checker.

    `frames` is the gate's face model running in this process (the gate's own FaceEncoder, where it is a FrameEncoder);
    None on the index role, whose models run on encoder servers: frames cannot be decoded and scored there."""

    def __init__(self, gate: Gate, doors: DoorStore, mode: LivenessMode = LivenessMode.REQUIRE,
                 checker: LivenessChecker | None = None, frames: FrameEncoder | None = None,
                 note_seen: Callable[[str, float], None] | None = None, clock: Callable[[], float] = time.time,
                 thumbnails: ProbeThumbnails | None = None) -> None:
        self.gate = gate
        self.doors = doors
        self.mode = mode
        self.checker = checker
        self.frames = frames
        self.models_here = frames is not None
        self._note_seen = note_seen  # (door, Unix time): written in the background
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._seen_lock = threading.Lock()
        self.thumbnails = thumbnails  # None: no probe thumbnail is kept (the default: FACEGRID_PROBE_THUMBNAILS_DAYS 0)

    def unavailable(self) -> str | None:
        """Why this server cannot decide Pass at all, or None when it can (for the start-up log too)."""
        if not self.models_here:
            return "Pass runs on a server with the models (--role all): this one embeds through encoder servers"
        if self.mode is LivenessMode.REQUIRE and self.checker is None:
            return (f"liveness is required (FACEGRID_LIVENESS=require) and no liveness model is imported: import one "
                    f"with `{IMPORT_COMMAND}` and restart, or run with --liveness report|off")
        return None

    def decide(self, query: PassQuery) -> PassResult:
        """The door's answer to one approach; BadPassRequest / InvalidName / InvalidSubjectId for a malformed call,
        LivenessUnavailable or PassNotHere where this server cannot decide."""
        started = time.perf_counter()
        door = door_name(query.door)
        card = normalise_subject_id(query.subject_id) if query.subject_id else ""
        _check(query)
        why_not = self.unavailable()
        if why_not:
            raise (PassNotHere if not self.models_here else LivenessUnavailable)(why_not)
        result = PassResult(False, PassReason.POOR_QUALITY, "", door)
        mark = time.perf_counter()
        now = self._clock()
        configured, rule = self.doors.lookup(door)  # for the fallback note of any denial too
        result.timings.rule += _ms(mark)
        if rule is not None:
            self._seen_now(door, now)
        frames: list[_Frame] = []
        try:
            self._look(query, result.timings, frames)
            self._liveness(query, frames, result)
            subject = self._identity(query, card, frames, result)
            mark = time.perf_counter()
            result.reason, result.message = door_rule(subject, rule, configured, now)
            result.timings.rule += _ms(mark)
        except _Denied as denied:
            result.reason, result.message = denied.reason, denied.message
        result.accepted = result.reason is PassReason.ADMITTED
        if not result.accepted and rule is not None:
            result.fallback = rule.fallback
        if result.reason is PassReason.NO_MATCH:
            result.band = ScoreBand.LOW  # an unknown card's too: it was compared with the decoy, below any threshold
        if result.decision is not None:
            result.band = band_of(result.decision)
            if query.full:
                result.score, result.threshold = result.decision.score, result.decision.threshold
        if self.thumbnails is not None:
            self._keep_thumbnail(frames, result)
        result.timings.total = _ms(started)
        return result

    # --- the steps ---------------------------------------------------------------------------------------

    def _look(self, query: PassQuery, timings: PassTimings, frames: list[_Frame]) -> None:
        """Every frame decoded and its faces found (into `frames`, kept for the thumbnail whatever follows); denies a
        crowd, or a burst without a usable face."""
        pipeline, rules = self.frames, self.gate.probe_rules
        for index, data in enumerate(query.frames):
            mark = time.perf_counter()
            try:
                image = decode_image(data, pipeline.limits)
            except ImageError as error:  # too large included: the door sends frames of at most 640 px
                raise BadPassRequest(f"frame {index}: {error}") from None
            timings.decode += _ms(mark)
            mark = time.perf_counter()
            found = pipeline.find_faces_in_image(image, self.gate.probe_detector)
            timings.detect += _ms(mark)
            largest, others = largest_and_others([q.size for q in found.qualities], rules.min_face_size)
            frames.append(_Frame(index, found, largest, others))
        if not query.allow_groups and any(f.crowd for f in frames):
            raise _Denied(PassReason.MORE_THAN_ONE_FACE, "more than one person in view: one at a time, please")
        for frame in frames:
            frame.usable = frame.largest is not None and rules.issue(frame.quality) is None
        if not any(f.usable for f in frames):
            seen = any(f.largest is not None for f in frames)
            raise _Denied(PassReason.POOR_QUALITY, "no usable face in the frames: " + (
                "come closer, hold still and look at the camera" if seen else "no face was found"))

    def _liveness(self, query: PassQuery, frames: list[_Frame], result: PassResult) -> None:
        """Score every frame with a face (unless off); under `require`, deny what is not a live person."""
        if self.mode is LivenessMode.OFF or self.checker is None:
            return
        mark = time.perf_counter()
        faced = [f for f in frames if f.largest is not None]
        judged: LivenessResult = self.checker.check([
            LivenessFrame(image=f.found.image, box=f.found.detections[f.largest].box,
                          landmarks=f.found.detections[f.largest].landmarks,
                          detector_score=f.found.detections[f.largest].score,
                          time=query.frame_times[f.index] if query.frame_times else None)
            for f in faced], query.challenge)
        result.timings.liveness = _ms(mark)
        scores = dict(zip((f.index for f in faced), judged.frame_scores))
        result.frame_liveness = [float(scores.get(f.index, -1.0)) for f in frames]
        result.liveness, result.liveness_score = _VERDICTS[judged.verdict], float(judged.score)
        if self.mode is not LivenessMode.REQUIRE:
            return
        detail = f" ({judged.detail})" if judged.detail else ""
        if judged.verdict is Verdict.ATTACK:
            raise _Denied(PassReason.PRESENTATION_ATTACK, "not a live person: a photo, screen or replay" + detail)
        if judged.verdict is Verdict.UNCERTAIN:
            raise _Denied(PassReason.LIVENESS_UNCERTAIN, "could not tell a live person: try again, facing the camera" + detail)
        if query.challenge is not Challenge.NONE and judged.challenge_followed is not True:
            raise _Denied(PassReason.CHALLENGE_FAILED, "the head did not follow the instruction" + detail)

    def _identity(self, query: PassQuery, card: str, frames: list[_Frame], result: PassResult) -> SubjectRecord:
        """Who the burst shows (the card's subject, or identified); denies a stranger or a face that changed."""
        usable = [f for f in frames if f.usable]
        best = max(usable, key=lambda f: (f.quality.size, f.quality.sharpness))
        second = next((f for f in reversed(usable) if f is not best), None)
        mark = time.perf_counter()
        pair = [(best.found, best.largest)] + ([(second.found, second.largest)] if second is not None else [])
        face, *rest = self.frames.embed_some(pair)  # one run of the model for both
        other = rest[0] if rest else None
        result.timings.embed = _ms(mark)
        result.faces_embedded, result.frame_used = 1 + (other is not None), best.index
        if other is not None and float(face.vector @ other.vector) < self.gate.policy.calibration.threshold(SAME_PERSON_FAR):
            raise _Denied(PassReason.PRESENTATION_ATTACK, "the face changed during the approach")
        mark = time.perf_counter()
        try:
            subject = self._verify(card, face, query.full, result) if card else self._identify(face, result)
        finally:
            result.timings.search = _ms(mark)
        result.subject_id, result.display_name = subject.subject_id, subject.display_name
        return subject

    def _verify(self, card: str, face: Face, full: bool, result: PassResult) -> SubjectRecord:
        """The card's subject, if the face is theirs; the same denial, after the same work, for an unknown card."""
        record = self.gate.subject_store.subject(card)
        vector = self.gate.subject_vectors.vector(record.number if record is not None else -1)  # the same lookup either way
        decision = verify(face.vector, vector if vector is not None else self.gate.decoy, self.gate.policy)
        if vector is not None:
            result.decision = decision
        if vector is not None and decision.accepted:
            return record
        message = "not the card's holder"
        if full and record is None:
            message = f"no subject {card!r} is enrolled (the card's id)"
        elif full and vector is None:
            message = f"subject {card!r} has no templates for model {self.gate.model}; enroll again"
        raise _Denied(PassReason.NO_MATCH, message)

    def _identify(self, face: Face, result: PassResult) -> SubjectRecord:
        """Who the face is among everyone enrolled, or a denial."""
        identified = self.gate.identify_face(face, candidates=2)
        result.decision = identified.decision
        record = self.gate.subject_store.subject(identified.subject_id) if identified.subject_id else None
        if record is None:
            raise _Denied(PassReason.UNKNOWN_PERSON, f"not recognised ({identified.reason or 'no longer enrolled'})")
        return record

    def _keep_thumbnail(self, frames: list[_Frame], result: PassResult) -> None:
        """Keep the face compared (else the largest face seen) as a probe thumbnail, named in the result for the audit."""
        shown = [f for f in frames if f.index == result.frame_used and f.largest is not None]
        if not shown:
            faced = [f for f in frames if f.largest is not None]
            shown = [max(faced, key=lambda f: f.quality.size)] if faced else []
        if not shown:
            return
        frame = shown[0]
        try:  # a picture for the console must never fail the door's answer
            result.probe_id = self.thumbnails.keep(frame.found.image, frame.found.detections[frame.largest].box,
                                                   result.subject_id)
        except Exception as error:  # noqa: BLE001
            log.warning("Pass: the probe thumbnail could not be made: %s: %s", type(error).__name__, error)

    def _seen_now(self, door: str, now: float) -> None:
        """Note the door's Pass for its last_seen_at, at most every SEEN_EVERY_S per server."""
        if self._note_seen is None:
            return
        with self._seen_lock:
            if now - self._seen.get(door, -SEEN_EVERY_S) < SEEN_EVERY_S:
                return
            self._seen[door] = now
        self._note_seen(door, now)


def _check(query: PassQuery) -> None:
    """BadPassRequest for a burst that cannot be decided as sent."""
    if not 1 <= len(query.frames) <= MAX_FRAMES:
        raise BadPassRequest(f"send 1 to {MAX_FRAMES} frames of one approach, got {len(query.frames)}")
    empty = [i for i, frame in enumerate(query.frames) if not frame]
    if empty:
        raise BadPassRequest(f"frame {empty[0]} is empty")
    if query.frame_times and len(query.frame_times) != len(query.frames):
        raise BadPassRequest(f"frame_times: one per frame ({len(query.frames)}) or none, got {len(query.frame_times)}")
    if any(not (0.0 <= t <= 3600.0) for t in query.frame_times):  # NaN fails this too
        raise BadPassRequest("frame_times: seconds since the first frame, 0 to 3600")


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
