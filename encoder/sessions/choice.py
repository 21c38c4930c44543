"""Which runtime and precision run a model: asked for, or `auto`, measured once per CPU model and model file.

`auto` times every candidate the model allows on this CPU (ONNX Runtime f32; OpenVINO f32; OpenVINO bf16 where
the CPU has native bf16 and the model's card records that bf16 holds its accuracy) and keeps the fastest. The
result is cached in `<cache>/runtime-choices.json`, keyed by the CPU model, the model file's digest, the runtime
versions and the thread count: a server's later starts (and tests' servers, which share one cache) read it instead
of measuring. ONNX Runtime stays the choice unless another is clearly faster, so vectors stay bit-identical with
those already stored wherever nothing is gained.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from ..cpu_features import cpu_has_bf16, cpu_model
from . import openvino_session
from .base import ModelSession, SessionChoice, check_names
from .measure import ms_per_item

log = logging.getLogger("facegrid.encoder.sessions")

CHOICES_FILE = "runtime-choices.json"
MEASURE_VERSION = "1"  # bump when the measurement changes, so cached choices are remade
# Another runtime must beat ONNX Runtime by this much to be chosen (timing noise is a few percent).
MARGIN = 0.05

Open = Callable[[str, str], ModelSession]  # (runtime, precision) -> session


def file_digest(model: Path | bytes) -> str:
    """SHA-256 of the model's graph (its file, or its bytes)."""
    digest = hashlib.sha256()
    if isinstance(model, bytes):
        digest.update(model)
    else:
        with open(model, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def candidates(allowed: tuple[str, ...], openvino: bool | None = None, bf16: bool | None = None) -> list[tuple[str, str]]:
    """(runtime, precision) pairs worth timing on this CPU for a model whose card allows these precisions."""
    openvino = openvino_session.available() if openvino is None else openvino
    bf16 = cpu_has_bf16() if bf16 is None else bf16
    pairs = [("onnxruntime", "f32")]
    if openvino:
        pairs.append(("openvino", "f32"))
        if bf16 and "bf16" in allowed:
            pairs.append(("openvino", "bf16"))
    return pairs


def fastest(timings: dict[tuple[str, str], float]) -> tuple[str, str]:
    """The fastest pair, ONNX Runtime f32 kept unless another is faster by more than MARGIN."""
    baseline = ("onnxruntime", "f32")
    best = min(timings, key=timings.get)
    if baseline in timings and timings[best] > timings[baseline] * (1 - MARGIN):
        return baseline
    return best


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # One measurement at a time on this machine (the server and its worker processes start together).
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, choices: dict) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(choices, indent=1, sort_keys=True))
    os.replace(temporary, path)


def cache_key(digest: str, threads: int, pairs: list[tuple[str, str]]) -> str:
    """What a cached choice depends on: the CPU, the model file, the runtimes' versions, threads, the candidates."""
    import onnxruntime

    return "|".join([cpu_model(), f"bf16={cpu_has_bf16()}", f"model={digest}", f"ort={onnxruntime.__version__}",
                     f"ov={openvino_session.version()}", f"threads={threads}", f"measure={MEASURE_VERSION}",
                     "candidates=" + ",".join(f"{r}:{p}" for r, p in pairs)])


def choose(name: str, model: Path | bytes, runtime: str, precision: str, allowed: tuple[str, ...], threads: int,
           cache_dir: Path, open_pair: Open, batches: tuple[int, ...] = (1, 8)) -> ModelSession:
    """The session that runs `name`: the runtime and precision asked for, or the fastest allowed one on this CPU.

    `allowed`: the precisions the model's card records as holding accuracy (f32 always). `open_pair` opens a
    session of a (runtime, precision) pair; it is called once per candidate when measuring.
    """
    check_names(runtime, precision)
    asked_bf16 = precision == "bf16"
    if asked_bf16 and not cpu_has_bf16():
        log.warning("%s: bf16 asked, but this CPU (%s) has no native bf16 (AVX-512 BF16 or AMX): f32", name, cpu_model())
        precision = "f32"
    elif asked_bf16 and "bf16" not in allowed:
        log.warning("%s: bf16 asked, but its card does not record bf16 holding its accuracy: f32", name)
        precision = "f32"
    if runtime == "auto" and not openvino_session.available() and precision in ("auto", "f32"):
        runtime = "onnxruntime"
    if runtime != "auto" and precision != "auto":
        return _opened(open_pair, name, runtime, precision, "bf16 asked, not possible here" if asked_bf16 and precision != "bf16" else "asked")
    pairs = [(r, p) for r, p in candidates(allowed)
             if (runtime == "auto" or r == runtime) and (precision == "auto" or p == precision)]
    if not pairs:  # OpenVINO asked for, not installed
        raise RuntimeError(f"{name}: FACEGRID_RUNTIME={runtime}, which is not installed here: pip install 'facegrid[cpu]'")
    if len(pairs) == 1:
        return _opened(open_pair, name, *pairs[0], "asked" if runtime != "auto" else "the only candidate here")
    path = Path(cache_dir) / CHOICES_FILE
    key = cache_key(file_digest(model), threads, pairs)
    with _locked(path):
        known = _read(path).get(key)
        if known is not None:
            timings = {tuple(k.split(":")): v for k, v in known["ms_per_item"].items()}
            pair = fastest(timings)
            return _opened(open_pair, name, *pair, "auto, measured here before: " + _figures(timings))
        timings, sessions = {}, {}
        begin = time.perf_counter()
        for pair in pairs:
            sessions[pair] = open_pair(*pair)
            timings[pair] = ms_per_item(sessions[pair], batches)
        choices = _read(path)
        choices[key] = {"model": name, "ms_per_item": {f"{r}:{p}": round(ms, 3) for (r, p), ms in timings.items()},
                        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write(path, choices)
    pair = fastest(timings)
    session = sessions[pair]
    session.choice = SessionChoice(*pair, f"auto, measured now in {time.perf_counter() - begin:.1f} s: {_figures(timings)}")
    log.info("%s runs on %s %s (%s)", name, *pair, session.choice.reason)
    return session


def _figures(timings: dict[tuple[str, str], float]) -> str:
    return ", ".join(f"{r} {p} {ms:.2f} ms" for (r, p), ms in sorted(timings.items(), key=lambda t: t[1]))


def _opened(open_pair: Open, name: str, runtime: str, precision: str, reason: str) -> ModelSession:
    session = open_pair(runtime, precision)
    real = getattr(session, "precision", precision)
    session.choice = SessionChoice(runtime, real, reason if real == precision else f"{reason}; compiled as {real}")
    log.info("%s runs on %s %s (%s)", name, runtime, real, session.choice.reason)
    return session
