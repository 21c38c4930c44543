"""`facegrid bench gate`: Verify and Identify latency over gRPC, and the gRPC overhead per call.

Starts a real `facegrid serve` (embedded Redis, temporary data directory,
ephemeral port) in this process and talks to it over a loopback socket with
the SDK, so the library call can be timed beside the gRPC call in the same run.
The probe is a real photo resized to a 640x480 camera frame. The gallery holds
the real enrolled person plus synthetic unit vectors (random directions, which
behave as strangers) up to 1k / 10k / 100k subjects of one template each.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from facegrid.clients.sdk import Facegrid
from facegrid.evaluation.datasets import faces_dir
from facegrid.server.config import Settings
from facegrid.server.main import start
from facegrid.encoder.quality import FaceQuality
from facegrid.server.store.subjects import NewTemplate

from .bare_grpc import bare_overhead
from .gate_load import verify_under_load
from .photos import camera_frame, percentiles
from .serving import ServeProcess

GALLERIES = (1_000, 10_000, 100_000)


def timed(call, repeats: int) -> list[float]:
    """The seconds of `repeats` calls of `call`, after one warm-up call."""
    call()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def grpc_overhead(client: Facegrid, probe: bytes, repeats: int) -> dict:
    """Client-observed time minus the server handler's own time (trailing metadata), per Identify call."""
    from facegrid.server.rpc.errors import SERVER_TIME_KEY
    from facegrid.v1 import gate_pb2

    request = gate_pb2.IdentifyRequest(photo=probe)
    overheads = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        _, call = client._gate.Identify.with_call(request, timeout=60, metadata=client.transport.metadata)
        total = time.perf_counter() - started
        server = float(dict(call.trailing_metadata())[SERVER_TIME_KEY]) / 1000
        overheads.append(total - server)
    return percentiles(overheads[1:])


def fill_gallery(running, total: int, seed: int = 0) -> None:
    """Synthetic subjects (random unit vectors) until the gallery holds `total`."""
    gate = running.gate
    missing = total - gate.subject_vectors.count()
    rng = np.random.default_rng(seed + total)
    for first in range(0, missing, 5_000):
        count = min(5_000, missing - first)
        vectors = rng.standard_normal((count, gate.subject_vectors.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        gate.subject_store.add_subjects_bulk(
            [(f"synthetic-{total}-{first + i}", NewTemplate(gate.model, v, f"synthetic-{total}-{first + i}", FaceQuality.from_dict({})))
             for i, v in enumerate(vectors)]
        )
    gate.rebuild()


def bench_gate(data: str | Path | None, repeats: int = 200, progress=print, concurrency: int = 0, streams: int = 0,
               load_seconds: float = 30.0) -> dict:
    """Latency figures; the JSON object printed by `facegrid bench gate --json`. With `concurrency`,
    also Verify from that many callers at once, alone and beside `streams` bulk-index streams."""
    people = faces_dir(data) / "face_recognition"
    enroll_photo = sorted((people / "biden").iterdir())[0]
    probe_photo = sorted((people / "biden").iterdir())[-1]
    probe = camera_frame(probe_photo)
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-") as folder:
        settings = Settings().with_overrides(address="127.0.0.1:0", data_dir=folder, redis_url="")
        running = start(settings)
        try:
            client = Facegrid(f"127.0.0.1:{running.port}", timeout=60)
            client.enroll("bench-person", [enroll_photo])
            verify = percentiles(timed(lambda: client.verify("bench-person", probe), repeats))
            progress(f"verify end to end (640x480 JPEG, {len(probe) // 1024} KiB): {verify}")
            report = {"model": running.gate.model, "repeats": repeats, "verify_p50_ms": verify["p50_ms"],
                      "verify_p99_ms": verify["p99_ms"], "gallery": "one real person + synthetic unit vectors"}
            face = running.gate.pipeline.faces(probe)[0]
            for total in GALLERIES:
                fill_gallery(running, total)
                g = percentiles(timed(lambda: client.identify(probe), repeats))
                lib = percentiles(timed(lambda: running.gate.identify(probe), repeats))
                search = percentiles(timed(lambda: running.gate.subject_vectors.search(face.vector, 5), repeats))
                overhead = grpc_overhead(client, probe, repeats)["p50_ms"]
                answer = client.identify(probe)
                progress(f"identify at {total:>7,} subjects: gRPC {g}, library {lib}, search alone {search}, "
                         f"overhead {overhead} ms, answer {answer.subject}")
                key = f"{total // 1000}k"
                report[f"identify_{key}_p50_ms"] = g["p50_ms"]
                report[f"identify_{key}_p99_ms"] = g["p99_ms"]
                report[f"library_identify_{key}_p50_ms"] = lib["p50_ms"]
                report[f"search_{key}_p50_ms"] = search["p50_ms"]
                report[f"grpc_overhead_{key}_ms"] = overhead
            report["grpc_overhead_ms"] = report["grpc_overhead_100k_ms"]
            # The floor beside it: the same handler on a plain grpc server in this process (bench/rpc_overhead.py).
            report["bare_grpc_overhead_100k_ms"] = bare_overhead(running, probe, repeats)
            progress(f"gRPC overhead of the same handler on a bare grpc server: {report['bare_grpc_overhead_100k_ms']} ms")
            report["cores"] = os.cpu_count()
            client.close()
        finally:
            running.stop()
    if concurrency:
        report.update(_under_load(data, enroll_photo, probe, concurrency, streams, load_seconds, progress))
        from .auth import bench_auth

        auth = bench_auth(data, 300, progress)
        report.update(auth_tls_overhead_ms=auth["auth_tls_overhead_ms"], verify_tls_key_difference_ms=auth["verify_difference_ms"])
        from .cross_server import bench_cross_server

        cross = bench_cross_server(data, 20, progress=progress)
        report.update(cross_server_p50_ms=cross["cross_server_p50_ms"], cross_server_p99_ms=cross["cross_server_p99_ms"])
    return report


def _under_load(data, enroll_photo: Path, probe: bytes, concurrency: int, streams: int, seconds: float, progress) -> dict:
    """Verify from many callers, alone and beside bulk-index streams, against a server in its own process
    (in this process, the callers' threads would share the server's interpreter)."""
    photos = sorted((faces_dir(data) / "lfw").glob("*/*.jpg"))[:400]
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-load-") as folder:
        server = ServeProcess(Path(folder)).start()
        try:
            with Facegrid(server.address, timeout=60) as client:
                client.enroll("bench-person", [enroll_photo])
            return verify_under_load(lambda: Facegrid(server.address, timeout=60), "bench-person", probe, photos,
                                     concurrency, streams, seconds, progress=progress)
        finally:
            server.stop()
