"""Shared fixtures: the evaluation photos (skipped with a reason where absent) and a data directory per run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from helpers import RedisServer, ServerProcess, faces_dir_or_skip


def pytest_configure(config) -> None:
    """One data folder for the run, set before any test module is imported (not when this file is)."""
    # What reads Settings (server/config.py) puts its data there for the whole run: the `facegrid` commands the tests
    # run, cached evaluation vectors, training checkpoints (FACEGRID_DATA_DIR, if the caller set one, is kept: CI
    # points it at a run-local folder). The encoder library used in this process without Settings keeps its default
    # folders (converted graphs of shipped weights, keyed by their digest, under ~/.local/share/facegrid/cache).
    os.environ.setdefault("FACEGRID_DATA_DIR", tempfile.mkdtemp(prefix="facegrid-test-"))
    # Every test server (each with its own data directory) shares the run's converted-model cache.
    os.environ.setdefault("FACEGRID_CACHE_DIR", os.path.join(os.environ["FACEGRID_DATA_DIR"], "cache"))


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


# ---- model folders made by our importers, once per run (torch and open_clip only at import) --------------------

CLIP_TEST_ARCH = "ViT-S-32"  # open_clip's smallest built-in ViT: a real architecture, random weights
RESNET_TEST_ARCH = "resnet18"  # torchvision's; resnet50 imports the same way


@pytest.fixture(scope="session")
def clip_checkpoint(tmp_path_factory) -> Path:
    """An open_clip state dict checkpoint (random ViT-S-32, open_clip's training-checkpoint wrapping)."""
    pytest.importorskip("open_clip", reason="open_clip_torch is not installed (pip install 'facegrid[import]')")
    from helpers import save_openclip_state_dict

    path = tmp_path_factory.mktemp("checkpoints") / "vit-s-32.pt"
    save_openclip_state_dict(CLIP_TEST_ARCH, path)
    return path


@pytest.fixture(scope="session")
def clip_model_dir(clip_checkpoint, tmp_path_factory) -> Path:
    """The folder `import_openclip` made of `clip_checkpoint`; alone in its models directory (its parent)."""
    from facegrid.encoder.importers import import_openclip

    return import_openclip(CLIP_TEST_ARCH, clip_checkpoint, tmp_path_factory.mktemp("clip-models"))


@pytest.fixture(scope="session")
def models_dir(clip_model_dir) -> Path:
    """A models directory holding the imported CLIP model only. Read-only: copy it to change anything."""
    return clip_model_dir.parent


@pytest.fixture(scope="session")
def resnet_checkpoint(tmp_path_factory) -> Path:
    """A torchvision resnet18 state dict (random weights, classifier included)."""
    pytest.importorskip("torchvision", reason="torchvision is not installed (pip install 'facegrid[import]')")
    from helpers import save_torchvision_state_dict

    path = tmp_path_factory.mktemp("checkpoints") / "resnet18.pth"
    save_torchvision_state_dict(RESNET_TEST_ARCH, path, style="full")
    return path


@pytest.fixture(scope="session")
def resnet_model_dir(resnet_checkpoint, tmp_path_factory) -> Path:
    """The image-only folder `import_torchvision` made of `resnet_checkpoint`; alone in its models directory."""
    from facegrid.encoder.importers import import_torchvision

    return import_torchvision(RESNET_TEST_ARCH, resnet_checkpoint, tmp_path_factory.mktemp("resnet-models"))


# ---- a real Milvus server (milvus-lite's gRPC server on loopback), once per run ----------------------------------

class ExternalMilvus:
    """A Milvus server the run was pointed at with FACEGRID_TEST_MILVUS_URI (a standalone Milvus): used, never killed."""

    killable = False

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def kill(self) -> None:
        pytest.skip("the tests do not kill an external Milvus (FACEGRID_TEST_MILVUS_URI)")


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A running MilvusLiteServer for the whole run (skipped with the reason where milvus-lite cannot start), or the
    Milvus at FACEGRID_TEST_MILVUS_URI where that is set.

    Tests that kill it start it again before they end (same port), so the next test finds it running."""
    pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'facegrid[cpu,milvus]')")
    if os.environ.get("FACEGRID_TEST_MILVUS_URI"):
        yield ExternalMilvus(os.environ["FACEGRID_TEST_MILVUS_URI"])
        return
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'facegrid[cpu,milvus]')")
    from facegrid.index.errors import EngineUnavailable
    from facegrid.index.milvus_server import MilvusLiteServer

    server = MilvusLiteServer(tmp_path_factory.mktemp("milvus"))
    try:
        server.start()
    except EngineUnavailable as failed:
        pytest.skip(f"milvus-lite could not start a server here: {failed}")
    yield server
    server.stop()
