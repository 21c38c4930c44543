"""The photos of photo-library collections in Redis, by content hash: the paths each was seen under and its faces.

A new photo is written in one transaction with its faces (faces.py) and, where the collection has an image
model, its whole-photo vector (photo_vectors.py): a crash leaves each photo fully indexed or absent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .faces import NewFace, queue_face
from .feed import FACES_ADDED, PHOTO_VECTORS_ADDED
from .library_records import LibraryRecords
from .photo_vectors import drop_photo_vector, queue_photo_vector
from .schema import NEXT_FACE, NEXT_PHOTO, collection_seq_key, face_key, photos_key


@dataclass(frozen=True)
class NewPhoto:
    """A photo to index: its content hash, the paths it was seen under, its faces, and where the collection has an
    image model, its whole-photo vector."""

    photo_sha256: str
    paths: Sequence[str]
    faces: Sequence[NewFace]
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class PhotoRecord:
    """One indexed photo: the paths it was seen under, the ids of its faces, and when it was indexed."""

    photo_sha256: str
    paths: list[str]
    face_ids: list[int]
    indexed_at: float


class PhotoStore(LibraryRecords):
    """Photos by content hash, with their paths and faces; every new photo goes into the collection's feed."""

    def get(self, collection: str, digests: list[str]) -> dict[str, PhotoRecord]:
        """Several photos in one round trip (absent ones are left out)."""
        unique = sorted(set(digests))
        if not unique:
            return {}
        values = self.redis.hmget(photos_key(collection), unique)
        return {d: photo_from_json(d, v) for d, v in zip(unique, values) if v is not None}

    def known(self, collection: str, digests: list[str]) -> list[str]:
        """The digests already indexed in the collection."""
        if not digests:
            return []
        flags = self.redis.hmget(photos_key(collection), digests)
        return [d for d, value in zip(digests, flags) if value is not None]

    def count(self, collection: str) -> int:
        """How many photos the collection holds."""
        return int(self.redis.hlen(photos_key(collection)))

    def page(self, collection: str, cursor: int, count: int) -> tuple[list[PhotoRecord], int]:
        """About `count` photos from `cursor` on (HSCAN: 0 starts), and the cursor of the rest (0 after the last).

        A photo held throughout a listing is listed at least once; one added or removed meanwhile may or may not be.
        A small collection (Redis's compact encoding) comes whole in one page, whatever `count` says."""
        cursor, found = self.redis.hscan(photos_key(collection), cursor, count=count)
        records = [photo_from_json(d.decode() if isinstance(d, bytes) else d, v) for d, v in found.items()]
        return sorted(records, key=lambda r: r.photo_sha256), int(cursor)

    def add(self, collection: str, photos: list[NewPhoto]) -> list[PhotoRecord | None]:
        """Store new photos with their faces and photo vectors in one durable transaction; each one's record, or None
        where another server stored that photo first (then its faces and photo vector from here are deleted again:
        one photo, one set of faces)."""
        next_id = self._take_ids(NEXT_FACE, sum(len(photo.faces) for photo in photos))
        with_vector = [photo for photo in photos if photo.vector is not None]
        next_photo = self._take_ids(NEXT_PHOTO, len(with_vector))
        now = time.time()
        records, photo_ids = [], []
        pipe = self.redis.pipeline(transaction=True)
        for photo in photos:
            ids = list(range(next_id, next_id + len(photo.faces)))
            next_id += len(photo.faces)
            for face_id, face in zip(ids, photo.faces):
                queue_face(pipe, collection, face_id, photo.photo_sha256, face)
            record = PhotoRecord(photo.photo_sha256, list(photo.paths), ids, now)
            pipe.hsetnx(photos_key(collection), photo.photo_sha256, photo_json(record))
            records.append(record)
            photo_id = None
            if photo.vector is not None:
                photo_id, next_photo = next_photo, next_photo + 1
                queue_photo_vector(pipe, collection, photo_id, photo.photo_sha256, photo.vector)
            photo_ids.append(photo_id)
        if not records:
            return []
        pipe.incr(collection_seq_key(collection))
        # Followers add only faces their photo's record names, so the faces of a photo lost to another server never count.
        self._publish(pipe, FACES_ADDED, collection, ids=[i for r in records for i in r.face_ids])
        if with_vector:
            self._publish(pipe, PHOTO_VECTORS_ADDED, collection, ids=[i for i in photo_ids if i is not None])
        replies = pipe.execute()
        stored, at = [], 0
        for record, photo_id in zip(records, photo_ids):
            at += len(record.face_ids)  # the reply to each face's HSET, then the photo's HSETNX
            stored.append(record if replies[at] else None)
            at += 1 + (2 if photo_id is not None else 0)  # a photo vector's HSETNX into photo_ids, then its HSET
        stored = self._ours_after_all(collection, records, stored)
        lost = [face_key(collection, i) for record, kept in zip(records, stored) if kept is None for i in record.face_ids]
        if lost:
            self.redis.delete(*lost)
        for record, kept, photo_id in zip(records, stored, photo_ids):
            if kept is None and photo_id is not None:
                drop_photo_vector(self.redis, collection, photo_id, record.photo_sha256)
        return stored

    def _ours_after_all(self, collection: str, records: list[PhotoRecord], stored: list[PhotoRecord | None]) -> list:
        """`stored`, with each photo whose HSETNX said "held already" counted ours where the held record names our
        own faces: the client ran the transaction twice (a Redis Cluster client retries one whose reply was lost
        in a failover), and the first run stored it."""
        doubtful = [r for r, kept in zip(records, stored) if kept is None]
        if not doubtful:
            return stored
        held = self.get(collection, [r.photo_sha256 for r in doubtful])
        ours = {r.photo_sha256 for r in doubtful if r.photo_sha256 in held and held[r.photo_sha256].face_ids == r.face_ids}
        return [r if kept is None and r.photo_sha256 in ours else kept for r, kept in zip(records, stored)]

    def add_paths(self, collection: str, paths: list[tuple[str, str]]) -> dict[str, PhotoRecord]:
        """For (sha256, path) pairs of photos perhaps held already: record each new path of a held photo
        (the same photo under two names); the held photos' records."""
        held = self.get(collection, [digest for digest, _ in paths])
        changed = {}
        for digest, path in paths:
            record = held.get(digest)
            if record is not None and path not in record.paths:
                held[digest] = changed[digest] = PhotoRecord(digest, record.paths + [path], record.face_ids, record.indexed_at)
        if changed:  # in MULTI/EXEC though alone: on a cluster a transaction is what waits for the replica
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(photos_key(collection), mapping={d: photo_json(r) for d, r in changed.items()})
            pipe.execute()
        return held


def photo_json(record: PhotoRecord) -> str:
    """A photo's record as the collection's photos hash holds it."""
    return json.dumps({"paths": record.paths, "faces": record.face_ids, "indexed_at": record.indexed_at})


def photo_from_json(photo_sha256: str, value: bytes) -> PhotoRecord:
    """A photo's record from the collection's photos hash."""
    data = json.loads(value)
    return PhotoRecord(photo_sha256, data["paths"], data["faces"], data["indexed_at"])
