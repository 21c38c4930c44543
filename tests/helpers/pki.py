"""Certificates for TLS tests, made by openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def make_test_pki(folder: Path) -> Path:
    """A CA (ca.pem) with a server certificate for 127.0.0.1 / localhost (server.pem, server.key) and a client
    certificate (client.pem, client.key), made by `openssl` (skipped where it is not installed)."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificates to test with")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=facegrid test CA")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=facegrid test {name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return folder
