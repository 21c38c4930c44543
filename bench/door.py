"""`facegrid bench door`: the door client's frames per second on one core, and the decision latency of
approaches replayed in real time against a server.

1. Frames per second: the whole client loop (decode, YuNet on the full frame, tracking, zone, quality,
   bursts, and the crops' JPEG encoding of each decision, which fail closed against an address where
   nothing listens) over the video, as fast as possible, in a child process pinned to ONE core. Baseline in
   the same child: the same loop with YuNet run on the frame at full size instead of scaled to --min-face.
2. Latency: the video's first seconds replayed at its own frame rate as `approaches` separate approaches
   (a second of empty frames between them, so that each is a new track), through the door in this process
   against a server: from the first frame in which the face is usable to the decision, p50 and p99; how
   far processing lags the live picture; the server's time per burst, split as Pass reports it.
   Without --server a `facegrid serve` is started (its own data directory, the video's person enrolled).

    facegrid bench door --video FILE [--approaches 40] [--server HOST:PORT --api-key KEY] [--json]
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

APPROACH_SECONDS = 2.0   # of the video replayed as one approach
GAP_SECONDS = 1.0        # empty frames between approaches (longer than the tracker's max_gap)
FPS_PASSES = 3           # the video is run this many times for the frames-per-second figure


def _nowhere() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class _Collected:
    """An output that keeps the decisions."""

    def __init__(self) -> None:
        self.decisions = []

    def emit(self, decision) -> None:
        self.decisions.append(decision)

    def close(self) -> None:
        pass


def _door(server: str, api_key: str | None, min_face: float, burst: int, detect_from: float | None = None, **config):
    """A door deciding faces from `min_face` px whose detector is scaled for `detect_from` px (default the same)."""
    from facegrid.clients.door.detector import FaceDetector
    from facegrid.clients.door.gate import DoorConfig, DoorGate
    from facegrid.clients.door.outputs import Outputs
    from facegrid.clients.door.pass_client import PassClient
    from facegrid.clients.sdk import Facegrid

    collected = _Collected()
    gate = DoorGate(DoorConfig(door="bench", min_face=min_face, burst_size=burst, **config), FaceDetector(detect_from or min_face),
                    PassClient(lambda: Facegrid(server, api_key=api_key), timeout=10), Outputs([collected]))
    return gate, collected


def frames_per_second_here(video: str, min_face: float, burst: int) -> dict:
    """The client loop's speed in this process (the caller pins it to one core)."""
    import cv2

    cv2.setNumThreads(1)
    from facegrid.clients.door.sources import VideoFile

    report = {"cores": sorted(os.sched_getaffinity(0))}
    for label, face in (("scaled", min_face), ("full_size_detection", 24.0)):   # 24 px: YuNet sees the frame as is
        gate, _ = _door(_nowhere(), None, min_face, burst, detect_from=face)   # the same faces decided; only the scale differs
        frames, started = 0, time.perf_counter()
        for _ in range(FPS_PASSES):
            for frame in VideoFile(video, fast=True).frames():
                gate.process(frame)
                frames += 1
        gate.finish()
        seconds = time.perf_counter() - started
        report[label] = {"frames": frames, "frames_per_s": round(frames / seconds, 1),
                         "ms_per_frame": round(seconds / frames * 1000, 2), "detector_scale": gate.detector.scale}
        report["frame_size"] = f"{frame.image.shape[1]}x{frame.image.shape[0]}"
    decode_started, decoded = time.perf_counter(), 0
    for _ in VideoFile(video, fast=True).frames():
        decoded += 1
    report["decode_ms_per_frame"] = round((time.perf_counter() - decode_started) / decoded * 1000, 2)
    return report


