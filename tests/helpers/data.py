"""The real photos and recordings of ../shared/data; the calling test is skipped with the reason where absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def faces_dir_or_skip() -> Path:
    """../shared/data/faces (or FACEGRID_FACES_DIR); the calling test is skipped with the reason when it is absent."""
    from facegrid.evaluation.datasets import DatasetMissing, faces_dir

    try:
        return faces_dir()
    except DatasetMissing as missing:
        pytest.skip(f"real face photos not available: {missing}")


def pad_video(relative: str) -> Path:
    """One video of ../shared/data/pad, e.g. 'videos_apfol/live/real2.webm' (skipped where absent)."""
    path = _pad_dir() / relative
    if not path.is_file():
        pytest.skip(f"{path} is not available here")
    return path


def _pad_dir() -> Path:
    # Found without evaluation/ (and so without the server's settings): the door client's tests stay as light as it is.
    for candidate in (REPO.parent / "shared" / "data" / "pad", Path.cwd().parent / "shared" / "data" / "pad"):
        if candidate.is_dir():
            return candidate
    pytest.skip("the real door videos (../shared/data/pad) are not available here")
