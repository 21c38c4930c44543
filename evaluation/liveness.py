"""`facegrid eval liveness`: the imported liveness model on labelled live and attack recordings, in-process.

Each --data folder (one recording set-up) holds live/ and spoof/ with images and videos at any depth. A frame
is scored by its largest face; frames without a face, or whose face is not confident enough to score, are left
out and counted apart. Videos are read upright and cut into bursts as the door sends them (5 frames at least
0.1 s apart, one burst after another): a live video should pass on its first burst, an attack video on none
(an attacker retries). With `closeup`, every attack frame is first cut to the inside of its screen around the
face (evaluation/liveness_data.CLOSEUP_WINDOW): a development set that approximates close-up replays.

The figures are at the shipped thresholds (encoder/liveness/checker.LivenessThresholds); they mean something
only on set-ups those thresholds were not fixed on (docs/door.md says which).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from facegrid.encoder.detect import YuNetDetector
from facegrid.encoder.errors import ModelWeightsMissing
from facegrid.encoder.liveness import MiniFASNetChecker, load_checker
from facegrid.encoder.liveness.cues import glare
from facegrid.encoder.liveness.pose import follows, follows_pose
from facegrid.encoder.liveness_port import Challenge, LivenessFrame, Verdict
from facegrid.encoder.runtime import EncoderSettings

from .configured import configured_data_dir
from .datasets import DatasetMissing
from .liveness_cues import BURST_CUES, FRAME_CUES, burst_cues, frame_cues
from .liveness_data import BURST_FRAMES, CLOSEUP_WINDOW, Media, Sample, bursts, find_media, read_image, sample, video_frames
from .liveness_metrics import SIZE_BANDS, auc, band_name, by_band, summary

CHALLENGES = (Challenge.TURN_LEFT, Challenge.TURN_RIGHT, Challenge.LOOK_UP)
THRESHOLDS_FIXED_ON = ("the pad data's two image set-ups, ff_codersworld and ff_ramkumarkh (200 live, 196 attack "
                       "frames); figures on them are not held out")


@dataclass
class FrameRecord:
    """One scored frame."""

    setup: str
    label: str
    size: float
    score: float  # fused for this frame alone: passive x glare veto
    passive: float
    cues: dict[str, float] = field(default_factory=dict)


@dataclass
class BurstRecord:
    """One full burst of a video."""

    verdict: Verdict
    score: float
    passive: float
    follows_pose: dict[str, bool]  # challenge -> the head pose alone follows it
    follows: dict[str, bool]  # challenge -> followed as the checker decides (pose and parallax)
    cues: dict[str, float] = field(default_factory=dict)


@dataclass
class VideoRecord:
    """One video's bursts, in order."""

    setup: str
    label: str
    source: str
    bursts: list[BurstRecord] = field(default_factory=list)


@dataclass
class Tally:
    """Everything scored in one set-up, and what was left out."""

    frames: list[FrameRecord] = field(default_factory=list)
    videos: list[VideoRecord] = field(default_factory=list)
    no_face: dict[str, int] = field(default_factory=lambda: {"live": 0, "spoof": 0})
    not_confident: dict[str, int] = field(default_factory=lambda: {"live": 0, "spoof": 0})
    unreadable: int = 0
    check_seconds: float = 0.0  # time in the checker (passive model and cues), for its cost per frame
    checked_frames: int = 0


def _frame(item: Sample) -> LivenessFrame:
    face = item.face
    return LivenessFrame(item.image, face.box, face.landmarks, face.score, item.time)


def _score_frames(checker: MiniFASNetChecker, items: Sequence[Sample], media: Media, tally: Tally, with_cues: bool):
    """The checker on these frames as one burst; each scorable frame recorded; the result."""
    frames = [_frame(item) for item in items]
    started = time.perf_counter()
    result = checker.check(frames)
    tally.check_seconds += time.perf_counter() - started
    tally.checked_frames += len(frames)
    for frame, passive in zip(frames, result.frame_scores):
        if not checker.scorable(frame):
            tally.not_confident[media.label] += 1
            continue
        share = glare(frame.image, frame.box)
        cues = frame_cues(frame.image, frame.box) if with_cues else {}
        tally.frames.append(FrameRecord(media.setup, media.label, min(frame.box[2], frame.box[3]),
                                        passive * checker.glare_factor(share), passive, cues))
    return frames, result


