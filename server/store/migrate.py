"""Upgrading a Redis written with the untagged key names of before (layout 1) to the hash tags of schema.py.

Run once at start, before anything reads or writes: every key named `fg:…` is moved to its
tagged name (`schema.legacy_name_map`), and `{fg}:layout` is set to LAYOUT once none is left,
so later starts skip the scan.

Crash-safe and idempotent: on one Redis each move is a RENAMENX (atomic: the key has either
name, never both, never neither); on a Redis Cluster, where a rename may not cross slots, it
is DUMP, RESTORE under the new name (with the old expiry), then DEL of the old one, and a
move found half done (both names, same value) is finished by the DEL. A start that dies
midway is followed by one that moves what is left. Both names holding different values (a
server of the old version still writing after the upgrade: stop every server before
upgrading) is left alone and logged, never overwritten.
"""

from __future__ import annotations

import logging

import redis

from .connection import is_cluster
from .schema import LAYOUT, LAYOUT_KEY, LEGACY_PREFIX, legacy_name_map

log = logging.getLogger("facegrid.server")


class LayoutConflict(RuntimeError):
    """A key exists under both its old and its new name with different values."""


def upgrade_layout(client: redis.Redis) -> int:
    """Move every layout-1 key to its layout-2 name; how many were moved (0 on an upgraded or new Redis)."""
    if int(client.get(LAYOUT_KEY) or 0) >= LAYOUT:
        return 0
    cluster = is_cluster(client)
    moved, conflicts = 0, []
    for raw in list(client.scan_iter(match=LEGACY_PREFIX + "*", count=1000)):
        old = raw.decode() if isinstance(raw, bytes) else raw
        new = legacy_name_map(old)
        if new is None:
            continue
        try:
            done = _move_across_slots(client, old, new) if cluster else _rename(client, old, new)
        except LayoutConflict:
            conflicts.append(old)
            continue
        moved += done
    if conflicts:
        log.error("key layout upgrade: %d keys exist under both their old and new names with different values "
                  "(an older server still running?); left as they are, e.g. %s", len(conflicts), conflicts[:3])
    else:
        client.set(LAYOUT_KEY, LAYOUT)
    if moved:
        log.info("key layout upgraded: %d keys renamed to their hash-tagged names", moved)
    return moved


def _rename(client: redis.Redis, old: str, new: str) -> int:
    """RENAMENX on one Redis: 1 if moved, 0 if the old key is gone already."""
    try:
        if client.renamenx(old, new):
            return 1
    except redis.ResponseError as error:
        if "no such key" in str(error).lower():
            return 0  # moved by a concurrent start
        raise
    raise LayoutConflict(old)


def _move_across_slots(client: redis.Redis, old: str, new: str) -> int:
    """DUMP + RESTORE + DEL on a cluster: 1 if moved (or a half-done move finished), 0 if the old key is gone."""
    payload = client.dump(old)
    if payload is None:
        return 0
    ttl = client.pttl(old)
    try:
        client.restore(new, max(int(ttl), 0), payload)
    except redis.ResponseError as error:
        if "busykey" not in str(error).lower():
            raise
        if client.dump(new) != payload:
            raise LayoutConflict(old) from None
    client.delete(old)
    return 1
