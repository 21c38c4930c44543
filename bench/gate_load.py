"""Verify latency with many gate callers at once, with and without bulk-index streams running beside them.

Each of `concurrency` callers is one gate device: it sends a Verify, waits for the answer, then
waits a random (exponential) pause of mean 1 / `rate` seconds, as people arrive at a turnstile.
Meanwhile `streams` clients each stream photos into the library as fast as the server takes
them. The same callers are first timed without the streams: the baseline of the same run.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from facegrid.clients.sdk import Facegrid, FacegridError


def _callers(connect: Callable[[], Facegrid], subject: str, probe: bytes, concurrency: int, seconds: float,
             rate: float, seed: int) -> tuple[list[float], int]:
    """(latencies in seconds, failed calls) of `concurrency` callers for `seconds`."""
    samples: list[float] = []
    failures = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def caller(number: int) -> None:
        nonlocal failures
        rng = random.Random(seed * 1000 + number)
        with connect() as client:
            time.sleep(rng.uniform(0, 1 / rate))  # callers do not all start at once
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    client.verify(subject, probe)
                    with lock:
                        samples.append(time.perf_counter() - started)
                except FacegridError:
                    with lock:
                        failures += 1
                time.sleep(rng.expovariate(rate))

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, failures


def _streamer(connect: Callable[[], Facegrid], photos: list[Path], stop: threading.Event, number: int, counts: list[int]) -> None:
    """Stream photos into a collection of its own until told to stop (each pass into a new collection,
    so every photo is embedded, never skipped as already indexed)."""
    passes = 0
    with connect() as client:
        while not stop.is_set():
            passes += 1
            def requests():
                for path in photos:
                    if stop.is_set():
                        return
                    yield (str(path), path.read_bytes())

            try:
                for _ in client.index_photos(requests(), collection=f"load-{number}-{passes}"):
                    counts[number] += 1
            except FacegridError:
                time.sleep(0.5)


def _percentiles(samples: list[float]) -> dict:
    ms = np.array(samples or [float("nan")]) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "calls": len(samples)}


def verify_under_load(connect: Callable[[], Facegrid], subject: str, probe: bytes, photos: list[Path],
                      concurrency: int = 16, streams: int = 4, seconds: float = 30.0, rate: float = 1.0,
                      progress=print) -> dict:
    """Verify p50/p99 of the callers alone, then with the streams running."""
    _callers(connect, subject, probe, concurrency, 3.0, rate, seed=0)  # warm-up: connections, first inferences
    alone, failed_alone = _callers(connect, subject, probe, concurrency, seconds, rate, seed=1)
    quiet = _percentiles(alone)
    progress(f"verify, {concurrency} callers at {rate}/s each, no streams: {quiet}, {failed_alone} failed")
    stop, counts = threading.Event(), [0] * streams
    streamers = [threading.Thread(target=_streamer, args=(connect, photos, stop, n, counts), daemon=True) for n in range(streams)]
    for thread in streamers:
        thread.start()
    time.sleep(10)  # the worker processes start and the streams reach full speed
    before = sum(counts)
    loaded, failed_loaded = _callers(connect, subject, probe, concurrency, seconds, rate, seed=2)
    indexed = sum(counts) - before
    stop.set()
    for thread in streamers:
        thread.join(timeout=60)
    busy = _percentiles(loaded)
    progress(f"verify with {streams} index streams ({indexed / seconds:.1f} photos/s indexed meanwhile): {busy}, "
             f"{failed_loaded} failed")
    return {
        "concurrency": concurrency, "streams": streams, "caller_rate_per_s": rate, "seconds": seconds,
        "verify_p50_ms_no_streams": quiet["p50_ms"], "verify_p99_ms_no_streams": quiet["p99_ms"],
        "verify_p50_ms_under_load": busy["p50_ms"], "verify_p99_ms_under_load": busy["p99_ms"],
        "verify_calls_under_load": busy["calls"], "verify_failed_under_load": failed_loaded,
        "photos_per_s_under_load": round(indexed / seconds, 1),
    }
