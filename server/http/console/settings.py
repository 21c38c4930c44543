"""What the console is told by the server's settings (server/config.py reads the environment; this does not)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsoleSettings:
    """The console's own settings."""

    silent_door_min: float = 15.0  # a door open by its hours with no Pass this long is shown as silent (FACEGRID_DOOR_SILENT_MIN)
