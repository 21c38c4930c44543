"""Whole-photo vectors (of a collection's image model) in Redis, under photo ids: one per photo, first writer wins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .feed import PHOTO_VECTORS_ADDED
from .library_records import LibraryRecords
from .schema import NEXT_PHOTO, collection_seq_key, photo_ids_key, photo_key, reembed_missing_key


@dataclass(frozen=True)
class PhotoVectorRecord:
    """One photo's whole-photo vector (of its collection's image model) under its photo id."""

    photo_id: int
    photo_sha256: str
    vector: np.ndarray


def queue_photo_vector(pipe, collection: str, photo_id: int, photo_sha256: str, vector: np.ndarray) -> None:
    """The two writes of a photo vector: its id for the photo (first writer wins), and the vector under the id."""
    pipe.hsetnx(photo_ids_key(collection), photo_sha256, photo_id)
    pipe.hset(photo_key(collection, photo_id), mapping={"photo_sha256": photo_sha256,
                                                        "vector": np.asarray(vector, dtype=np.float32).tobytes()})


def drop_photo_vector(client, collection: str, photo_id: int, photo_sha256: str) -> None:
    """Delete a photo vector that lost to another writer's (its id is not the photo's)."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(photo_key(collection, photo_id))
    pipe.eval("if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) "
              "else return 0 end", 1, photo_ids_key(collection), photo_sha256, str(photo_id))
    pipe.execute()


class PhotoVectorStore(LibraryRecords):
    """Photo vectors by photo id, and which photo each id is; PhotoStore.add writes those of new photos."""

    def add(self, collection: str, vectors: list[tuple[str, np.ndarray]], missing: dict[str, str]) -> list[int | None]:
        """Whole-photo vectors of photos already held (the background re-embedding), and the photos that
        could not be read again (sha256 -> why), in one durable transaction. Each photo's new id, or None
        where the photo had a vector already (indexed meanwhile, or embedded by another server)."""
        ids: list[int | None] = []
        pipe = self.redis.pipeline(transaction=True)
        if vectors:
            first = self._take_ids(NEXT_PHOTO, len(vectors))
            for offset, (photo_sha256, vector) in enumerate(vectors):
                queue_photo_vector(pipe, collection, first + offset, photo_sha256, vector)
                ids.append(first + offset)
            self._publish(pipe, PHOTO_VECTORS_ADDED, collection, ids=ids)
        if missing:
            pipe.hset(reembed_missing_key(collection), mapping=missing)
        if not vectors and not missing:
            return []
        pipe.incr(collection_seq_key(collection))
        replies = pipe.execute()
        # HSETNX said "held": another writer's vector, or ours from a first run of a transaction the client retried.
        owners = self.ids_of(collection, [vectors[o][0] for o in range(len(ids)) if not replies[2 * o]])
        kept: list[int | None] = []
        for offset, photo_id in enumerate(ids):
            if replies[2 * offset] or owners.get(vectors[offset][0]) == photo_id:
                kept.append(photo_id)
            else:
                self.redis.delete(photo_key(collection, photo_id))
                kept.append(None)
        return kept

    def get(self, collection: str, photo_ids: list[int]) -> list[PhotoVectorRecord | None]:
        """Photo vectors by id, in one round trip; None where absent or not the photo's own (lost to another writer)."""
        pipe = self.redis.pipeline(transaction=False)
        for photo_id in photo_ids:
            pipe.hgetall(photo_key(collection, photo_id))
        found = [PhotoVectorRecord(i, f[b"photo_sha256"].decode(), np.frombuffer(f[b"vector"], dtype=np.float32).copy())
                 if f else None for i, f in zip(photo_ids, pipe.execute())]
        owners = self.ids_of(collection, [r.photo_sha256 for r in found if r is not None])
        return [r if r is not None and owners.get(r.photo_sha256) == r.photo_id else None for r in found]

    def ids_of(self, collection: str, digests: list[str]) -> dict[str, int]:
        """The photo ids of those of these photos that have a whole-photo vector."""
        unique = sorted(set(digests))
        if not unique:
            return {}
        values = self.redis.hmget(photo_ids_key(collection), unique)
        return {d: int(v) for d, v in zip(unique, values) if v is not None}

    def shas_of(self, collection: str, photo_ids: list[int]) -> list[str | None]:
        """The sha256 of the photo under each photo id (None where there is none), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for photo_id in photo_ids:
            pipe.hget(photo_key(collection, photo_id), "photo_sha256")
        return [v.decode() if v is not None else None for v in pipe.execute()]

    def all(self, collection: str, batch: int = 2000) -> Iterator[PhotoVectorRecord]:
        """Every photo vector of a collection (start-up rebuild), read in pipelined batches."""
        owners = {int(i): d.decode() for d, i in self.redis.hgetall(photo_ids_key(collection)).items()}
        ids = sorted(owners)
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            pipe = self.redis.pipeline(transaction=False)
            for photo_id in chunk:
                pipe.hgetall(photo_key(collection, photo_id))
            for photo_id, f in zip(chunk, pipe.execute()):
                if f and f[b"photo_sha256"].decode() == owners[photo_id]:
                    yield PhotoVectorRecord(photo_id, owners[photo_id], np.frombuffer(f[b"vector"], dtype=np.float32).copy())

    def count(self, collection: str) -> int:
        """How many photos of the collection have a whole-photo vector."""
        return int(self.redis.hlen(photo_ids_key(collection)))
