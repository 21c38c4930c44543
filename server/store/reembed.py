"""Where each collection's background embedding of already-indexed photos stands (its state, its lock, the photos
left to do and those not found again); the vectors it makes go in through photo_vectors.py."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

from .library_records import LibraryRecords, chunks
from .locks import RedisLock
from .photos import PhotoRecord, photo_from_json
from .schema import photo_ids_key, photos_key, reembed_key, reembed_lock_key, reembed_missing_key


@dataclass(frozen=True)
class ReembedState:
    """Where a collection's background embedding of already-indexed photos stands."""

    state: str  # "running", "done"; "" where none was ever started
    model: str
    started_at: float
    finished_at: float
    missing: int  # photos none of whose stored paths still holds them


class ReembedStore(LibraryRecords):
    """The state of each collection's re-embedding (started by CollectionRegistry.set_image_model)."""

    def state(self, collection: str) -> ReembedState:
        """Where the collection's background re-embedding stands."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(reembed_key(collection))
        pipe.hlen(reembed_missing_key(collection))
        fields, missing = pipe.execute()
        fields = {k.decode(): v.decode() for k, v in fields.items()}
        return ReembedState(fields.get("state", ""), fields.get("model", ""), float(fields.get("started_at", 0)),
                            float(fields.get("finished_at", 0)), int(missing))

    def photos_without_vectors(self, collection: str, batch: int = 500) -> Iterator[list[PhotoRecord]]:
        """Batches of the collection's photos that have no photo vector and are not counted missing (a scan:
        photos indexed meanwhile may or may not be seen; they get their vector when indexed)."""
        for chunk in chunks(self.redis.hscan_iter(photos_key(collection), count=batch), batch):
            digests = [d.decode() for d, _ in chunk]
            pipe = self.redis.pipeline(transaction=False)
            pipe.hmget(photo_ids_key(collection), digests)
            pipe.hmget(reembed_missing_key(collection), digests)
            with_vector, missing = pipe.execute()
            todo = [photo_from_json(d, v) for d, (_, v), has, gone in zip(digests, chunk, with_vector, missing)
                    if has is None and gone is None]
            if todo:
                yield todo

    def retry_missing(self, collection: str) -> int:
        """Look again for the photos counted missing (put back where they were, say): the job runs again; how many."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hlen(reembed_missing_key(collection))
        pipe.delete(reembed_missing_key(collection))
        pipe.hset(reembed_key(collection), mapping={"state": "running", "started_at": time.time()})
        return int(pipe.execute()[0])

    def finish(self, collection: str) -> None:
        """The re-embedding of the collection is done."""
        pipe = self.redis.pipeline(transaction=True)  # a transaction: on a cluster it waits for the replica
        pipe.hset(reembed_key(collection), mapping={"state": "done", "finished_at": time.time()})
        pipe.execute()

    def lock(self, collection: str) -> RedisLock:
        """The lock of the one server that re-embeds a collection (wait 0: another server holding it does the work)."""
        return RedisLock(self.redis, reembed_lock_key(collection), wait=0.0)
