"""The one Settings (server/config.py) as evaluation runs see it: they read no environment of their own."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facegrid.server.config import Settings


def configured_settings() -> Settings:
    """The settings of this process, read from the environment by server/config.py."""
    # Imported on use: the training code imports evaluation/ (its LFW embedding), and should not import server/ with it.
    from facegrid.server.config import Settings

    return Settings()


def configured_data_dir() -> Path:
    """The data directory (FACEGRID_DATA_DIR, else ~/.local/share/facegrid): caches of evaluation runs live under it."""
    return configured_settings().data_dir
