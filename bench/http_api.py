"""`facegrid bench http`: what the REST API costs per call against gRPC, on the same server in the same run.

Starts one real server in this process on loopback with both listeners (gRPC and `--http`), one key for both, and
one person enrolled. The same calls go over both transports, interleaved (the order reversed every other round) so
that drift in the machine's load falls on all alike: Verify of a real photo resized to a 640x480 camera frame, and
ListModels against GET /v1/models (a handler that does almost nothing, so the difference is the transport alone).

gRPC is called with the SDK; HTTP with a lean client (the standard library's http.client on one kept-alive
connection, the form encoded per call), which measures the HTTP path itself, and with `requests` (session, files=),
whose own work in the client (about 1.5 ms a call on this machine, 3 ms for a multipart photo) is reported apart.
The issue's target: HTTP's Verify p50 no more than 2 ms over gRPC's.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from facegrid.clients.sdk import Facegrid
from facegrid.evaluation.datasets import faces_dir
from facegrid.server.config import Settings
from facegrid.server.main import start

from .photos import camera_frame

TARGET_MS = 2.0  # HTTP's Verify p50 over gRPC's, at most


def interleaved(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, np.ndarray]:
    """Milliseconds of `repeats` calls of each, in turn (the order reversed every other round), after a warm-up call
    of each."""
    for call in calls.values():
        call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(repeats):
        for name, call in (list(calls.items()) if i % 2 == 0 else list(reversed(calls.items()))):
            started = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - started)
    return {name: np.array(values) * 1000 for name, values in samples.items()}


class PlainHttp:
    """A lean HTTP/1.1 client (the standard library's, one kept-alive connection): what the transport itself costs,
    without a heavy client's own work."""

    BOUNDARY = "facegrid-bench-boundary"

    def __init__(self, port: int, key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.key = key

    def call(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> bytes:
        """The answer's body (RuntimeError for a status other than 200)."""
        headers = {"Authorization": f"Bearer {self.key}"}
        if content_type:
            headers["Content-Type"] = content_type
        self.connection.request(method, path, body=body or None, headers=headers)
        answer = self.connection.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:200]!r}")
        return data

    def verify(self, subject_id: str, photo: bytes) -> dict:
        """POST /v1/verify with the form encoded here, as any client encodes it per call."""
        b = self.BOUNDARY
        body = (f'--{b}\r\nContent-Disposition: form-data; name="subject_id"\r\n\r\n{subject_id}\r\n--{b}\r\n'
                f'Content-Disposition: form-data; name="photo"; filename="probe.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
                ).encode() + photo + f"\r\n--{b}--\r\n".encode()
        return json.loads(self.call("POST", "/v1/verify", body, f"multipart/form-data; boundary={b}"))

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class RequestsClient:
    """`requests` (a session, the photo sent with files=), as most Python callers send it; where it is installed."""

    @staticmethod
    def installed() -> bool:
        """Whether `requests` can be imported (the test extra has it; the server install need not)."""
        return importlib.util.find_spec("requests") is not None

    def __init__(self, port: int, key: str) -> None:
        import requests

        self.url = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def verify(self, subject_id: str, photo: bytes) -> dict:
        """POST /v1/verify."""
        answer = self.session.post(self.url + "/v1/verify", data={"subject_id": subject_id},
                                   files={"photo": ("probe.jpg", photo, "image/jpeg")}, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def models(self) -> dict:
        """GET /v1/models."""
        answer = self.session.get(self.url + "/v1/models", timeout=60)
        answer.raise_for_status()
        return answer.json()

    def close(self) -> None:
        """Close the session."""
        self.session.close()


def _figures(name: str, grpc_ms: np.ndarray, http_ms: np.ndarray) -> dict:
    """p50 and p99 of each, p50 against p50 (the issue's measure), and the median of the differences of the calls made
    side by side in one round (steadier where the machine is shared: a round's load falls on both)."""
    paired = http_ms - grpc_ms
    return {f"{name}_grpc_p50_ms": round(float(np.median(grpc_ms)), 2),
            f"{name}_grpc_p99_ms": round(float(np.percentile(grpc_ms, 99)), 2),
            f"{name}_http_p50_ms": round(float(np.median(http_ms)), 2),
            f"{name}_http_p99_ms": round(float(np.percentile(http_ms, 99)), 2),
            f"{name}_difference_p50_ms": round(float(np.median(http_ms) - np.median(grpc_ms)), 2),
            f"{name}_paired_difference_median_ms": round(float(np.median(paired)), 2),
            f"{name}_paired_difference_iqr_ms": [round(float(np.percentile(paired, 25)), 2),
                                                 round(float(np.percentile(paired, 75)), 2)]}


def bench_http(data: str | Path | None = None, repeats: int = 300, progress=print) -> dict:
    """Verify and ListModels over HTTP against gRPC: the JSON object printed by `facegrid bench http --json`."""
    people = faces_dir(data) / "face_recognition"
    enroll_photo = sorted((people / "biden").iterdir())[0]
    probe = camera_frame(sorted((people / "biden").iterdir())[-1])
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-http-") as folder:
        running = start(Settings().with_overrides(address="127.0.0.1:0", http_address="127.0.0.1:0", data_dir=Path(folder),
                                                  redis_url=""))
        try:
            with Facegrid(f"127.0.0.1:{running.port}", timeout=60) as first:
                key = first.create_key("bench", ["gate", "enroll", "embed", "admin"]).key  # loopback, no key yet
            client = Facegrid(f"127.0.0.1:{running.port}", api_key=key, timeout=60)
            client.enroll("bench-person", [enroll_photo])
            plain = PlainHttp(running.http.port, key)
            with_requests = RequestsClient(running.http.port, key) if RequestsClient.installed() else None
            over_grpc = client.verify("bench-person", probe)
            same = all(over_grpc.match == answer["match"] and abs(over_grpc.score - answer["decision"]["score"]) < 1e-6
                       for answer in [plain.verify("bench-person", probe)]
                       + ([with_requests.verify("bench-person", probe)] if with_requests else []))
            models_calls = {"grpc": client.models, "http": lambda: plain.call("GET", "/v1/models")}
            verify_calls = {"grpc": lambda: client.verify("bench-person", probe), "http": lambda: plain.verify("bench-person", probe)}
            if with_requests is not None:
                models_calls["requests"] = with_requests.models
                verify_calls["requests"] = lambda: with_requests.verify("bench-person", probe)
            models = interleaved(models_calls, repeats)
            progress("ListModels p50: " + "; ".join(f"{k} {np.median(v):.2f} ms" for k, v in models.items()))
            verify = interleaved(verify_calls, repeats)
            progress("Verify p50: " + "; ".join(f"{k} {np.median(v):.2f} ms" for k, v in verify.items()))
            client.close()
            plain.close()
            report = {"repeats": repeats, "probe_bytes": len(probe), "same_answer": bool(same),
                      **_figures("verify", verify["grpc"], verify["http"]), **_figures("list_models", models["grpc"], models["http"])}
            if with_requests is not None:
                with_requests.close()
                report.update(verify_requests_p50_ms=round(float(np.median(verify["requests"])), 2),
                              verify_requests_difference_p50_ms=round(float(np.median(verify["requests"]) - np.median(verify["grpc"])), 2),
                              list_models_requests_p50_ms=round(float(np.median(models["requests"])), 2))
            report["target_ms"] = TARGET_MS
            report["within_target"] = report["verify_difference_p50_ms"] <= TARGET_MS
            return report
        finally:
            running.stop()
