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
    """A real `facegrid serve` in its own process, on an ephemeral port, with its own data directory."""

    def __init__(self, data_dir: Path, env: dict | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.env = {**os.environ, **(env or {})}
        self.process = None
        self.address = None

    def start(self, timeout: float = 120.0) -> "ServerProcess":
        import subprocess
        import sys
        import time

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facegrid.clients.cli", "serve", "--address", "127.0.0.1:0", "--data-dir", str(self.data_dir)],
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

    def client(self, **options):
        from facegrid.clients.sdk import Facegrid

        return Facegrid(self.address, **options)

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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real `redis-server` on a free loopback port with AOF in its own folder; can be killed and restarted."""

    def __init__(self, folder: Path, *extra: str) -> None:
        import shutil

        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed (CI installs it: apt-get install redis-server)")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.extra = list(extra)
        self.process = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self):
        """A client without retries (redis-py's default retries hide a dead or loading Redis for seconds)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(port=self.port, socket_timeout=10, password=self.password, retry=Retry(NoBackoff(), 0))

    @property
    def password(self) -> str | None:
        return self.extra[self.extra.index("--requirepass") + 1] if "--requirepass" in self.extra else None

    def start(self, wait: bool = True) -> "RedisServer":
        import subprocess
        import time

        import redis

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = self.client()
        for _ in range(200 if wait else 0):
            try:
                client.ping()
                break
            except redis.BusyLoadingError:
                break  # answering, still loading: the caller waits if it wants to
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: Redis gets no chance to clean up (every acknowledged write is in the AOF)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def external_redis(tmp_path):
    """A running redis-server for this test (skipped with the reason where none is installed)."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()
