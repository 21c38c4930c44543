"""Milvus catch-up after an outage: re-reading the writes that missed Milvus, against refilling the collection.

Starts a milvus-lite server and a real `facegrid serve` on it (embedded Redis), fills a plain-vector collection
with `vectors` unit vectors, then, in one run:

1. Milvus is killed, `missed` vectors are added (Redis keeps them, Milvus cannot: UNAVAILABLE), Milvus is
   started again: the server's catch-up re-reads just those ids from Redis.
2. The baseline: Milvus is killed, its data folder deleted, and started again: the catch-up refills the whole
   collection from Redis, which is what every outage cost before the catch-up kept the missed ids.

Both durations come from the server's own log line ("caught up from Redis, N vectors set again (X ms)"), and
`visible_s` is how long after Milvus answered a search first found the missed vectors.

    facegrid bench catch-up [--vectors 100000] [--missed 100] [--json]
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from facegrid.clients.sdk import Facegrid, FacegridError

from .serving import ServeProcess

COLLECTION = "catch-up"
BATCH = 5000  # vectors per AddVectors call while filling
_CAUGHT_UP = re.compile(r"caught up from Redis, (\d+) vectors set again \((\d+) ms\)")


def _caught_up_lines(log: Path, after: int) -> list[tuple[int, float]]:
    """(vectors set, ms) of each catch-up logged past byte `after` of the server's log."""
    text = log.read_bytes()[after:].decode(errors="replace")
    return [(int(m.group(1)), float(m.group(2))) for m in _CAUGHT_UP.finditer(text)]


def _wait_caught_up(log: Path, after: int, timeout: float = 600.0) -> tuple[int, float]:
    deadline = time.monotonic() + timeout
    while not (found := _caught_up_lines(log, after)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no catch-up logged within {timeout:.0f} s; see {log}")
        time.sleep(0.05)
    return found[-1]


def _until_found(client, vector: np.ndarray, vector_id: int, timeout: float = 600.0) -> float:
    """Seconds until a search by `vector` finds `vector_id` first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if client.search(vector=vector, k=1, collection=COLLECTION).queries[0].hits[0].vector_id == vector_id:
                return time.monotonic() - started
        except FacegridError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"vector {vector_id} not found within {timeout:.0f} s")


def bench_catch_up(vectors: int = 100_000, missed: int = 100, dim: int = 128, progress=print) -> dict:
    """Time Milvus's catch-up of the missed writes after an outage against refilling it whole (the module's figures)."""
    from facegrid.index.milvus_server import MilvusLiteServer

    rng = np.random.default_rng(0)
    stored = rng.standard_normal((vectors + missed, dim)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    folder = Path(tempfile.mkdtemp(prefix="facegrid-catch-up-"))
    milvus = MilvusLiteServer(folder / "milvus")
    server = None
    try:
        milvus.start()
        env = {"FACEGRID_VECTOR_ENGINE": "milvus", "FACEGRID_MILVUS_URI": milvus.uri}
        server = ServeProcess(folder / "server", env).start()
        log = server.data_dir / "server.log"
        with Facegrid(server.address, timeout=120, retries=0) as client:
            client.create_collection(COLLECTION, dim)
            started = time.monotonic()
            for start in range(0, vectors, BATCH):
                end = min(start + BATCH, vectors)
                client.add_vectors(COLLECTION, range(start, end), stored[start:end])
            progress(f"{vectors} vectors stored through the server in {time.monotonic() - started:.1f} s")

            milvus.kill()  # 1. the missed writes alone
            try:
                client.add_vectors(COLLECTION, range(vectors, vectors + missed), stored[vectors:])
                raise RuntimeError("an add with Milvus down was acknowledged")
            except FacegridError:
                pass  # UNAVAILABLE: Redis holds them
            mark = log.stat().st_size
            milvus.start()
            visible = _until_found(client, stored[-1], vectors + missed - 1)
            set_again, catch_up_ms = _wait_caught_up(log, mark)
            progress(f"catch-up: {set_again} vectors set again in {catch_up_ms:.0f} ms; found after {visible:.2f} s")

            milvus.kill()  # 2. the baseline: Milvus back without its data, refilled whole
            shutil.rmtree(milvus.folder / "data")
            mark = log.stat().st_size
            milvus.start()
            refill_visible = _until_found(client, stored[7], 7)
            _, refill_ms = _wait_caught_up(log, mark)
            count = client.stats(COLLECTION).vectors
            progress(f"refill of all {count} vectors: {refill_ms:.0f} ms; found after {refill_visible:.2f} s")
        return {"vectors": vectors, "missed": missed, "dim": dim,
                "catch_up": {"vectors_set": set_again, "ms": catch_up_ms, "visible_s": round(visible, 2)},
                "refill": {"vectors": count, "ms": refill_ms, "visible_s": round(refill_visible, 2)},
                "refill_over_catch_up": round(refill_ms / max(catch_up_ms, 1.0), 1)}
    finally:
        if server is not None:
            server.kill()
        milvus.kill()
        shutil.rmtree(folder, ignore_errors=True)

