"""`facegrid bench encoder`: items/s and latency per item with 1, 8, 32 concurrent callers, batched and unbatched.

Both ways run in the same process and the same run, on the same inputs:
- unbatched: each caller runs the model itself (as before the batcher: concurrent `session.run` calls);
- batched: each caller's request goes through the model's batcher (encoder/batcher.py), which gathers
  concurrent requests into one model run per batch.

Face models are timed on real face chips: LFW photos are decoded, detected and aligned once, before any
timing; a call then embeds one face (for `fused` that is a dlib chip, its mirror image and an SFace chip).
Every answer is checked against the unbatched answer of the same face computed alone beforehand: a vector
further than 1e-4 (max abs difference; batch size changes ONNX Runtime's float rounding by ~1e-6) counts as
misrouted, i.e. the caller got another face's vector.

Image and text towers (`facegrid.encoder.towers`) are timed the same way where that package is present.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facegrid.encoder.batcher import Batcher, batcher_wrap, live_batchers
from facegrid.encoder.models import DEFAULT_MODEL, load_model, model_names
from facegrid.encoder.runtime import EncoderSettings
from facegrid.evaluation.datasets import faces_dir
from facegrid.server.config import Settings

TOLERANCE = 1e-4
TOWER_MODEL = "clip-vit-b-32"  # the ViT-B/32-sized image tower the summary looks for (name contains vit-b-32)


@dataclass(frozen=True)
class Case:
    """One model and modality: its inputs, the two ways to embed one input, and the known answers."""

    model: str
    modality: str
    inputs: Sequence[Any]
    unbatched: Callable[[Any], np.ndarray]  # one input -> its vector, the caller runs the model
    batched: Callable[[Any], np.ndarray]  # one input -> its vector, through the batcher
    batchers: Callable[[], list[Batcher]]  # the batchers behind `batched` (for their stats)


@dataclass
class _Run:
    """What one drive measured: latencies of the calls inside its window, their count, the window, wrong answers."""

    latencies: list[float]
    items: int
    seconds: float
    misrouted: int
    cpu_seconds: float  # this process's CPU time in the window: per item, it shows cost apart from other load


def face_chips(data: str | Path | None, count: int, model) -> list:
    """`count` real face chips (one face per LFW photo, in the model's own geometry), cut before timing."""
    from facegrid.encoder.detect import make_detector
    from facegrid.encoder.image import decode_image

    detector = make_detector("yunet")
    chips = []
    for path in sorted((faces_dir(data) / "lfw").glob("*/*.jpg")):
        image = decode_image(path.read_bytes())
        found = detector.detect(image)
        if found:
            chips.append(model.chip(image, found[0]))
        if len(chips) == count:
            break
    return chips


def drive(embed: Callable[[Any], np.ndarray], inputs: Sequence[Any], answers: Sequence[np.ndarray], concurrency: int,
          seconds: float, min_calls: int = 0) -> _Run:
    """`concurrency` threads calling `embed` on inputs in turn, every answer checked against the known one.

    Throughput and latency count only calls that end inside a window of `seconds` (at least three times the
    warm-up, longer where needed for `min_calls`), opened once every caller has finished one call: the start (all callers arriving at once)
    and the drain (the last calls finishing alone) are left out.
    """
    lock = threading.Lock()
    stop = threading.Event()
    state = {"next": 0, "misrouted": 0, "warm": 0}
    warm = threading.Event()
    calls: list[tuple[float, float]] = []

    def caller() -> None:
        mine, wrong, first = [], 0, True
        while not stop.is_set():
            with lock:
                index = state["next"] % len(inputs)
                state["next"] += 1
            started = time.perf_counter()
            vector = embed(inputs[index])
            mine.append((started, time.perf_counter()))
            if vector.shape != answers[index].shape or float(np.max(np.abs(vector - answers[index]))) > TOLERANCE:
                wrong += 1
            if first:
                first = False
                with lock:
                    state["warm"] += 1
                    if state["warm"] == concurrency:
                        warm.set()
        with lock:
            calls.extend(mine)
            state["misrouted"] += wrong

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    begun = time.perf_counter()
    warm.wait()
    opened, cpu = time.perf_counter(), time.process_time()
    # At least three rounds of every caller: with 32 callers of a slow model a call takes seconds, and a
    # shorter window would count a handful of calls.
    time.sleep(max(seconds, 3 * (opened - begun)))
    while min_calls and state["next"] - concurrency < min_calls:
        time.sleep(0.05)
    closed, cpu = time.perf_counter(), time.process_time() - cpu
    stop.set()
    for thread in threads:
        thread.join()
    inside = [end - start for start, end in calls if opened <= end <= closed]
    return _Run(inside, len(inside), closed - opened, state["misrouted"], cpu)


def face_case(name: str, chips: list, unbatched_model, batched_model) -> Case:
    """A face model's case: one face a call."""
    def batchers() -> list[Batcher]:
        parts = getattr(batched_model, "parts", [batched_model])
        return [p._batcher for p in parts if isinstance(p._batcher, Batcher)]

    return Case(name, "face", chips, lambda chip: unbatched_model.embed([chip])[0],
                lambda chip: batched_model.embed([chip])[0], batchers)


def tower_cases(settings: EncoderSettings, unbatched: EncoderSettings, models: list[str] | None, modalities: list[str],
                data, count: int, progress) -> list[Case]:
    """Image and text towers of the model registry (facegrid.encoder.towers), where it is installed.

    Hook for the towers: each TowerModel built twice, with and without batching, embeds one photo or one
    text a call. Absent package or no tower models: no cases (said in the progress output).
    """
    try:
        from facegrid.encoder.towers.registry import ModelRegistry  # noqa: F401
    except ImportError:
        progress("image/text towers: facegrid.encoder.towers not present here; face models only")
        return []
    return _tower_cases(settings, unbatched, models, modalities, data, count, progress)


def _tower_cases(settings, unbatched, models, modalities, data, count, progress) -> list[Case]:
    from facegrid.encoder.towers.registry import ModelRegistry

    batched_registry = ModelRegistry(settings, wrap=batcher_wrap(settings))
    plain_registry = ModelRegistry(unbatched)
    batched_registry.load()
    plain_registry.load()
    for folder, error in batched_registry.broken.items():
        progress(f"model folder {folder} not loaded: {error}")
    cases = []
    for entry in batched_registry.entries():
        if entry.source == "shipped" or (models and entry.name not in models):
            continue
        batched_model, plain_model = batched_registry.tower_model(entry.name), plain_registry.tower_model(entry.name)
        if "image" in entry.modalities and "image" in modalities:
            photos = _photos(data, count)
            cases.append(Case(entry.name, "image", photos, lambda p, m=plain_model: m.embed_images([p])[0],
                              lambda p, m=batched_model: m.embed_images([p])[0], lambda m=batched_model: _tower_batchers(m)))
        if "text" in entry.modalities and "text" in modalities:
            texts = [f"a photo of {w} number {i}" for i, w in enumerate(["a dog", "two people", "a beach", "a cat"] * (count // 4 + 1))][:count]
            cases.append(Case(entry.name, "text", texts, lambda t, m=plain_model: m.embed_texts([t]).vectors[0],
                              lambda t, m=batched_model: m.embed_texts([t]).vectors[0], lambda m=batched_model: _tower_batchers(m)))
    return cases


def _tower_batchers(model) -> list[Batcher]:
    return [b for b in live_batchers() if b.name.startswith(f"{model.name}/")]


def _photos(data, count: int) -> list[np.ndarray]:
    from facegrid.encoder.image import decode_image

    paths = sorted((faces_dir(data) / "lfw").glob("*/*.jpg"))[:count]
    return [decode_image(p.read_bytes()) for p in paths]


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def bench_case(case: Case, concurrencies: Sequence[int], seconds: float, progress, min_calls: int = 0, rounds: int = 3) -> dict:
    """Items/s and p50 per item, batched and unbatched, at each concurrency; misrouted answers."""
    answers = [case.unbatched(x) for x in case.inputs]  # alone, one at a time: the known answers
    for x in case.inputs[:4]:  # warm-up of the batched path (first runs at a new batch size are slow)
        case.batched(x)
    report: dict = {"model": case.model, "modality": case.modality, "inputs": len(case.inputs), "items_per_s": {},
                    "p50_ms": {}, "p99_ms": {}, "cpu_ms_per_item": {}, "mean_batch": {}, "calls": 0, "misrouted": 0}
    for concurrency in concurrencies:
        # Rounds alternate the two ways (AB BA AB ...): load from other processes on a shared machine then
        # falls on both alike instead of on whichever ran during a busy spell.
        runs: dict[str, list[_Run]] = {"unbatched": [], "batched": []}
        batches = items = 0
        for round_ in range(rounds):
            for way in (("unbatched", "batched") if round_ % 2 == 0 else ("batched", "unbatched")):
                before = [b.stats() for b in case.batchers()]
                runs[way].append(drive(getattr(case, way), case.inputs, answers, concurrency, seconds / rounds,
                                       (min_calls // rounds) if way == "batched" else 0))
                after = [b.stats() for b in case.batchers()]
                if way == "batched":
                    batches += sum(a.batches - b.batches for a, b in zip(after, before))
                    items += sum(a.items - b.items for a, b in zip(after, before))
        for way in ("unbatched", "batched"):
            done = runs[way]
            ms = np.array([x for run in done for x in run.latencies]) * 1000
            key = f"{way}_{concurrency}"
            report["items_per_s"][key] = round(sum(r.items for r in done) / sum(r.seconds for r in done), 2)
            report["p50_ms"][key] = round(float(np.percentile(ms, 50)), 2)
            report["p99_ms"][key] = round(float(np.percentile(ms, 99)), 2)
            report["cpu_ms_per_item"][key] = round(1000 * sum(r.cpu_seconds for r in done) / max(1, sum(r.items for r in done)), 2)
            if way == "batched":
                report["mean_batch"][str(concurrency)] = round(items / batches, 2) if batches else 0.0
            wrong = sum(r.misrouted for r in done)
            report["calls"] += sum(r.items for r in done)
            report["misrouted"] += wrong
            progress(f"{case.model} {case.modality} x{concurrency:<3} {way:>9}: {report['items_per_s'][key]:8.2f} items/s, "
                     f"p50 {report['p50_ms'][key]:7.2f} ms, p99 {report['p99_ms'][key]:7.2f} ms, "
                     f"CPU {report['cpu_ms_per_item'][key]:6.2f} ms/item"
                     + (f", mean batch {report['mean_batch'][str(concurrency)]}" if way == "batched" else "")
                     + (f", MISROUTED {wrong}" if wrong else ""))
        report[f"batched_vs_unbatched_{concurrency}"] = _ratio(report["items_per_s"][f"batched_{concurrency}"],
                                                               report["items_per_s"][f"unbatched_{concurrency}"])
    if 1 in concurrencies:
        report["single_caller_slowdown"] = _ratio(report["p50_ms"]["batched_1"], report["p50_ms"]["unbatched_1"])
    return report


def bench_encoder(data: str | Path | None = None, models: list[str] | None = None, modalities: Sequence[str] = ("face", "image", "text"),
                  concurrencies: Sequence[int] = (1, 8, 32), device: str = "cpu", seconds: float = 6.0, inputs: int = 64,
                  batch_max: int = 16, batch_wait_ms: float = 0.0, threads: int = 0, batch_threads: int | None = None, batch_workers: int = 1,
                  min_calls: int = 0, rounds: int = 3, models_dir: str | Path | None = None, progress=print) -> dict:
    """The JSON object of `facegrid bench encoder --json`."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-encoder-") as folder:
        shared = Settings().cache_dir  # FACEGRID_CACHE_DIR: converted graphs shared with servers and tests
        cache = Path(shared).expanduser() if shared else Path(folder)
        plain = EncoderSettings(cache_dir=cache, device=device, threads=threads)
        if models_dir:
            plain = replace(plain, models_dir=Path(models_dir).expanduser())
        batched = replace(plain, threads=threads if batch_threads is None else batch_threads, batch_max=batch_max,
                          batch_wait_ms=batch_wait_ms, batch_queue=max(1024, 4 * max(concurrencies)), batch_workers=batch_workers)
        cases = []
        if "face" in modalities:
            for name in models or model_names():
                if name not in model_names():
                    continue
                unbatched_model, batched_model = load_model(name, settings=plain), load_model(name, settings=batched)
                cases.append(face_case(name, face_chips(data, inputs, unbatched_model), unbatched_model, batched_model))
        cases += tower_cases(batched, plain, models, [m for m in modalities if m != "face"], data, inputs, progress)
        results = [bench_case(case, concurrencies, seconds, progress, min_calls, rounds) for case in cases]
    report = {
        "device": device, "cores": os.cpu_count(), "load_before": round(load, 2), "seconds_per_point": seconds, "rounds": rounds,
        "batch_max": batch_max, "batch_wait_ms": batch_wait_ms, "threads": threads,
        "batch_threads": threads if batch_threads is None else batch_threads, "batch_workers": batch_workers, "concurrency": list(concurrencies),
        "models": {f"{r['model']}/{r['modality']}": r for r in results},
        "calls": sum(r["calls"] for r in results), "misrouted": sum(r["misrouted"] for r in results),
        "load_after": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0,
    }
    top = max(concurrencies)
    headline = [r for r in results if (r["model"] == DEFAULT_MODEL and r["modality"] == "face")
                or (TOWER_MODEL in r["model"].lower().replace("/", "-") and r["modality"] == "image")]
    report[f"batched_vs_unbatched_at_{top}"] = min((r[f"batched_vs_unbatched_{top}"] for r in headline or results), default=0.0)
    slowdowns = [r["single_caller_slowdown"] for r in results if "single_caller_slowdown" in r]
    report["single_caller_slowdown"] = max(slowdowns, default=0.0)
    return report
