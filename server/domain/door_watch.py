"""Doors whose client has gone silent: no Pass for a while when one was expected.

The rule: a door is silent when its hours say it was open for the whole of the last N minutes (a door without hours
is always open) and no Pass came from it in that time, by its last_seen_at (each server writes it at most every
10 s). A door its hours closed at some moment of that window is not watched: nobody was expected. A door open all
that time that has not seen a Pass since its rule was set is silent too: its client never called. Plain functions,
no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store.doors import DoorRecord
from .door_hours import BadHours, is_open, parse_hours, time_zone

SILENT = "silent"
LIVE = "live"
CLOSED = "closed"


@dataclass(frozen=True)
class DoorWatch:
    """One door as the watch sees it: its state, how long it has been quiet, and why, in words."""

    door: DoorRecord
    state: str  # SILENT, LIVE or CLOSED (not watched now)
    quiet_min: float | None  # minutes since its last Pass; None: never seen
    why: str


def open_throughout(door: DoorRecord, start: float, end: float) -> bool:
    """Whether the door's hours hold at every minute from `start` to `end` (Unix times); BadHours for unreadable ones."""
    intervals, zone = parse_hours(door.hours), time_zone(door.timezone)
    if not intervals:
        return True
    moments = [end - 60.0 * i for i in range(int((end - start) // 60) + 1)] + [start]
    return all(is_open(intervals, zone, moment) for moment in moments)


def watch(door: DoorRecord, now: float, silent_min: float) -> DoorWatch:
    """Whether one door is silent at `now` (Unix time) by the rule above."""
    quiet = (now - door.last_seen_at) / 60.0 if door.last_seen_at else None
    since = "never seen" if quiet is None else f"last Pass {quiet:.0f} min ago"
    # A door never seen is quiet since its rule was set (a door set up a minute ago is not silent yet).
    waited = quiet if quiet is not None else (now - door.updated_at) / 60.0
    try:
        watched = open_throughout(door, now - silent_min * 60.0, now)
    except BadHours as error:
        return DoorWatch(door, CLOSED, quiet, f"not watched: its hours cannot be read ({error})")
    if not watched:
        return DoorWatch(door, CLOSED, quiet, f"not watched: closed by its hours in the last {silent_min:g} min; {since}")
    if waited >= silent_min:
        opened = "always open" if not door.hours.strip() else f"open by its hours ({door.hours}, {door.timezone or 'UTC'})"
        return DoorWatch(door, SILENT, quiet, f"no Pass for {silent_min:g} min while {opened}; {since}")
    return DoorWatch(door, LIVE, quiet, since if quiet is not None else f"no Pass yet (its rule was set {waited:.0f} min ago)")


def watch_doors(doors: list[DoorRecord], now: float, silent_min: float) -> list[DoorWatch]:
    """Every door watched, the silent ones first (then by name)."""
    watched = [watch(door, now, silent_min) for door in doors]
    return sorted(watched, key=lambda w: (w.state != SILENT, w.door.name))
