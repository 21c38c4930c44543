"""Doors: their rules (set, listed, deleted by an admin) and what a key bound to a door may do.

A door's rule: the groups it admits, weekly hours in its time zone, and a fallback note for the person
it denies. While no door has a record, every door admits every active subject (a one-door install needs
no set-up); once any door has one, a door without a record denies (UNKNOWN_DOOR). The rule itself is
applied by door_pass.py.

A gate key may be bound to a door when it is made: it may then call Pass as that door and nothing else,
so one leaked door key opens nothing else, and its refusal at another door says nothing about that door.
"""

from __future__ import annotations

from dataclasses import replace

from ..store.doors import DoorRecord, DoorStore
from .door_hours import BadHours, parse_hours, time_zone
from .errors import DoorNotFound, InvalidDoor
from .groups import door_name, group_names

MAX_FALLBACK = 200
PASS_METHOD = "/facegrid.v1.GateService/Pass"


def checked_door(record: DoorRecord) -> DoorRecord:
    """The record with its names checked and groups sorted; InvalidName / InvalidDoor naming what is wrong."""
    door_name(record.name)
    try:
        parse_hours(record.hours)
        time_zone(record.timezone)
    except BadHours as bad:
        raise InvalidDoor(str(bad)) from None
    if len(record.fallback) > MAX_FALLBACK:
        raise InvalidDoor(f"fallback: at most {MAX_FALLBACK} characters, got {len(record.fallback)}")
    if any(ord(c) < 32 for c in record.fallback):
        raise InvalidDoor("fallback: no control characters (it is shown on a door's display)")
    return replace(record, groups=group_names(record.groups), hours=" ".join(record.hours.split()))


class Doors:
    """Setting, listing and deleting door rules (storage is store/doors.py)."""

    def __init__(self, store: DoorStore) -> None:
        self.store = store

    def set(self, record: DoorRecord) -> DoorRecord:
        """Create or replace a door's rule; the rule as stored."""
        return self.store.put(checked_door(record))

    def all(self) -> list[DoorRecord]:
        """Every door rule."""
        return self.store.all()

    def delete(self, name: str) -> DoorRecord:
        """Remove a door's rule; DoorNotFound when it has none."""
        removed = self.store.delete(door_name(name))
        if removed is None:
            raise DoorNotFound(f"no door named {name!r}")
        return removed


def door_key_refusal(key_door: str, method: str, requested_door: str) -> str | None:
    """Why a key bound to `key_door` may not make this call, or None when it may (always None for unbound keys).

    The message never names the requested door nor says whether it exists."""
    if not key_door:
        return None
    if method != PASS_METHOD:
        return "this key is bound to a door: it may only call Pass"
    if requested_door != key_door:
        return "this key is bound to a door: it may only pass as that door"
    return None
