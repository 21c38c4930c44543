"""Photo-library collections in Redis: photos by content hash, faces, groups, corrections, plain vectors."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import redis

from facegrid.encoder.quality import FaceQuality
from .feed import COLLECTION_CREATED, FACES_ADDED, GROUPING_CHANGED, VECTORS_ADDED, VECTORS_REMOVED, ChangeFeed
from .locks import RedisLock
from .schema import (COLLECTIONS, NEXT_FACE, SEQ, clustering_key, corrections_key, face_key, grouping_lock_key,
                     grouping_version_key, groups_key, photos_key, pins_key, vectors_key)


@dataclass(frozen=True)
class FaceRecord:
    """One indexed face of a photo library."""

    face_id: int
    photo_sha256: str
    box: list[float]
    quality: FaceQuality
    vector: np.ndarray


@dataclass(frozen=True)
class PhotoRecord:
    photo_sha256: str
    paths: list[str]
    face_ids: list[int]
    indexed_at: float


class LibraryStore:
    """Photo-library collections: photos by content hash, their paths and faces; every change goes into the feed."""

    def __init__(self, client: redis.Redis, feed: ChangeFeed | None = None) -> None:
        self.redis = client
        self.feed = feed or ChangeFeed(client)

    def collections(self) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.redis.hgetall(COLLECTIONS).items()}

    def collection(self, name: str) -> dict | None:
        """One collection's settings, or None."""
        value = self.redis.hget(COLLECTIONS, name)
        return json.loads(value) if value is not None else None

    def create_collection(self, name: str, model: str, dim: int) -> dict:
        """Register a collection if new (first writer wins); its settings."""
        info = {"model": model, "dim": dim, "created_at": time.time()}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(COLLECTIONS, name, json.dumps(info))
        pipe.hget(COLLECTIONS, name)
        self.feed.publish(pipe, COLLECTION_CREATED, collection=name)  # harmless when it existed: followers re-read it
        _, stored, _ = pipe.execute()
        return json.loads(stored)

    def add_vectors(self, collection: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store plain vectors under the caller's ids (one durable transaction)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(vectors_key(collection), mapping={str(int(i)): v.tobytes() for i, v in zip(ids, vectors)})
        pipe.incr(SEQ)
        self.feed.publish(pipe, VECTORS_ADDED, collection=collection, ids=[int(i) for i in ids])
        pipe.execute()

    def remove_vectors(self, collection: str, ids: np.ndarray) -> None:
        if len(ids):
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(vectors_key(collection), *[str(int(i)) for i in ids])
            pipe.incr(SEQ)
            self.feed.publish(pipe, VECTORS_REMOVED, collection=collection, ids=[int(i) for i in ids])
            pipe.execute()

    def vectors(self, collection: str, ids: list[int]) -> dict[int, np.ndarray]:
        """Plain vectors under some ids, in one round trip (absent ids are left out)."""
        if not ids:
            return {}
        values = self.redis.hmget(vectors_key(collection), [str(int(i)) for i in ids])
        return {int(i): np.frombuffer(v, dtype=np.float32) for i, v in zip(ids, values) if v is not None}

    def all_vectors(self, collection: str) -> tuple[np.ndarray, np.ndarray]:
        stored = self.redis.hgetall(vectors_key(collection))
        ids = np.array([int(i) for i in stored], dtype=np.int64)
        vectors = np.stack([np.frombuffer(v, dtype=np.float32) for v in stored.values()]) if stored else None
        return ids, vectors

    def photos(self, collection: str, digests: list[str]) -> dict[str, PhotoRecord]:
        """Several photos in one round trip (absent ones are left out)."""
        unique = sorted(set(digests))
        if not unique:
            return {}
        values = self.redis.hmget(photos_key(collection), unique)
        return {d: self._photo(d, v) for d, v in zip(unique, values) if v is not None}

    def known(self, collection: str, digests: list[str]) -> list[str]:
        """The digests already indexed in the collection."""
        if not digests:
            return []
        flags = self.redis.hmget(photos_key(collection), digests)
        return [d for d, value in zip(digests, flags) if value is not None]

    def add_photos(self, collection: str, photos: list[tuple[str, list[str], list[tuple[list[float], FaceQuality, np.ndarray]]]]) -> list[PhotoRecord | None]:
        """Store new photos, given as (sha256, paths, faces as (box, FaceQuality, vector)), in one durable
        transaction; each one's record, or None where another server stored that photo first (then its
        faces from here are deleted again: one photo, one set of faces)."""
        count = sum(len(faces) for _, _, faces in photos)
        next_id = int(self.redis.incrby(NEXT_FACE, count)) - count + 1 if count else 0
        now = time.time()
        records = []
        pipe = self.redis.pipeline(transaction=True)
        for photo_sha256, paths, faces in photos:
            ids = list(range(next_id, next_id + len(faces)))
            next_id += len(faces)
            for face_id, (box, quality, vector) in zip(ids, faces):
                pipe.hset(
                    face_key(collection, face_id),
                    mapping={
                        "photo_sha256": photo_sha256,
                        "box": json.dumps([round(float(v), 2) for v in box]),
                        "quality": json.dumps(quality.as_dict()),
                        "vector": np.asarray(vector, dtype=np.float32).tobytes(),
                    },
                )
            record = PhotoRecord(photo_sha256, list(paths), ids, now)
            pipe.hsetnx(photos_key(collection), photo_sha256, self._photo_json(record))
            records.append(record)
        if not records:
            return []
        pipe.incr(SEQ)
        # Followers add only faces their photo's record names, so the faces of a photo lost to another server never count.
        self.feed.publish(pipe, FACES_ADDED, collection=collection, ids=[i for r in records for i in r.face_ids])
        replies = pipe.execute()
        stored, at = [], 0
        for record in records:
            at += len(record.face_ids)  # the reply to each face's HSET, then the photo's HSETNX
            stored.append(record if replies[at] else None)
            at += 1
        lost = [face_key(collection, i) for record, kept in zip(records, stored) if kept is None for i in record.face_ids]
        if lost:
            self.redis.delete(*lost)
        return stored

    def add_paths(self, collection: str, paths: list[tuple[str, str]]) -> dict[str, PhotoRecord]:
        """For (sha256, path) pairs of photos perhaps held already: record each new path of a held photo
        (the same photo under two names); the held photos' records."""
        held = self.photos(collection, [digest for digest, _ in paths])
        changed = {}
        for digest, path in paths:
            record = held.get(digest)
            if record is not None and path not in record.paths:
                held[digest] = changed[digest] = PhotoRecord(digest, record.paths + [path], record.face_ids, record.indexed_at)
        if changed:
            self.redis.hset(photos_key(collection), mapping={d: self._photo_json(r) for d, r in changed.items()})
        return held

    def faces(self, collection: str, face_ids: list[int]) -> list[FaceRecord | None]:
        pipe = self.redis.pipeline(transaction=False)
        for face_id in face_ids:
            pipe.hgetall(face_key(collection, face_id))
        return [self._face(i, f) if f else None for i, f in zip(face_ids, pipe.execute())]

    def face_ids(self, collection: str) -> list[int]:
        """The ids of every face of a collection."""
        return [i for value in self.redis.hvals(photos_key(collection)) for i in json.loads(value)["faces"]]

    def all_faces(self, collection: str, batch: int = 2000) -> Iterator[FaceRecord]:
        """Every face of a collection (start-up rebuild), read in pipelined batches."""
        ids = self.face_ids(collection)
        for start in range(0, len(ids), batch):
            yield from (f for f in self.faces(collection, ids[start : start + batch]) if f is not None)

    def count_photos(self, collection: str) -> int:
        return int(self.redis.hlen(photos_key(collection)))

    def grouping_lock(self, collection: str, wait: float = 30.0) -> RedisLock:
        """The lock every server takes to regroup or correct a collection (see locks.py)."""
        return RedisLock(self.redis, grouping_lock_key(collection), wait=wait)

    def grouping_version(self, collection: str) -> int:
        """+1 per clustering, correction or undo: group means cached from an older one are stale."""
        return int(self.redis.get(grouping_version_key(collection)) or 0)

    def save_groups(self, collection: str, labels: dict[int, int], threshold: float, min_size: int) -> int:
        """Replace the collection's grouping (face id -> group id) in one transaction; its version."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(groups_key(collection))
        if labels:
            pipe.hset(groups_key(collection), mapping={str(f): g for f, g in labels.items()})
        pipe.hset(clustering_key(collection), mapping={"threshold": threshold, "min_size": min_size, "created_at": time.time()})
        pipe.incr(grouping_version_key(collection))
        pipe.incr(SEQ)
        self.feed.publish(pipe, GROUPING_CHANGED, collection=collection)
        return int(pipe.execute()[-3])

    def assign_groups(self, collection: str, labels_for: Callable[[int], dict[int, int]]) -> None:
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
        return {int(f): int(g) for f, g in self.redis.hgetall(groups_key(collection)).items()}

    def pins(self, collection: str) -> dict[int, str]:
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
        pipe.incr(SEQ)
        self.feed.publish(pipe, GROUPING_CHANGED, collection=collection)
        pipe.execute()

    def pop_correction(self, collection: str) -> dict | None:
        value = self.redis.rpop(corrections_key(collection))
        return json.loads(value) if value is not None else None

    def clustering(self, collection: str) -> dict | None:
        fields = self.redis.hgetall(clustering_key(collection))
        return {k.decode(): float(v) for k, v in fields.items()} if fields else None

    @staticmethod
    def _photo_json(record: PhotoRecord) -> str:
        return json.dumps({"paths": record.paths, "faces": record.face_ids, "indexed_at": record.indexed_at})

    @staticmethod
    def _photo(photo_sha256: str, value: bytes) -> PhotoRecord:
        data = json.loads(value)
        return PhotoRecord(photo_sha256, data["paths"], data["faces"], data["indexed_at"])

    @staticmethod
    def _face(face_id: int, fields: dict) -> FaceRecord:
        return FaceRecord(
            face_id=face_id,
            photo_sha256=fields[b"photo_sha256"].decode(),
            box=json.loads(fields[b"box"]),
            quality=FaceQuality.from_dict(json.loads(fields[b"quality"])),
            vector=np.frombuffer(fields[b"vector"], dtype=np.float32).copy(),
        )
