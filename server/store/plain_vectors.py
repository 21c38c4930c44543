"""The caller's own vectors of a plain-vector collection, in Redis under the caller's ids."""

from __future__ import annotations

import numpy as np

from .feed import VECTORS_ADDED, VECTORS_REMOVED
from .library_records import LibraryRecords
from .schema import collection_seq_key, vectors_key


class PlainVectorStore(LibraryRecords):
    """Plain vectors by id, one hash per collection; every change goes into the collection's feed."""

    def add(self, collection: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store plain vectors under the caller's ids (one durable transaction)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(vectors_key(collection), mapping={str(int(i)): v.tobytes() for i, v in zip(ids, vectors)})
        pipe.incr(collection_seq_key(collection))
        self._publish(pipe, VECTORS_ADDED, collection, ids=[int(i) for i in ids])
        pipe.execute()

    def remove(self, collection: str, ids: np.ndarray) -> None:
        """Delete the vectors under these ids (absent ones are ignored)."""
        if len(ids):
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(vectors_key(collection), *[str(int(i)) for i in ids])
            pipe.incr(collection_seq_key(collection))
            self._publish(pipe, VECTORS_REMOVED, collection, ids=[int(i) for i in ids])
            pipe.execute()

    def get(self, collection: str, ids: list[int]) -> dict[int, np.ndarray]:
        """Plain vectors under some ids, in one round trip (absent ids are left out)."""
        if not ids:
            return {}
        values = self.redis.hmget(vectors_key(collection), [str(int(i)) for i in ids])
        return {int(i): np.frombuffer(v, dtype=np.float32) for i, v in zip(ids, values) if v is not None}

    def all(self, collection: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(ids, vectors) of every plain vector of a collection (start-up rebuild); vectors None where there are none."""
        stored = self.redis.hgetall(vectors_key(collection))
        ids = np.array([int(i) for i in stored], dtype=np.int64)
        vectors = np.stack([np.frombuffer(v, dtype=np.float32) for v in stored.values()]) if stored else None
        return ids, vectors
