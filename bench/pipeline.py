"""`facegrid bench pipeline`: images/s of decode+detect+align+embed against face_recognition.

Both sides get the same LFW images and the same number of worker processes in
one run; pool start-up and model loading are excluded from both timings (each
worker warms up on a few images first).

face_recognition is the `bench` extra, installed with --no-deps beside
dlib-bin (it declares `dlib`, which pip would compile from source):
    pip install --no-deps face_recognition==1.3.0
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

from facegrid.encoder.assets import package_dir
from facegrid.encoder.image import DecodeLimits
from facegrid.encoder.pipeline import run_chunk, start_worker
from facegrid.evaluation.datasets import lfw_dir

_CHUNK = 4


def lfw_sample(data: str | Path | None, count: int) -> list[Path]:
    """`count` LFW images spread over the whole set (every k-th in name order)."""
    root = lfw_dir(data)
    images = sorted(p for p in root.glob("*/*.jpg"))
    step = max(1, len(images) // count)
    return images[::step][:count]


def timed_pool(initializer: Callable, initargs: tuple, task: Callable, chunks: list[list], workers: int) -> tuple[float, list]:
    """Seconds to run all chunks on a warmed-up pool, and the tasks' results."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=initializer, initargs=initargs) as pool:
        # Warm-up: every worker loads its models and runs once before the clock starts.
        list(pool.map(task, [chunks[0][:1]] * workers * 2))
        started = time.perf_counter()
        results = list(pool.map(task, chunks))
        return time.perf_counter() - started, results


def _ours(paths: list[str]) -> int:
    return sum(len(r.faces) for r in run_chunk([(p, p) for p in paths], "all", False))


def start_baseline() -> None:
    """Pool initializer for the face_recognition baseline."""
    # face_recognition_models imports pkg_resources, gone from current setuptools:
    # give it the one function it calls.
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")
            shim.resource_filename = lambda package, name: str(package_dir(package) / name)
            sys.modules["pkg_resources"] = shim
    import face_recognition  # noqa: F401


def baseline_chunk(paths: list[str]) -> int:
    """Baseline task: face_recognition's default detection + encodings on a few photos; faces found."""
    import face_recognition

    faces = 0
    for path in paths:
        image = face_recognition.load_image_file(path)
        faces += len(face_recognition.face_encodings(image, face_recognition.face_locations(image)))
    return faces


def baseline_available() -> bool:
    """Whether face_recognition is installed (the `bench` extra)."""
    import importlib.util

    return importlib.util.find_spec("face_recognition") is not None


def bench_pipeline(data: str | Path | None, images: int, model: str, workers: int | None, baseline: bool = True) -> dict:
    """Images/s for facegrid and face_recognition on the same images and cores."""
    workers = workers or os.cpu_count() or 1
    paths = [str(p) for p in lfw_sample(data, images)]
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    ours_s, ours_faces = timed_pool(start_worker, (model, "cascade", None, DecodeLimits()), _ours, chunks, workers)
    report = {
        "model": model,
        "images": len(paths),
        "workers": workers,
        "images_per_s": round(len(paths) / ours_s, 2),
        "faces": sum(ours_faces),
        "baseline": "face_recognition 1.3.0 (dlib HOG upsample 1 + 5-point + ResNet, dlib-bin)",
        "baseline_images_per_s": None,
        "ratio": None,
    }
    if baseline:
        if not baseline_available():
            raise FileNotFoundError("face_recognition is not installed: pip install --no-deps face_recognition==1.3.0")
        base_s, base_faces = timed_pool(start_baseline, (), baseline_chunk, chunks, workers)
        report["baseline_images_per_s"] = round(len(paths) / base_s, 2)
        report["baseline_faces"] = sum(base_faces)
        report["ratio"] = round(base_s / ours_s, 2)
    return report
