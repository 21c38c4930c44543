"""`facegrid bench roles`: what the split into encoder and index servers costs, and what failover keeps.

Latency: one `facegrid serve` (`--role all`) and an index server calling an encoder server on loopback
(`--role index --encoder ...`) run side by side with the same person enrolled; Verify calls go to the two in
turn (so load and noise fall on both alike), and the extra hop is the difference of the p50s. The probe is a
real photo resized to a 640x480 camera frame, as in `facegrid bench gate`.

Failover: two encoders behind one index server; LFW photos are bulk-indexed over one IndexPhotos stream and
one encoder is SIGKILLed once a third of them are in. The run must finish with every photo indexed once:
photos held against distinct photos sent (duplicates: held beyond that), failed photos, and the run's seconds.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from pathlib import Path


import numpy as np

from facegrid.clients.sdk import Facegrid, FacegridError
from facegrid.evaluation.datasets import faces_dir

from .photos import camera_frame, percentiles
from .serving import ServeProcess


def _encoder(folder: Path) -> ServeProcess:
    return ServeProcess(folder, args=["--role", "encoder"]).start()


def _index(folder: Path, *encoders: str) -> ServeProcess:
    return ServeProcess(folder, args=["--role", "index", "--encoder", ",".join(encoders)]).start()


def verify_latency(single: ServeProcess, split: ServeProcess, enroll: bytes, probe: bytes, repeats: int) -> dict:
    """Verify p50/p99 on the single process and through the split, calls interleaved; the hop at p50 and p99."""
    samples: dict[str, list[float]] = {"all": [], "split": []}
    clients = {"all": Facegrid(single.address, timeout=60), "split": Facegrid(split.address, timeout=60)}
    try:
        for client in clients.values():
            client.enroll("bench-person", [enroll])
            for _ in range(5):  # warm-up: first runs, connections
                client.verify("bench-person", probe)
        for _ in range(repeats):
            for name, client in clients.items():
                started = time.perf_counter()
                assert client.verify("bench-person", probe).match
                samples[name].append(time.perf_counter() - started)
    finally:
        for client in clients.values():
            client.close()
    single_ms, split_ms = percentiles(samples["all"]), percentiles(samples["split"])
    # Each split call against the single-process call just before it: both met the same moment's load, so the
    # median of these differences is steadier than the difference of two medians on a busy machine.
    paired = [b - a for a, b in zip(samples["all"], samples["split"])]
    return {"repeats": repeats, "all": single_ms, "split": split_ms,
            "hop_p50_ms": round(split_ms["p50_ms"] - single_ms["p50_ms"], 2),
            "hop_p99_ms": round(split_ms["p99_ms"] - single_ms["p99_ms"], 2),
            "hop_paired_median_ms": round(float(np.median(paired)) * 1000, 2)}


def embed_hop(encoder: ServeProcess, probe: bytes, repeats: int) -> dict:
    """The hop itself, as the index server makes it: an Embed (probe) call's time at the caller minus the
    encoder handler's own time (its trailing `facegrid-server-ms`): transport, (de)serialising, interceptors."""
    import grpc

    from facegrid.server.rpc.errors import SERVER_TIME_KEY
    from facegrid.v1 import encoder_pb2, encoder_pb2_grpc

    request = encoder_pb2.EmbedRequest(photo=probe, probe=True)
    with grpc.insecure_channel(encoder.address) as channel:
        stub = encoder_pb2_grpc.EncoderServiceStub(channel)
        overheads = []
        for attempt in range(repeats + 5):
            started = time.perf_counter()
            _, call = stub.Embed.with_call(request, timeout=60)
            total = time.perf_counter() - started
            if attempt >= 5:  # warm-up
                overheads.append(total - float(dict(call.trailing_metadata())[SERVER_TIME_KEY]) / 1000)
    return percentiles(overheads)