def client_fps(video: str, min_face: float, burst: int) -> dict:
    """frames_per_second_here in a child process pinned to one core (the first this process may use)."""
    core = min(os.sched_getaffinity(0))
    code = ("import json, sys; from facegrid.bench.door import frames_per_second_here; "
            "print(json.dumps(frames_per_second_here(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))))")
    run = subprocess.run([sys.executable, "-c", code, video, str(min_face), str(burst)], capture_output=True, text=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, {core}), timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(f"the one-core run failed: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _approaches(video: str, count: int):
    """The video's first APPROACH_SECONDS, then GAP_SECONDS of grey, `count` times, as (image, seconds)."""
    from facegrid.clients.door.sources import read_video

    clip = [(image, seconds) for image, seconds in read_video(video) if seconds < APPROACH_SECONDS]
    step = (clip[-1][1] / (len(clip) - 1)) if len(clip) > 1 else 1 / 30
    blank = np.full_like(clip[0][0], 110)
    period = APPROACH_SECONDS + GAP_SECONDS

    def recording():
        for n in range(count):
            for image, seconds in clip:
                yield image, n * period + seconds
            for k in range(int(GAP_SECONDS / step)):
                yield blank, n * period + APPROACH_SECONDS + k * step

    return recording


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    array = np.asarray(values, dtype=float)
    return {"p50_ms": round(float(np.percentile(array, 50)), 1), "p99_ms": round(float(np.percentile(array, 99)), 1),
            "max_ms": round(float(array.max()), 1)}


def _has_pass(address: str, api_key: str | None) -> bool:
    import grpc

    from facegrid.v1 import gate_pb2, gate_pb2_grpc

    metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
    with grpc.insecure_channel(address) as channel:
        try:
            gate_pb2_grpc.GateServiceStub(channel).Pass(gate_pb2.PassRequest(), timeout=30, metadata=metadata)
        except grpc.RpcError as error:
            return error.code() != grpc.StatusCode.UNIMPLEMENTED
    return True


def decision_latency(video: str, approaches: int, server: str, api_key: str | None, min_face: float, burst: int) -> dict:
    """Approaches replayed in real time through the door against `server`."""
    from facegrid.clients.door.sources import Paced

    gate, collected = _door(server, api_key, min_face, burst, subject_cooldown=0.0)
    source = Paced(_approaches(video, approaches), f"{approaches} approaches of {video}")
    stats = gate.run(source)
    decided = collected.decisions
    timings = {}
    for key in ("decode", "detect", "liveness", "embed", "search", "rule", "total"):
        values = [d.server_timings[key] for d in decided if key in d.server_timings]
        if values:
            timings[key] = round(float(np.median(values)), 2)
    reasons: dict[str, int] = {}
    for d in decided:
        reasons[d.reason] = reasons.get(d.reason, 0) + 1
    return {
        "approaches": approaches, "decisions": len(decided), "reasons": reasons,
        **_percentiles([d.latency_ms for d in decided]),
        "server_call": _percentiles([d.server_ms for d in decided if d.server_ms is not None]),
        "server_time_median_ms": timings,
        "liveness": sorted({d.liveness for d in decided}),
        "frames_per_decision": round(float(np.mean([d.frames for d in decided])), 1) if decided else 0,
        "frame_lag": _percentiles([lag * 1000 for lag in stats.lag_s]),
        "frames_processed": stats.frames, "frames_dropped": source.dropped,
    }


def _enroll_from_video(address: str, video: str, subject: str) -> None:
    """Enroll the video's person from its best face after the replayed part (the probes are other frames)."""
    import cv2

    from facegrid.clients.door.detector import FaceDetector
    from facegrid.clients.door.quality import assess
    from facegrid.clients.door.sources import read_video
    from facegrid.clients.sdk import Facegrid

    detector, best, best_score = FaceDetector(), None, -1.0
    frames = list(read_video(video))
    later = [image for image, seconds in frames if seconds >= APPROACH_SECONDS] or [image for image, _ in frames]
    for image in later[::3]:
        faces = detector.detect(image)
        if len(faces) == 1 and (score := assess(image, faces[0], 48).score) > best_score:
            best, best_score = image, score
    if best is None:
        raise RuntimeError(f"no frame of {video} shows one face to enroll")
    with Facegrid(address, timeout=60) as client:
        client.enroll(subject, [cv2.imencode(".jpg", best)[1].tobytes()])


def bench_door(video: str, approaches: int = 40, server: str | None = None, api_key: str | None = None,
               min_face: float = 48.0, burst: int = 5, progress=print, liveness_checkpoints: tuple[str, ...] = ()) -> dict:
    """The JSON object printed by `facegrid bench door --json`. The server this starts scores liveness when given
    the MiniFASNet checkpoints (imported into its data directory, liveness required: the door's default), and
    runs with liveness off otherwise."""
    if not Path(video).is_file():
        raise FileNotFoundError(f"no such video: {video}")
    fps = client_fps(video, min_face, burst)
    progress(f"client on one core (core {fps['cores']}): {fps['scaled']['frames_per_s']} frames/s at {fps['frame_size']} "
             f"(full-size detection: {fps['full_size_detection']['frames_per_s']}); decoding {fps['decode_ms_per_frame']} ms a frame")
    report = {"video": str(video), "frame_size": fps["frame_size"], "client_fps_one_core": fps["scaled"]["frames_per_s"],
              "client_fps_full_size_detection": fps["full_size_detection"]["frames_per_s"],
              "scaled_over_full_size": round(fps["scaled"]["frames_per_s"] / fps["full_size_detection"]["frames_per_s"], 2),
              "one_core": fps}
    started = None
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-door-") as folder:
        if server is None:
            from .serving import ServeProcess

            if liveness_checkpoints:
                from facegrid.encoder.importers.minifasnet import import_minifasnet

                import_minifasnet([Path(c) for c in liveness_checkpoints], Path(folder) / "models")
            env = {} if liveness_checkpoints else {"FACEGRID_LIVENESS": "off"}
            report["server_liveness"] = "require" if liveness_checkpoints else "off"
            started = ServeProcess(Path(folder), env=env).start()
            server = started.address
            _enroll_from_video(server, video, "bench-door-person")
        try:
            report["server_pass"] = _has_pass(server, api_key)
            if not report["server_pass"]:
                progress("the server has no Pass RPC (UNIMPLEMENTED): every decision is the client's fail-closed DENY")
            latency = decision_latency(video, approaches, server, api_key, min_face, burst)
        finally:
            if started is not None:
                started.stop()
    report["decision_latency"] = latency
    progress(f"decision latency over {latency['decisions']} approaches: p50 {latency.get('p50_ms')} ms, "
             f"p99 {latency.get('p99_ms')} ms; reasons {latency['reasons']}; frame lag p99 {latency['frame_lag'].get('p99_ms')} ms; "
             f"server {latency['server_time_median_ms']}")
    return report