def _burst(checker: MiniFASNetChecker, frames: list[LivenessFrame], result, with_cues: bool) -> BurstRecord:
    scored = [f for f in frames if checker.scorable(f)]
    landmarks = [np.asarray(f.landmarks, np.float64) for f in scored]
    pose_only = {c.value: len(landmarks) > 1 and follows_pose(c, landmarks) for c in CHALLENGES}
    full = {c.value: len(landmarks) > 1 and follows(c, landmarks)[0] for c in CHALLENGES}
    cues = dict(result.cues)
    if with_cues and len(scored) > 1:
        cues.update(burst_cues([f.image for f in scored], [f.box for f in scored], landmarks))
    return BurstRecord(result.verdict, result.score, result.cues.get("passive", 0.0), pose_only, full, cues)


def _evaluate_media(checker: MiniFASNetChecker, detector: YuNetDetector, media: Media, tally: Tally, crop: bool,
                    with_cues: bool) -> None:
    if not media.is_video:
        rgb = read_image(media.path)
        if rgb is None:
            tally.unreadable += 1
            return
        item = sample(detector, rgb, 0.0, crop)
        if item.face is None:
            tally.no_face[media.label] += 1
        else:
            _score_frames(checker, [item], media, tally, with_cues)
        return
    video = VideoRecord(media.setup, media.label, str(media.path))
    samples = (sample(detector, rgb, seconds, crop) for seconds, rgb in video_frames(media.path))
    for items, faceless in bursts(samples):
        tally.no_face[media.label] += faceless
        if not items:
            continue
        frames, result = _score_frames(checker, items, media, tally, with_cues)
        if len(items) == BURST_FRAMES:
            video.bursts.append(_burst(checker, frames, result, with_cues))
    tally.videos.append(video)  # one without a full burst of faces is counted apart (the door would not decide on it)


