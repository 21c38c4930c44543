"""`facegrid bench sigkill`: clients enroll and bulk-index while the server is SIGKILLed at random moments.

Four clients enroll subjects (one real LFW photo each) and one streams LFW photos into a
collection, while the server (embedded Redis, AOF fsync always) is SIGKILLed `kills` times
at random moments and restarted. A call counts as acknowledged when the client got its
answer; unanswered calls are retried (Enroll is idempotent by photo hash, indexing resumes by
content hash). After every restart, before clients resume, the server's FAISS counts (from its
metrics) are compared with Redis. At the end every acknowledged enrollment and photo must be
present exactly once. Prints {"kills", "acknowledged", "lost", "duplicates", "faiss_equals_redis"}.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import threading
import time
from pathlib import Path

import redis

from facegrid.clients.sdk import Facegrid, FacegridError
from facegrid.evaluation.datasets import lfw_dir
from facegrid.server.store.embedded_redis import EmbeddedRedis

from .serving import ServeProcess

COLLECTION = "bulk"


def _redis_counts(client: redis.Redis) -> dict[str, int]:
    """Subjects and faces of COLLECTION as Redis holds them (the system of record)."""
    faces = sum(len(json.loads(v)["faces"]) for v in client.hvals(f"{{fg:c:{COLLECTION}}}:photos"))
    return {"subjects": int(client.zcard("{fg}:subjects")), f"collection:{COLLECTION}": faces}


def sigkill_loop(kills: int = 20, data: str | None = None, enrollers: int = 4, seed: int = 1, progress=print) -> dict:
    """Run the loop; the report."""
    rng = random.Random(seed)
    people = sorted(p for p in lfw_dir(data).iterdir() if p.is_dir())
    rng.shuffle(people)
    enroll_photos = [sorted(p.glob("*.jpg"))[0] for p in people[:2000]]
    index_photos = [photo for p in people[2000:2600] for photo in sorted(p.glob("*.jpg"))]
    data_dir = Path(tempfile.mkdtemp(prefix="facegrid-sigkill-"))
    server = ServeProcess(data_dir).start()
    store = redis.Redis.from_url(EmbeddedRedis(data_dir / "redis").url)
    address = {"now": server.address}
    running = threading.Event()
    running.set()
    stop = threading.Event()
    acked_enrollments: dict[str, str] = {}  # subject -> photo sha256 acknowledged
    acked_photos: set[str] = set()
    refused = 0
    lock = threading.Lock()

    def client() -> Facegrid:
        running.wait()
        return Facegrid(address["now"], timeout=30, retries=0)

    def enroller(number: int) -> None:
        nonlocal refused
        for index in range(number, len(enroll_photos), enrollers):
            if stop.is_set():
                return
            subject = f"c{number}-{index}"
            photo = enroll_photos[index].read_bytes()
            while not stop.is_set():
                try:
                    with client() as gate:
                        gate.enroll(subject, [photo])
                    with lock:
                        acked_enrollments[subject] = hashlib.sha256(photo).hexdigest()
                    break
                except FacegridError as error:
                    if error.code.name == "FAILED_PRECONDITION":  # no usable face: not an enrollment
                        refused += 1
                        break
                    time.sleep(0.2)  # the server is down or restarting: retry the same call

    def indexer() -> None:
        remaining = list(index_photos)
        while remaining and not stop.is_set():
            try:
                with client() as library:
                    for result in library.index_photos(((str(p), p.read_bytes()) for p in list(remaining)), COLLECTION):
                        remaining = [p for p in remaining if str(p) != result.path]
                        if not result.error:
                            with lock:
                                acked_photos.add(result.photo_sha256)
                        if stop.is_set():
                            return
            except FacegridError:
                time.sleep(0.2)

    threads = [threading.Thread(target=enroller, args=(n,), daemon=True) for n in range(enrollers)]
    threads.append(threading.Thread(target=indexer, daemon=True))
    for thread in threads:
        thread.start()
    checks = []
    for kill in range(kills):
        time.sleep(rng.uniform(2.0, 8.0))  # some kills land while worker processes start, some mid-batch
        running.clear()  # clients wait before their next call; calls in flight die with the server
        server.kill()
        server = ServeProcess(data_dir).start()
        address["now"] = server.address
        faiss, stored = server.vectors(), _redis_counts(store)
        checks.append({k: (faiss.get(k, 0), v) for k, v in stored.items()})
        progress(f"kill {kill + 1}/{kills}: {len(acked_enrollments)} enrollments, {len(acked_photos)} photos acknowledged; "
                 f"FAISS vs Redis {checks[-1]}")
        running.set()
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    lost, duplicates = [], 0
    with Facegrid(server.address, timeout=60) as final:
        for subject, digest in sorted(acked_enrollments.items()):
            try:
                hashes = [t.photo_sha256 for t in final.subject(subject).templates]
            except FacegridError:
                lost.append(subject)
                continue
            duplicates += len(hashes) - len(set(hashes))
            if hashes.count(digest) != 1:
                lost.append(subject)
        known = final.known_photos(sorted(acked_photos), COLLECTION) if acked_photos else set()
        lost += sorted(acked_photos - known)
        faiss, stored = server.vectors(), _redis_counts(store)
        checks.append({k: (faiss.get(k, 0), v) for k, v in stored.items()})
    server.stop()
    return {
        "kills": kills,
        "acknowledged": len(acked_enrollments) + len(acked_photos),
        "acknowledged_enrollments": len(acked_enrollments),
        "acknowledged_photos": len(acked_photos),
        "refused_photos": refused,
        "lost": len(lost),
        "lost_examples": lost[:10],
        "duplicates": duplicates,
        "faiss_equals_redis": all(a == b for check in checks for a, b in check.values()),
    }
