"""`facegrid bench gate --overhead-only`: the gRPC overhead per Identify beside its floor, in one short run.

The overhead is what `facegrid bench gate` reports: the client's time minus the handler's own (trailing metadata
`facegrid-server-ms`), per Identify of a 640x480 frame against a 1k gallery, server in this process. Here it is
measured in rounds, the ways below interleaved, so that a machine shared with other work weighs on all alike:

- `facegrid`: the server as it serves (metrics, the keyless-stream caps, malformed requests, the key check,
  admission; the audit entry queued for the background writer);
- `audit_at_once`: the same server with its background writer sending each entry as soon as it is queued (no
  linger), as it did before issue 24;
- `bare`: the floor: the same GateService handler on a plain grpc server in this process (bench/bare_grpc.py), none
  of facegrid's interceptors, no audit (the call gets an all-scopes caller, as the keyless server gives it). What
  remains there is gRPC's own: the 59 KiB request over loopback, the thread hand-offs, and the wake-ups after a
  ~50 ms handler on this machine.

Then an API key is made (keys are required from then on) and `facegrid` and `audit_at_once` run again with it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import grpc
import numpy as np

from facegrid.clients.sdk import Facegrid
from facegrid.evaluation.datasets import faces_dir
from facegrid.server.config import Settings
from facegrid.server.main import start
from facegrid.v1 import gate_pb2, gate_pb2_grpc

from .bare_grpc import bare_server, overhead_ms, p50
from .gate import fill_gallery
from .photos import camera_frame

GALLERY = 1_000


def bench_overhead(data: str | Path | None, repeats: int = 200, rounds: int = 4, progress=print) -> dict:
    """p50 overhead (ms) of each way, `repeats` Identify calls each, spread over `rounds` interleaved rounds."""
    people = faces_dir(data) / "face_recognition"
    enroll_photo, probe_photo = sorted((people / "biden").iterdir())[0], sorted((people / "biden").iterdir())[-1]
    request = gate_pb2.IdentifyRequest(photo=camera_frame(probe_photo))
    per_round = max(repeats // rounds, 5)
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-overhead-") as folder:
        running = start(Settings().with_overrides(address="127.0.0.1:0", data_dir=folder, redis_url=""))
        linger = running.background.linger_s
        bare = None
        try:
            bare, bare_port = bare_server(running)
            client = Facegrid(f"127.0.0.1:{running.port}", timeout=60)
            client.enroll("bench-person", [enroll_photo])
            fill_gallery(running, GALLERY)
            bare_channel = grpc.insecure_channel(f"127.0.0.1:{bare_port}")
            bare_identify = gate_pb2_grpc.GateServiceStub(bare_channel).Identify

            def ways(facegrid: Facegrid, suffix: str) -> dict[str, Callable[[], list[float]]]:
                def served(writer_linger: float) -> Callable[[], list[float]]:
                    def run() -> list[float]:
                        running.background.linger_s = writer_linger
                        return overhead_ms(facegrid._gate.Identify, request, facegrid.transport.metadata, per_round)
                    return run
                return {f"facegrid{suffix}": served(linger), f"audit_at_once{suffix}": served(0.0),
                        f"bare{suffix}": lambda: overhead_ms(bare_identify, request, None, per_round)}

            samples: dict[str, list[float]] = {}
            keyed = None
            for facegrid, suffix in ((client, ""), (None, "_key")):
                if facegrid is None:  # keys on: every call from here needs one
                    made = client.create_key("bench-overhead", ["gate", "enroll"])
                    facegrid = keyed = Facegrid(f"127.0.0.1:{running.port}", timeout=60, api_key=made.key)
                for number in range(rounds):
                    for name, run in ways(facegrid, suffix).items():
                        samples.setdefault(name, []).extend(run())
                    progress(f"round {number + 1}/{rounds}{' with a key' if suffix else ''}: " + ", ".join(
                        f"{name} p50 {p50(samples[name])} ms" for name in ways(facegrid, suffix)))
            for channel in (bare_channel, client, keyed):
                channel.close()
        finally:
            running.background.linger_s = linger
            if bare is not None:
                bare.stop(None)
            running.stop()
    report = {"gallery": GALLERY, "repeats": per_round * rounds, "rounds": rounds, "audit_linger_s": linger}
    for name, values in samples.items():
        report[f"{name}_overhead_p50_ms"] = p50(values)
        report[f"{name}_overhead_mean_ms"] = round(float(np.mean(values)), 2)
    for suffix in ("", "_key"):  # what the server adds to gRPC's own floor
        report[f"layer{suffix}_ms"] = round(report[f"facegrid{suffix}_overhead_p50_ms"] - report[f"bare{suffix}_overhead_p50_ms"], 2)
    return report
