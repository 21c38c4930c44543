"""`facegrid bench runtimes`: each shipped network on every runtime and precision this CPU offers, side by side.

ONNX Runtime f32 is the baseline of the same run; OpenVINO f32, and bf16 where the CPU has it natively. Rounds
alternate the candidates (A B C A B C ...) so a busy neighbour slows all of them alike; the figure is the median
per item over rounds. Inputs are random values of each graph's shape: speed does not depend on them (accuracy per
precision is `facegrid eval lfw` with FACEGRID_RUNTIME / FACEGRID_PRECISION).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from facegrid.encoder.cpu_features import cpu_has_bf16, cpu_model
from facegrid.encoder.models.dlib_onnx import cached_dlib_onnx
from facegrid.encoder.models.sface import cached_sface
from facegrid.encoder.runtime import EncoderSettings
from facegrid.encoder.sessions import openvino_session
from facegrid.encoder.sessions.measure import sample_feeds
from facegrid.encoder.sessions.onnxruntime_session import OnnxRuntimeSession
from facegrid.encoder.sessions.openvino_session import OpenVinoSession
from facegrid.encoder.yunet import cached_yunet


def _graphs(settings: EncoderSettings) -> dict[str, tuple[Path, tuple[int, ...]]]:
    """Network name -> (graph, batch sizes timed): the face models at 1 and 8, YuNet at 1 (one photo a call)."""
    return {"dlib": (cached_dlib_onnx(folder=settings.converted_dir()), (1, 8)),
            "sface": (cached_sface(settings), (1, 8)),
            "yunet (320x320)": (cached_yunet(settings), (1,))}


def bench_runtimes(threads: int = 1, rounds: int = 5, seconds: float = 1.0, networks: list[str] | None = None,
                   progress: Callable[[str], None] = print) -> dict:
    """ms per item and speed-up against ONNX Runtime f32, per network, candidate and batch size."""
    settings = EncoderSettings()
    pairs = [("onnxruntime", "f32")]
    if openvino_session.available():
        pairs.append(("openvino", "f32"))
        if cpu_has_bf16():
            pairs.append(("openvino", "bf16"))
    report = {"cpu": cpu_model(), "bf16": cpu_has_bf16(), "threads": threads, "rounds": rounds, "networks": {}}
    cache = Path(settings.cache_dir) / "openvino"
    for name, (graph, batches) in _graphs(settings).items():
        if networks and name.split()[0] not in networks:
            continue
        sessions = {pair: OnnxRuntimeSession(graph, threads, "cpu") if pair[0] == "onnxruntime"
                    else OpenVinoSession(graph, threads, pair[1], cache_dir=cache, max_batch=max(batches)) for pair in pairs}
        figures = {}
        for batch in batches:
            feeds = sample_feeds(sessions[pairs[0]].get_inputs(), batch)
            times: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
            for session in sessions.values():
                session.run(None, feeds)  # compile this size, warm caches
            for _ in range(rounds):
                for pair, session in sessions.items():
                    deadline, runs, begin = time.perf_counter() + seconds / rounds, 0, time.perf_counter()
                    while runs < 2 or time.perf_counter() < deadline:
                        session.run(None, feeds)
                        runs += 1
                    times[pair].append((time.perf_counter() - begin) * 1000 / runs / batch)
            base = float(np.median(times[pairs[0]]))
            for pair in pairs:
                ms = float(np.median(times[pair]))
                figures[f"{pair[0]} {pair[1]} batch {batch}"] = {"ms_per_item": round(ms, 2), "speedup": round(base / ms, 2)}
                progress(f"{name:16s} {pair[0]:12s} {pair[1]:5s} batch {batch}: {ms:7.2f} ms an item, {base / ms:.2f}x")
        report["networks"][name] = figures
    return report