def _share(values: list[bool]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def _frame_figures(frames: list[FrameRecord], threshold: float) -> dict:
    live = np.array([f.score for f in frames if f.label == "live"])
    attack = np.array([f.score for f in frames if f.label == "spoof"])
    return summary(live, attack, threshold)


def _video_figures(videos: list[VideoRecord]) -> dict:
    """Per burst (accepted = LIVE) and per video: live videos accepted on their first burst, attack videos on any."""
    live = [v for v in videos if v.label == "live" and v.bursts]
    attack = [v for v in videos if v.label == "spoof" and v.bursts]
    live_bursts = [b for v in live for b in v.bursts]
    attack_bursts = [b for v in attack for b in v.bursts]
    return {
        "live_videos": len(live), "attack_videos": len(attack),
        "videos_without_full_burst": sum(not v.bursts for v in videos),
        "live_videos_accepted_first_burst": _share([v.bursts[0].verdict is Verdict.LIVE for v in live]),
        "attack_videos_accepted_any_burst": _share([any(b.verdict is Verdict.LIVE for b in v.bursts) for v in attack]),
        "live_bursts": len(live_bursts), "attack_bursts": len(attack_bursts),
        "burst_bpcer": _share([b.verdict is not Verdict.LIVE for b in live_bursts]),
        "burst_apcer": _share([b.verdict is Verdict.LIVE for b in attack_bursts]),
        "burst_apcer_passive_only": _share([b.passive >= 0.5 for b in attack_bursts]),
        "live_bursts_uncertain": _share([b.verdict is Verdict.UNCERTAIN for b in live_bursts]),
        "attack_bursts_uncertain": _share([b.verdict is Verdict.UNCERTAIN for b in attack_bursts]),
        "per_video": [{"video": Path(v.source).name, "label": v.label, "bursts": len(v.bursts),
                       "accepted_bursts": sum(b.verdict is Verdict.LIVE for b in v.bursts),
                       "first_burst": v.bursts[0].verdict.value, "first_score": round(v.bursts[0].score, 4)}
                      for v in live + attack],
    }


def _challenge_figures(videos: list[VideoRecord]) -> dict:
    """How often a burst follows a random challenge it was never given: the chance a pre-recorded replay passes it
    (attack videos), and how often people moving freely do (live videos)."""
    result = {}
    for label, name in (("spoof", "replay"), ("live", "live_unprompted")):
        chosen = [v for v in videos if v.label == label and v.bursts]
        all_bursts = [b for v in chosen for b in v.bursts]
        result[name] = {
            "videos": len(chosen), "bursts": len(all_bursts),
            "follows_random_challenge_pose_only": _share([b.follows_pose[c.value] for b in all_bursts for c in CHALLENGES]),
            "follows_random_challenge": _share([b.follows[c.value] for b in all_bursts for c in CHALLENGES]),
            "videos_following_on_some_burst": {c.value: _share([any(b.follows[c.value] for b in v.bursts) for v in chosen])
                                               for c in CHALLENGES},
        }
    return result


def _cue_figures(tallies: dict[str, Tally]) -> dict:
    """AUC of each candidate cue (live above attack) per set-up and, pooled, within each face-size band."""
    per_setup: dict[str, dict] = {}
    for setup, tally in tallies.items():
        row = {}
        for cue in FRAME_CUES:
            live = [f.cues[cue] for f in tally.frames if f.label == "live" and cue in f.cues]
            attack = [f.cues[cue] for f in tally.frames if f.label == "spoof" and cue in f.cues]
            row[cue] = None if auc(live, attack) is None else round(auc(live, attack), 3)
        for cue in BURST_CUES:
            live = [b.cues[cue] for v in tally.videos if v.label == "live" for b in v.bursts if cue in b.cues]
            attack = [b.cues[cue] for v in tally.videos if v.label == "spoof" for b in v.bursts if cue in b.cues]
            row[cue] = None if auc(live, attack) is None else round(auc(live, attack), 3)
        per_setup[setup] = row
    frames = [f for t in tallies.values() for f in t.frames]
    bands = {}
    for low, high in SIZE_BANDS:
        inside = [f for f in frames if f.size >= low and (high is None or f.size < high)]
        row = {}
        for cue in FRAME_CUES:
            value = auc([f.cues[cue] for f in inside if f.label == "live" and cue in f.cues],
                        [f.cues[cue] for f in inside if f.label == "spoof" and cue in f.cues])
            row[cue] = None if value is None else round(value, 3)
        bands[band_name(low, high)] = row
    return {"auc_per_setup": per_setup, "auc_per_size_band": bands}


def _figures(frames: list[FrameRecord], videos: list[VideoRecord], tallies: Sequence[Tally], threshold: float) -> dict:
    figures = _frame_figures(frames, threshold)
    figures["frames_without_face"] = {label: sum(t.no_face[label] for t in tallies) for label in ("live", "spoof")}
    figures["frames_not_confident"] = {label: sum(t.not_confident[label] for t in tallies) for label in ("live", "spoof")}
    figures["unreadable"] = sum(t.unreadable for t in tallies)
    passive = summary(np.array([f.passive for f in frames if f.label == "live"]),
                      np.array([f.passive for f in frames if f.label == "spoof"]), threshold)
    figures["passive_only"] = passive
    sizes = np.array([f.size for f in frames])
    figures["bands"] = by_band(sizes, np.array([f.score for f in frames]), np.array([f.label == "live" for f in frames]), threshold)
    figures.update(_video_figures(videos))
    return figures


def evaluate_liveness(data: Sequence[str | Path], models_dir: str | Path | None = None, closeup: bool = False,
                      cues: bool = False, settings: EncoderSettings | None = None,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """The liveness figures on each --data folder (live/ and spoof/ inside) and pooled over them."""
    settings = settings or EncoderSettings.under(configured_data_dir())
    if models_dir is not None:
        settings = replace(settings, models_dir=Path(models_dir).expanduser())
    checker = load_checker(settings.models_dir, settings)
    if checker is None:
        raise ModelWeightsMissing(f"no liveness model in {settings.models_dir}: import one with "
                                  "`facegrid models import minifasnet --checkpoint FILE [--checkpoint FILE]`")
    folders = [Path(d).expanduser() for d in data]
    work = []
    for folder in folders:
        found = find_media(folder)
        if not found:
            raise DatasetMissing(f"{folder}: no images or videos under live/ or spoof/")
        work += found
    detector = YuNetDetector(settings=settings)
    tallies = {folder.name: Tally() for folder in folders}
    for done, media in enumerate(work, 1):
        crop = closeup and media.label == "spoof"
        _evaluate_media(checker, detector, media, tallies[media.setup], crop, cues)
        if progress:
            progress(done, len(work))
    threshold = checker.thresholds.live
    frames = [f for t in tallies.values() for f in t.frames]
    videos = [v for t in tallies.values() for v in t.videos]
    report = {"model": checker.name, "data": [str(f) for f in folders], "closeup": closeup,
              "closeup_window": CLOSEUP_WINDOW if closeup else None,
              "threshold": threshold, "attack_threshold": checker.thresholds.attack, "thresholds_fixed_on": THRESHOLDS_FIXED_ON}
    report.update(_figures(frames, videos, list(tallies.values()), threshold))
    checked = sum(t.checked_frames for t in tallies.values())
    report["checker_ms_per_frame"] = round(1000 * sum(t.check_seconds for t in tallies.values()) / max(checked, 1), 2)
    report["threads"] = settings.threads
    report["challenge"] = _challenge_figures(videos)
    report["setups"] = {name: _figures(t.frames, t.videos, [t], threshold) for name, t in tallies.items()}
    if cues:
        report["cues"] = _cue_figures(tallies)
    return report
