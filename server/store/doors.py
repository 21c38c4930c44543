"""Door records in Redis (key names in schema.py): the rule each door applies, and when it was last seen.

One hash field per door holding its rule as JSON. Nothing caches doors: each Pass reads whether any door
exists and its own door's record in one round trip, so a change made on any server holds at once everywhere.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

from .feed import DOOR_CHANGED, ChangeFeed
from .schema import DOORS, DOORS_SEEN, SEQ


@dataclass(frozen=True)
class DoorRecord:
    """One door's rule as stored (names and hours already checked by domain/doors.py)."""

    name: str
    groups: tuple[str, ...]  # subjects in any of these may pass; empty: nobody
    hours: str = ""  # weekly hours in the door's zone (domain/door_hours.py); empty: always open
    timezone: str = ""  # IANA name; empty: UTC
    fallback: str = ""  # shown on a denial: "card + PIN", "call the desk"
    updated_at: float = 0.0
    last_seen_at: float = 0.0  # the last Pass from this door; 0: never


def _record(name: str, value: bytes, seen: bytes | None = None) -> DoorRecord:
    fields = json.loads(value)
    return DoorRecord(name=name, groups=tuple(fields.get("groups", ())), hours=fields.get("hours", ""),
                      timezone=fields.get("timezone", ""), fallback=fields.get("fallback", ""),
                      updated_at=float(fields.get("updated_at", 0.0)), last_seen_at=float(seen) if seen else 0.0)


class DoorStore:
    """Reads and writes door records; the rules (names, hours, zones) are in domain/doors.py."""

    def __init__(self, client: redis.Redis, feed: ChangeFeed | None = None) -> None:
        self.redis = client
        self.feed = feed or ChangeFeed(client)

    def lookup(self, name: str) -> tuple[bool, DoorRecord | None]:
        """Whether any door has a record, and this door's record (None without one), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hlen(DOORS)
        pipe.hget(DOORS, name)
        count, value = pipe.execute()
        return bool(count), _record(name, value) if value is not None else None

    def all(self) -> list[DoorRecord]:
        """Every door, by name, with when it was last seen."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(DOORS)
        pipe.hgetall(DOORS_SEEN)
        doors, seen = pipe.execute()
        return sorted((_record(k.decode(), v, seen.get(k)) for k, v in doors.items()), key=lambda d: d.name)

    def put(self, record: DoorRecord) -> DoorRecord:
        """Create or replace a door's record; the record as stored (its updated_at now)."""
        now = time.time()
        value = json.dumps({"groups": list(record.groups), "hours": record.hours, "timezone": record.timezone,
                            "fallback": record.fallback, "updated_at": now})
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(DOORS, record.name, value)
        pipe.hget(DOORS_SEEN, record.name)
        pipe.incr(SEQ)
        self.feed.publish(pipe, DOOR_CHANGED, door=record.name)
        _, seen, *_ = pipe.execute()
        return _record(record.name, value.encode(), seen)

    def delete(self, name: str) -> DoorRecord | None:
        """Remove a door's record; the record removed, or None when it had none."""
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(DOORS)
                    value = pipe.hget(DOORS, name)
                    if value is None:
                        pipe.unwatch()
                        return None
                    seen = pipe.hget(DOORS_SEEN, name)
                    pipe.multi()
                    pipe.hdel(DOORS, name)  # its last_seen_at stays: still true if the door is set again
                    pipe.incr(SEQ)
                    self.feed.publish(pipe, DOOR_CHANGED, door=name)
                    pipe.execute()
                    return _record(name, value, seen)
                except redis.WatchError:
                    continue

    @staticmethod
    def touch(pipe, name: str, when: float) -> None:
        """Note on a pipeline that the door passed someone (written in the background, never on a call's path)."""
        pipe.hset(DOORS_SEEN, name, repr(round(when, 1)))
