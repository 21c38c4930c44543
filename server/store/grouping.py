"""The grouping of each collection's faces by person in Redis: group ids, pins, the corrections made (for undo), the
clustering's settings, and the version that tells cached group means they are stale."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

import redis

from .feed import GROUPING_CHANGED
from .library_records import LibraryRecords
from .locks import RedisLock
from .schema import clustering_key, collection_seq_key, corrections_key, grouping_lock_key, grouping_version_key, groups_key, pins_key


@dataclass(frozen=True)
class Clustering:
    """The settings of a collection's last clustering."""

    threshold: float
    min_size: int
    created_at: float


class GroupingStore(LibraryRecords):
    """Group ids and pins of faces by collection; every change goes into the collection's feed."""

    def lock(self, collection: str, wait: float = 30.0) -> RedisLock:
        """The lock every server takes to regroup or correct a collection (see locks.py)."""
        return RedisLock(self.redis, grouping_lock_key(collection), wait=wait)

    def version(self, collection: str) -> int:
        """+1 per clustering, correction or undo: group means cached from an older one are stale."""
        return int(self.redis.get(grouping_version_key(collection)) or 0)

    def save(self, collection: str, labels: dict[int, int], threshold: float, min_size: int) -> int:
        """Replace the collection's grouping (face id -> group id) in one transaction; its version."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(groups_key(collection))
        if labels:
            pipe.hset(groups_key(collection), mapping={str(f): g for f, g in labels.items()})
        pipe.hset(clustering_key(collection), mapping={"threshold": threshold, "min_size": min_size, "created_at": time.time()})
        pipe.incr(grouping_version_key(collection))
        pipe.incr(collection_seq_key(collection))
        self._publish(pipe, GROUPING_CHANGED, collection)
        return int(pipe.execute()[-3])

    def assign(self, collection: str, labels_for: Callable[[int], dict[int, int]]) -> None:
        """Give faces groups computed by `labels_for(version)` from the grouping of that version,
        written only if the grouping is still that version (else computed again): faces indexed
        while another server regroups never get a group id of the grouping it replaced."""
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(grouping_version_key(collection))
                    labels = labels_for(int(pipe.get(grouping_version_key(collection)) or 0))
                    if not labels:
                        pipe.unwatch()
                        return
                    pipe.multi()
                    pipe.hset(groups_key(collection), mapping={str(f): g for f, g in labels.items()})
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def groups(self, collection: str) -> dict[int, int]:
        """Face id -> group id of every grouped face."""
        return {int(f): int(g) for f, g in self.redis.hgetall(groups_key(collection)).items()}

    def pins(self, collection: str) -> dict[int, str]:
        """Face id -> pin (a subject id, or an anonymous "~..." label) of every pinned face."""
        return {int(f): p.decode() for f, p in self.redis.hgetall(pins_key(collection)).items()}

    def apply_correction(self, collection: str, pins: dict[int, str], groups: dict[int, int], record: dict) -> None:
        """Set pins and group ids of some faces and push the correction (with what it replaced) for undo."""
        pipe = self.redis.pipeline(transaction=True)
        for face_id, pin in pins.items():
            if pin:
                pipe.hset(pins_key(collection), str(face_id), pin)
            else:
                pipe.hdel(pins_key(collection), str(face_id))
        if groups:
            pipe.hset(groups_key(collection), mapping={str(f): g for f, g in groups.items()})
        if record:
            pipe.rpush(corrections_key(collection), json.dumps(record))
        pipe.incr(grouping_version_key(collection))
        pipe.incr(collection_seq_key(collection))
        self._publish(pipe, GROUPING_CHANGED, collection)
        pipe.execute()

    def pop_correction(self, collection: str) -> dict | None:
        """The last correction pushed (its JSON record), taken off the undo list; None where there is none."""
        value = self.redis.rpop(corrections_key(collection))
        return json.loads(value) if value is not None else None

    def clustering(self, collection: str) -> Clustering | None:
        """The settings of the collection's last clustering, or None where it was never clustered."""
        fields = {k.decode(): float(v) for k, v in self.redis.hgetall(clustering_key(collection)).items()}
        if not fields:
            return None
        return Clustering(fields["threshold"], int(fields.get("min_size", 1)), fields.get("created_at", 0.0))
