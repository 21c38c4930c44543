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


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """../shared/data/faces; the test is skipped with the reason when it is absent (a user's clone)."""
    try:
        return find_faces_dir()
    except DatasetMissing as missing:
        pytest.skip(f"real face photos not available: {missing}")


def read(path: Path) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture(scope="session")
def fused_pipeline():
    """The default pipeline: cascade detector and the fused model."""
    from facegrid.encoder.pipeline import FacePipeline

    return FacePipeline()
