"""FACEGRID_LIVENESS: what a door's Pass does with liveness (a module of its own: Settings reads it, and it is light)."""

from __future__ import annotations

from enum import Enum


class LivenessMode(str, Enum):
    """What Pass does with liveness."""

    REQUIRE = "require"  # scored; an attack, an uncertain burst or a failed challenge denies; refused without a model
    REPORT = "report"  # scored and answered; never denies
    OFF = "off"  # not scored (NOT_CHECKED)
