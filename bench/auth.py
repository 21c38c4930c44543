"""`facegrid bench auth`: what API keys and TLS cost per call, against plaintext without keys, in the same run.

Starts two real servers in this process on loopback: one plaintext answering without keys
(loopback, no key made), one with TLS and a key required (a CA and server certificate made
with the `openssl` command). The same calls go to both, interleaved so that drift in the
machine's load falls on both alike: ListModels (a handler that does almost nothing, so the
difference is the key check, TLS and the metadata) and Verify of a real photo.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from facegrid.clients.sdk import TLS, Facegrid
from facegrid.evaluation.datasets import faces_dir
from facegrid.server.config import Settings
from facegrid.server.main import start

from .photos import camera_frame


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA and a certificate for localhost / 127.0.0.1 signed by it."""
    if shutil.which("openssl") is None:
        raise RuntimeError("bench auth needs the openssl command to make its test certificates")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *curve, "-days", "1", "-subj", "/CN=bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", "ca.key", "-out", "ca.crt")
    (folder / "server.ext").write_text("basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", *curve, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
            "-extfile", "server.ext", "-out", "server.crt")
    return {name: folder / name for name in ("ca.crt", "server.crt", "server.key")}


def _interleaved(plain, secured, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    plain(), secured()  # warm-up: connections, TLS handshake, caches
    a, b = [], []
    for i in range(repeats):
        # Each goes first every other time: a call right after the other server's may find the cores still busy.
        order = ((plain, a), (secured, b)) if i % 2 == 0 else ((secured, b), (plain, a))
        for call, samples in order:
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
    return np.array(a) * 1000, np.array(b) * 1000


def bench_auth(data: str | Path | None = None, repeats: int = 300, progress=print) -> dict:
    """Per-call cost of keys + TLS: the JSON object printed by `facegrid bench auth --json`."""
    people = faces_dir(data) / "face_recognition"
    enroll_photo = sorted((people / "biden").iterdir())[0]
    probe = camera_frame(sorted((people / "biden").iterdir())[-1])
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-auth-") as folder:
        folder = Path(folder)
        (folder / "pki").mkdir()
        pki = _certificates(folder / "pki")
        plain_server = start(Settings().with_overrides(address="127.0.0.1:0", data_dir=folder / "plain", redis_url=""))
        secured_server = start(Settings().with_overrides(address="127.0.0.1:0", data_dir=folder / "tls", redis_url="",
                                                         tls_cert=str(pki["server.crt"]), tls_key=str(pki["server.key"])))
        try:
            with Facegrid(f"127.0.0.1:{secured_server.port}", tls=TLS(ca=pki["ca.crt"]), timeout=60) as first:
                key = first.create_key("bench", ["gate", "enroll", "embed", "admin"]).key  # loopback, no key yet
            plain = Facegrid(f"127.0.0.1:{plain_server.port}", timeout=60)
            secured = Facegrid(f"127.0.0.1:{secured_server.port}", tls=TLS(ca=pki["ca.crt"]), api_key=key, timeout=60)
            for client in (plain, secured):
                client.enroll("bench-person", [enroll_photo])
            a, b = _interleaved(plain.models, secured.models, repeats)
            progress(f"ListModels p50: plaintext, no key {np.median(a):.3f} ms; TLS + key {np.median(b):.3f} ms")
            va, vb = _interleaved(lambda: plain.verify("bench-person", probe), lambda: secured.verify("bench-person", probe),
                                  max(repeats // 3, 20))
            progress(f"Verify p50: plaintext, no key {np.median(va):.2f} ms; TLS + key {np.median(vb):.2f} ms")
            plain.close()
            secured.close()
            return {
                "repeats": repeats,
                "list_models_plain_p50_ms": round(float(np.median(a)), 3),
                "list_models_tls_key_p50_ms": round(float(np.median(b)), 3),
                "auth_tls_overhead_ms": round(float(np.median(b) - np.median(a)), 3),
                "verify_plain_p50_ms": round(float(np.median(va)), 2),
                "verify_tls_key_p50_ms": round(float(np.median(vb)), 2),
                "verify_difference_ms": round(float(np.median(vb) - np.median(va)), 2),
            }
        finally:
            plain_server.stop()
            secured_server.stop()
