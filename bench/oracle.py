"""`facegrid bench oracle`: whether a gate key can tell an enrolled subject id from an unknown one by the time Verify
takes (the answers themselves are the same bytes: tests/test_auth.py).

A real server in this process on loopback, one person enrolled, a gate key. The same probe (another person's camera
frame) is verified against the enrolled id, a known id that does not match, and against made-up ids, interleaved so
that drift in the machine's load falls on both alike; p50 and p99 of each, and the difference of the p50s. Before
issue 21, an unknown id was answered NOT_FOUND before the probe was looked at (about a millisecond against a full
Verify); now the probe is embedded and compared with a decoy either way.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from facegrid.clients.sdk import Facegrid, FacegridError
from facegrid.evaluation.datasets import faces_dir
from facegrid.server.config import Settings
from facegrid.server.main import start

from .gate import camera_frame


def bench_oracle(data: str | Path | None = None, repeats: int = 200, progress=print) -> dict:
    """Verify time of a known non-matching id against unknown ids, to a gate key: the JSON of `facegrid bench oracle`."""
    people = faces_dir(data) / "face_recognition"
    enrolled = sorted((people / "biden").iterdir())[0]
    probe = camera_frame(sorted((people / "obama").iterdir())[0])
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-oracle-") as folder:
        running = start(Settings().with_overrides(address="127.0.0.1:0", data_dir=Path(folder), redis_url=""))
        address = f"127.0.0.1:{running.port}"
        try:
            with Facegrid(address, timeout=60) as first:  # loopback, no key yet
                admin = first.create_key("bench-admin", ["admin", "enroll"]).key
            with Facegrid(address, api_key=admin, timeout=60) as desk:
                desk.enroll("bench-person", [enrolled])
                gate_key = desk.create_key("bench-gate", ["gate"]).key
            with Facegrid(address, api_key=gate_key, timeout=60) as gate:
                known, unknown = _interleaved(lambda: gate.verify("bench-person", probe),
                                              lambda i: gate.verify(f"nobody-{i}", probe), repeats)
                answers = {(r.match, r.band, r.score) for r in (gate.verify("bench-person", probe), gate.verify("nobody", probe))}
            with Facegrid(address, api_key=admin, timeout=60) as desk:  # the old answer, still an enroll key's: NOT_FOUND
                not_found = _timed(lambda i: _refused(lambda: desk.verify(f"nobody-{i}", probe)), max(repeats // 4, 20))
        finally:
            running.stop()
    report = {
        "repeats": repeats,
        "known_no_match_p50_ms": round(float(np.median(known)), 2),
        "unknown_id_p50_ms": round(float(np.median(unknown)), 2),
        "known_no_match_p99_ms": round(float(np.percentile(known, 99)), 2),
        "unknown_id_p99_ms": round(float(np.percentile(unknown, 99)), 2),
        "p50_difference_ms": round(float(np.median(unknown) - np.median(known)), 2),
        "same_answer": len(answers) == 1,
        "not_found_p50_ms": round(float(np.median(not_found)), 2),  # what a gate key was told before, at once
    }
    progress(f"Verify to a gate key, p50: known id, no match {report['known_no_match_p50_ms']} ms; unknown id "
             f"{report['unknown_id_p50_ms']} ms (difference {report['p50_difference_ms']} ms); same answer: {report['same_answer']}; "
             f"NOT_FOUND to an enroll key {report['not_found_p50_ms']} ms")
    return report


def _refused(call) -> None:
    try:
        call()
    except FacegridError:
        return
    raise AssertionError("an unknown id was not refused to an enroll key")


def _timed(call, repeats: int) -> np.ndarray:
    call(-1)
    samples = []
    for i in range(repeats):
        started = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - started)
    return np.array(samples) * 1000


def _interleaved(known, unknown, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds of each call, alternating which goes first; one warm-up call each."""
    known(), unknown(-1)
    a, b = [], []
    for i in range(repeats):
        order = ((lambda: known(), a), (lambda: unknown(i), b))
        for call, samples in (order if i % 2 == 0 else order[::-1]):
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
    return np.array(a) * 1000, np.array(b) * 1000