def failover_run(index: ServeProcess, doomed: ServeProcess, photos: list[tuple[str, bytes]], progress=print) -> dict:
    """Bulk-index `photos` through `index`; SIGKILL `doomed` once a third are in. What was held at the end."""
    results, failure = [], []

    def run() -> None:
        try:
            with Facegrid(index.address, timeout=300) as client:
                results.extend(client.index_photos(photos, "failover"))
        except FacegridError as error:
            failure.append(str(error))

    started = time.perf_counter()
    indexing = threading.Thread(target=run)
    indexing.start()
    held_at_kill = 0
    with Facegrid(index.address, timeout=30) as client:
        while indexing.is_alive():
            try:
                held_at_kill = client.stats("failover").photos
            except FacegridError:
                held_at_kill = 0
            if held_at_kill >= len(photos) // 3:
                break
            time.sleep(0.05)
        doomed.kill()
        killed_at = time.perf_counter() - started
        progress(f"  encoder {doomed.address} killed after {killed_at:.1f} s, {held_at_kill} photos in")
        indexing.join()
        seconds = time.perf_counter() - started
        stats = client.stats("failover")
    distinct = len({hashlib.sha256(data).hexdigest() for _, data in photos})
    return {"photos_sent": len(photos), "distinct_photos": distinct, "photos_indexed": stats.photos,
            "duplicates": stats.photos - distinct + sum(r.already_indexed for r in results),
            "failed": sum(bool(r.error) for r in results) + len(failure), "faces": stats.faces,
            "faces_reported": sum(r.faces for r in results), "held_at_kill": held_at_kill,
            "killed_after_s": round(killed_at, 2), "seconds": round(seconds, 2),
            "photos_per_s": round(len(photos) / seconds, 1)}


def bench_roles(data: str | Path | None, repeats: int = 200, photos: int = 300, progress=print) -> dict:
    """Verify through the split against the single process, and a bulk-index run with an encoder killed."""
    folder = faces_dir(data)
    people = folder / "lfw"
    person = sorted(p for p in people.iterdir() if p.is_dir() and len(list(p.iterdir())) >= 2)[0]
    enroll_photo, probe_photo = sorted(person.iterdir())[:2]
    probe = camera_frame(probe_photo)
    lfw = [(str(p), p.read_bytes()) for p in sorted(people.rglob("*.jpg"))[:photos]]
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-roles-") as scratch:
        root = Path(scratch)
        started = []
        try:
            single = ServeProcess(root / "all").start()
            started.append(single)
            encoder = _encoder(root / "encoder")
            started.append(encoder)
            split = _index(root / "index", encoder.address)
            started.append(split)
            progress(f"verify: {repeats} calls each, single process {single.address} and index {split.address} -> "
                     f"encoder {encoder.address}, interleaved")
            report["verify"] = verify_latency(single, split, enroll_photo.read_bytes(), probe, repeats)
            v = report["verify"]
            v["embed_call_overhead"] = embed_hop(encoder, probe, repeats)
            progress(f"  all: p50 {v['all']['p50_ms']} ms, p99 {v['all']['p99_ms']} ms; split: p50 {v['split']['p50_ms']} ms, "
                     f"p99 {v['split']['p99_ms']} ms; hop {v['hop_p50_ms']} ms at p50 "
                     f"(paired median {v['hop_paired_median_ms']} ms); "
                     f"the Embed call's own overhead p50 {v['embed_call_overhead']['p50_ms']} ms")
            single.stop()
            split.stop()
            doomed = _encoder(root / "doomed")
            started.append(doomed)
            index = _index(root / "index-failover", doomed.address, encoder.address)
            started.append(index)
            progress(f"failover: {len(lfw)} LFW photos over one stream, encoders {doomed.address} (killed) and {encoder.address}")
            report["failover"] = failover_run(index, doomed, lfw, progress)
            f = report["failover"]
            progress(f"  {f['photos_indexed']} of {f['distinct_photos']} photos indexed, {f['duplicates']} duplicates, "
                     f"{f['failed']} failed, {f['seconds']} s ({f['photos_per_s']} photos/s)")
        finally:
            for server in started:
                server.kill()
    report["hop_p50_ms"] = report["verify"]["hop_p50_ms"]
    report["target_hop_ms"] = 2.0
    report["hop_within_target"] = bool(report["hop_p50_ms"] <= 2.0)
    report["every_photo_once"] = bool(report["failover"]["photos_indexed"] == report["failover"]["distinct_photos"]
                                      and report["failover"]["duplicates"] == 0 and report["failover"]["failed"] == 0)
    return report
