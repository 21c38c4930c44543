"""`facegrid bench keyless-streams`: Verify latency while 200 keyless streams are tried, against none, in one run.

Starts a real server in this process, listening on IPv4 and IPv6 loopback (two peer hosts, as two attackers),
enrolls one person, then alternates rounds: Verify of a camera frame alone, and Verify while 200 health Watch
streams with no key are opened (100 from each host; the caps keep a few, the rest are refused). The figure is
the ratio of the p99s; before the caps, 18 such streams made every Verify time out.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from facegrid.clients.sdk import Facegrid
from facegrid.evaluation.datasets import faces_dir
from facegrid.server.config import Settings
from facegrid.server.main import start

from .photos import camera_frame

STREAMS = 200


def _open_streams(port: int) -> tuple[list, list[grpc.Channel], int]:
    """200 Watch streams with no key, half from each loopback host; the streams, channels and how many stayed open."""
    channels = [grpc.insecure_channel(f"127.0.0.1:{port}"), grpc.insecure_channel(f"[::1]:{port}")]
    streams, kept = [], 0
    for i in range(STREAMS):
        stream = health_pb2_grpc.HealthStub(channels[i % 2]).Watch(health_pb2.HealthCheckRequest(service=""), timeout=600)
        streams.append(stream)
        try:
            next(stream)
            kept += 1
        except grpc.RpcError:
            pass  # refused: RESOURCE_EXHAUSTED beyond the caps
    return streams, channels, kept


def _verify_times(client: Facegrid, probe: bytes, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        client.verify("bench-person", probe)
        times.append((time.perf_counter() - started) * 1000)
    return times


def bench_keyless_streams(data: str | Path | None = None, calls: int = 60, rounds: int = 3, progress=print) -> dict:
    """The JSON object printed by `facegrid bench keyless-streams --json`."""
    people = faces_dir(data) / "face_recognition"
    pictures = sorted((people / "biden").iterdir())
    probe = camera_frame(pictures[-1])
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-streams-") as folder:
        running = start(Settings().with_overrides(address="[::]:0", data_dir=Path(folder), redis_url="", insecure=True))
        try:
            with Facegrid(f"127.0.0.1:{running.port}", timeout=60, retries=0) as client:
                client.enroll("bench-person", [pictures[0].read_bytes()])
                _verify_times(client, probe, 5)  # warm-up
                alone, beside, kept = [], [], 0
                for round_ in range(rounds):
                    alone += _verify_times(client, probe, calls)
                    streams, channels, kept = _open_streams(running.port)
                    beside += _verify_times(client, probe, calls)
                    for stream in streams:
                        stream.cancel()
                    for channel in channels:
                        channel.close()
                    progress(f"round {round_ + 1}/{rounds}: {kept} of {STREAMS} keyless streams kept open; "
                             f"Verify p99 {np.percentile(alone, 99):.1f} ms alone, {np.percentile(beside, 99):.1f} ms beside them")
        finally:
            running.stop()
    p99_alone, p99_beside = float(np.percentile(alone, 99)), float(np.percentile(beside, 99))
    return {
        "streams_tried": STREAMS,
        "streams_kept": kept,
        "verify_calls": len(alone),
        "verify_p50_alone_ms": round(float(np.median(alone)), 1),
        "verify_p50_beside_streams_ms": round(float(np.median(beside)), 1),
        "verify_p99_alone_ms": round(p99_alone, 1),
        "verify_p99_beside_streams_ms": round(p99_beside, 1),
        "p99_ratio": round(p99_beside / p99_alone, 3),
    }
