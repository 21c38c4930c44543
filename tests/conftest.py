"""Shared fixtures: the evaluation photos (skipped with a reason where absent) and a data directory per run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Converted models and cached evaluation vectors go to one folder for the whole run
# (FACEGRID_DATA_DIR, if the caller set one, is kept: CI points it at a run-local folder).
os.environ.setdefault("FACEGRID_DATA_DIR", tempfile.mkdtemp(prefix="facegrid-test-"))

from facegrid.evaluation.datasets import DatasetMissing, faces_dir as find_faces_dir  # noqa: E402


def faces_dir_or_skip() -> Path:
    """../shared/data/faces; the calling test is skipped with the reason when it is absent (a user's clone)."""
    try:
        return find_faces_dir()
    except DatasetMissing as missing:
        pytest.skip(f"real face photos not available: {missing}")


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """../shared/data/faces, or a skip with the reason."""
    return faces_dir_or_skip()


def read(path: Path) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture(scope="session")
def fused_pipeline():
    """The default pipeline: cascade detector and the fused model."""
    from facegrid.encoder.pipeline import FacePipeline

    return FacePipeline()


class ServerProcess:
    """A real `facegrid serve` in its own process, on an ephemeral port, with its own data directory.

    `args`: more `facegrid serve` flags (an `--address` among them replaces 127.0.0.1:0).
    """

    def __init__(self, data_dir: Path, env: dict | None = None, args: list[str] | tuple = ()) -> None:
        self.data_dir = Path(data_dir)
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)
        self.process = None
        self.address = None

    def start(self, timeout: float = 120.0) -> "ServerProcess":
        import subprocess
        import sys
        import time

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facegrid.clients.cli", "serve", *([] if "--address" in self.args else ["--address", "127.0.0.1:0"]),
             "--data-dir", str(self.data_dir), *self.args],
            stdout=subprocess.PIPE,
            stderr=log,
            env=self.env,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("facegrid serving on "):
                self.address = line.split()[3]
                return self
            if not line and self.process.poll() is not None:
                break
        self.kill()
        raise RuntimeError("server did not start:\n" + (self.data_dir / "server.log").read_text()[-3000:])

    @property
    def local_address(self) -> str:
        """The address to call from this machine (127.0.0.1 for a server listening on every interface)."""
        host, port = self.address.rsplit(":", 1)
        return f"127.0.0.1:{port}" if host in ("0.0.0.0", "[::]") else self.address

    def client(self, **options):
        from facegrid.clients.sdk import Facegrid

        return Facegrid(self.local_address, **options)

    def stop(self) -> int:
        """SIGTERM: graceful shutdown."""
        self.process.terminate()
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def server_factory(tmp_path):
    """Start servers in this test's folder; every one still running is killed afterwards."""
    started: list[ServerProcess] = []

    def make(data_dir: Path | None = None, env: dict | None = None) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / "data", env).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()
