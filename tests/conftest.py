"""Shared fixtures: the evaluation photos (skipped with a reason where absent) and a data directory per run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Converted models and cached evaluation vectors go to one folder for the whole run
# (FACEGRID_DATA_DIR, if the caller set one, is kept: CI points it at a run-local folder).
os.environ.setdefault("FACEGRID_DATA_DIR", tempfile.mkdtemp(prefix="facegrid-test-"))
# Every test server (each with its own data directory) shares the run's converted-model cache.
os.environ.setdefault("FACEGRID_CACHE_DIR", os.path.join(os.environ["FACEGRID_DATA_DIR"], "cache"))

from facegrid.evaluation.datasets import DatasetMissing, faces_dir as find_faces_dir  # noqa: E402

from helpers import RedisServer, ServerProcess  # noqa: E402,F401 - re-exported: tests import it from here too


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


@pytest.fixture
def external_redis(tmp_path):
    """A running redis-server for this test (skipped with the reason where none is installed)."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()
