"""Photo-library collections in Redis: photos by content hash, faces, groups, corrections, plain vectors."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import redis

from facegrid.encoder.quality import FaceQuality
from .feed import (COLLECTION_CHANGED, COLLECTION_CREATED, FACES_ADDED, GROUPING_CHANGED, PHOTO_VECTORS_ADDED, VECTORS_ADDED,
                   VECTORS_REMOVED, ChangeFeed)
from .locks import RedisLock
from .schema import (COLLECTIONS, NEXT_FACE, NEXT_PHOTO, SEQ, clustering_key, collection_seq_key, corrections_key, face_key, grouping_lock_key,
                     grouping_version_key, groups_key, photo_ids_key, photo_key, photos_key, pins_key, reembed_key,
                     reembed_lock_key, reembed_missing_key, vectors_key)

# A new photo as add_photos takes it: (sha256, paths, faces as (box, FaceQuality, vector)[, whole-photo vector or None]).
NewPhoto = tuple


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


@dataclass(frozen=True)
class PhotoVectorRecord:
    """One photo's whole-photo vector (of its collection's image model) under its photo id."""

    photo_id: int
    photo_sha256: str
    vector: np.ndarray


@dataclass(frozen=True)
class ReembedState:
    """Where a collection's background embedding of already-indexed photos stands."""

    state: str  # "running", "done"; "" where none was ever started
    model: str
    started_at: float
    finished_at: float
    missing: int  # photos none of whose stored paths still holds them


class LibraryStore:
    """Photo-library collections: photos by content hash, their paths and faces; every change goes into the feed."""

    def __init__(self, client: redis.Redis, feed: ChangeFeed | None = None) -> None:
        self.redis = client
        self.feed = feed or ChangeFeed(client)

    def _publish(self, pipe, kind: str, collection: str, **fields) -> None:
        """A feed entry of a change of the collection's own keys: into its stream, in its slot."""
        self.feed.publish(pipe, kind, stream=self.feed.collection_stream(collection), collection=collection, **fields)

    def _take_ids(self, counter: str, count: int) -> int:
        """The first of `count` new ids from a counter (0 for none).

        In a transaction of its own: the counters live in the gate's slot, the records made with the ids in
        the collection's, so on a cluster the transaction's WAIT is what keeps a failover of the gate's master
        from handing out ids again that committed records already hold."""
        if not count:
            return 0
        pipe = self.redis.pipeline(transaction=True)
        pipe.incrby(counter, count)
        return int(pipe.execute()[0]) - count + 1

    def collections(self) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.redis.hgetall(COLLECTIONS).items()}

    def collection(self, name: str) -> dict | None:
        """One collection's settings, or None."""
        value = self.redis.hget(COLLECTIONS, name)
        return json.loads(value) if value is not None else None

    def create_collection(self, name: str, model: str, dim: int, image_model: str = "", image_dim: int = 0) -> dict:
        """Register a collection if new (first writer wins), with its image model if it has one; its settings."""
        info = {"model": model, "dim": dim, "created_at": time.time()}
        if image_model:
            info.update(image_model=image_model, image_dim=image_dim)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(COLLECTIONS, name, json.dumps(info))
        pipe.hget(COLLECTIONS, name)
        self.feed.publish(pipe, COLLECTION_CREATED, collection=name)  # harmless when it existed: followers re-read it
        _, stored, _ = pipe.execute()
        return json.loads(stored)

    def set_image_model(self, name: str, image_model: str, image_dim: int) -> tuple[dict, bool]:
        """Give an existing collection an image model unless it has one (first writer wins), and start its
        re-embedding; (its settings, whether this call set it).

        The settings live in the registry ({fg}) and the re-embedding's state in the collection's slot, so
        they are two writes (one transaction may not span slots): the state "running" first, then the
        settings. A crash between leaves a state the re-embedder ignores (it needs the image model too),
        never an image model whose re-embedding did not start."""
        started = False
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(COLLECTIONS)
                    stored = pipe.hget(COLLECTIONS, name)
                    if stored is None:
                        pipe.unwatch()
                        raise LookupError(name)
                    settings = json.loads(stored)
                    if settings.get("image_model"):
                        pipe.unwatch()
                        if started:  # lost to another writer after writing our state: name the winner's model
                            self.redis.hset(reembed_key(name), "model", settings["image_model"])
                        return settings, False
                    self.redis.hset(reembed_key(name), mapping={"state": "running", "model": image_model,
                                                                "started_at": time.time()})
                    started = True
                    settings.update(image_model=image_model, image_dim=image_dim)
                    pipe.multi()
                    pipe.hset(COLLECTIONS, name, json.dumps(settings))
                    pipe.incr(SEQ)
                    self.feed.publish(pipe, COLLECTION_CHANGED, collection=name)
                    pipe.execute()
                    return settings, True
                except redis.WatchError:
                    continue

    def add_vectors(self, collection: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store plain vectors under the caller's ids (one durable transaction)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(vectors_key(collection), mapping={str(int(i)): v.tobytes() for i, v in zip(ids, vectors)})
        pipe.incr(collection_seq_key(collection))
        self._publish(pipe, VECTORS_ADDED, collection, ids=[int(i) for i in ids])
        pipe.execute()

    def remove_vectors(self, collection: str, ids: np.ndarray) -> None:
        if len(ids):
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(vectors_key(collection), *[str(int(i)) for i in ids])
            pipe.incr(collection_seq_key(collection))
            self._publish(pipe, VECTORS_REMOVED, collection, ids=[int(i) for i in ids])
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

    def add_photos(self, collection: str, photos: list[NewPhoto]) -> list[PhotoRecord | None]:
        """Store new photos, given as (sha256, paths, faces as (box, FaceQuality, vector)[, whole-photo vector]),
        in one durable transaction; each one's record, or None where another server stored that photo first
        (then its faces and photo vector from here are deleted again: one photo, one set of faces)."""
        count = sum(len(photo[2]) for photo in photos)
        next_id = self._take_ids(NEXT_FACE, count)
        with_vector = [photo for photo in photos if len(photo) > 3 and photo[3] is not None]
        next_photo = self._take_ids(NEXT_PHOTO, len(with_vector))
        now = time.time()
        records, photo_ids = [], []
        pipe = self.redis.pipeline(transaction=True)
        for photo in photos:
            photo_sha256, paths, faces = photo[0], photo[1], photo[2]
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
            photo_id = None
            if len(photo) > 3 and photo[3] is not None:
                photo_id, next_photo = next_photo, next_photo + 1
                self._queue_photo_vector(pipe, collection, photo_id, photo_sha256, photo[3])
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
                self._drop_photo_vector(collection, photo_id, record.photo_sha256)
        return stored

    def _ours_after_all(self, collection: str, records: list[PhotoRecord], stored: list[PhotoRecord | None]) -> list:
        """`stored`, with each photo whose HSETNX said "held already" counted ours where the held record names our
        own faces: the client ran the transaction twice (a Redis Cluster client retries one whose reply was lost
        in a failover), and the first run stored it."""
        doubtful = [r for r, kept in zip(records, stored) if kept is None]
        if not doubtful:
            return stored
        held = self.photos(collection, [r.photo_sha256 for r in doubtful])
        ours = {r.photo_sha256 for r in doubtful if r.photo_sha256 in held and held[r.photo_sha256].face_ids == r.face_ids}
        return [r if kept is None and r.photo_sha256 in ours else kept for r, kept in zip(records, stored)]

    @staticmethod
    def _queue_photo_vector(pipe, collection: str, photo_id: int, photo_sha256: str, vector: np.ndarray) -> None:
        """The two writes of a photo vector: its id for the photo (first writer wins), and the vector under the id."""
        pipe.hsetnx(photo_ids_key(collection), photo_sha256, photo_id)
        pipe.hset(photo_key(collection, photo_id), mapping={"photo_sha256": photo_sha256,
                                                            "vector": np.asarray(vector, dtype=np.float32).tobytes()})

    def _drop_photo_vector(self, collection: str, photo_id: int, photo_sha256: str) -> None:
        """Delete a photo vector that lost to another writer's (its id is not the photo's)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(photo_key(collection, photo_id))
        pipe.eval("if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) "
                  "else return 0 end", 1, photo_ids_key(collection), photo_sha256, str(photo_id))
        pipe.execute()

    def add_photo_vectors(self, collection: str, vectors: list[tuple[str, np.ndarray]], missing: dict[str, str]) -> list[int | None]:
        """Whole-photo vectors of photos already held (the background re-embedding), and the photos that
        could not be read again (sha256 -> why), in one durable transaction. Each photo's new id, or None
        where the photo had a vector already (indexed meanwhile, or embedded by another server)."""
        ids: list[int | None] = []
        pipe = self.redis.pipeline(transaction=True)
        if vectors:
            first = self._take_ids(NEXT_PHOTO, len(vectors))
            for offset, (photo_sha256, vector) in enumerate(vectors):
                self._queue_photo_vector(pipe, collection, first + offset, photo_sha256, vector)
                ids.append(first + offset)
            self._publish(pipe, PHOTO_VECTORS_ADDED, collection, ids=ids)
        if missing:
            pipe.hset(reembed_missing_key(collection), mapping=missing)
        if not vectors and not missing:
            return []
        pipe.incr(collection_seq_key(collection))
        replies = pipe.execute()
        # HSETNX said "held": another writer's vector, or ours from a first run of a transaction the client retried.
        owners = self.photo_ids(collection, [vectors[o][0] for o in range(len(ids)) if not replies[2 * o]])
        kept: list[int | None] = []
        for offset, photo_id in enumerate(ids):
            if replies[2 * offset] or owners.get(vectors[offset][0]) == photo_id:
                kept.append(photo_id)
            else:
                self.redis.delete(photo_key(collection, photo_id))
                kept.append(None)
        return kept

    def photo_vectors(self, collection: str, photo_ids: list[int]) -> list[PhotoVectorRecord | None]:
        """Photo vectors by id, in one round trip; None where absent or not the photo's own (lost to another writer)."""
        pipe = self.redis.pipeline(transaction=False)
        for photo_id in photo_ids:
            pipe.hgetall(photo_key(collection, photo_id))
        found = [PhotoVectorRecord(i, f[b"photo_sha256"].decode(), np.frombuffer(f[b"vector"], dtype=np.float32).copy())
                 if f else None for i, f in zip(photo_ids, pipe.execute())]
        owners = self.photo_ids(collection, [r.photo_sha256 for r in found if r is not None])
        return [r if r is not None and owners.get(r.photo_sha256) == r.photo_id else None for r in found]

    def photo_ids(self, collection: str, digests: list[str]) -> dict[str, int]:
        """The photo ids of those of these photos that have a whole-photo vector."""
        unique = sorted(set(digests))
        if not unique:
            return {}
        values = self.redis.hmget(photo_ids_key(collection), unique)
        return {d: int(v) for d, v in zip(unique, values) if v is not None}

    def photo_shas(self, collection: str, photo_ids: list[int]) -> list[str | None]:
        """The sha256 of the photo under each photo id (None where there is none), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for photo_id in photo_ids:
            pipe.hget(photo_key(collection, photo_id), "photo_sha256")
        return [v.decode() if v is not None else None for v in pipe.execute()]

    def all_photo_vectors(self, collection: str, batch: int = 2000) -> Iterator[PhotoVectorRecord]:
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

    def count_photo_vectors(self, collection: str) -> int:
        return int(self.redis.hlen(photo_ids_key(collection)))

    def photos_without_vectors(self, collection: str, batch: int = 500) -> Iterator[list[PhotoRecord]]:
        """Batches of the collection's photos that have no photo vector and are not counted missing (a scan:
        photos indexed meanwhile may or may not be seen; they get their vector when indexed)."""
        for chunk in _chunks(self.redis.hscan_iter(photos_key(collection), count=batch), batch):
            digests = [d.decode() for d, _ in chunk]
            pipe = self.redis.pipeline(transaction=False)
            pipe.hmget(photo_ids_key(collection), digests)
            pipe.hmget(reembed_missing_key(collection), digests)
            with_vector, missing = pipe.execute()
            todo = [self._photo(d, v) for d, (_, v), has, gone in zip(digests, chunk, with_vector, missing)
                    if has is None and gone is None]
            if todo:
                yield todo

    def reembed_state(self, collection: str) -> ReembedState:
        """Where the collection's background re-embedding stands."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(reembed_key(collection))
        pipe.hlen(reembed_missing_key(collection))
        fields, missing = pipe.execute()
        fields = {k.decode(): v.decode() for k, v in fields.items()}
        return ReembedState(fields.get("state", ""), fields.get("model", ""), float(fields.get("started_at", 0)),
                            float(fields.get("finished_at", 0)), int(missing))

    def retry_missing(self, collection: str) -> int:
        """Look again for the photos counted missing (put back where they were, say): the job runs again; how many."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hlen(reembed_missing_key(collection))
        pipe.delete(reembed_missing_key(collection))
        pipe.hset(reembed_key(collection), mapping={"state": "running", "started_at": time.time()})
        return int(pipe.execute()[0])

    def finish_reembed(self, collection: str) -> None:
        pipe = self.redis.pipeline(transaction=True)  # a transaction: on a cluster it waits for the replica
        pipe.hset(reembed_key(collection), mapping={"state": "done", "finished_at": time.time()})
        pipe.execute()

    def reembed_lock(self, collection: str) -> RedisLock:
        """The lock of the one server that re-embeds a collection (wait 0: another server holding it does the work)."""
        return RedisLock(self.redis, reembed_lock_key(collection), wait=0.0)

    def add_paths(self, collection: str, paths: list[tuple[str, str]]) -> dict[str, PhotoRecord]:
        """For (sha256, path) pairs of photos perhaps held already: record each new path of a held photo
        (the same photo under two names); the held photos' records."""
        held = self.photos(collection, [digest for digest, _ in paths])
        changed = {}
        for digest, path in paths:
            record = held.get(digest)
            if record is not None and path not in record.paths:
                held[digest] = changed[digest] = PhotoRecord(digest, record.paths + [path], record.face_ids, record.indexed_at)
        if changed:  # in MULTI/EXEC though alone: on a cluster a transaction is what waits for the replica
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(photos_key(collection), mapping={d: self._photo_json(r) for d, r in changed.items()})
            pipe.execute()
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
        pipe.incr(collection_seq_key(collection))
        self._publish(pipe, GROUPING_CHANGED, collection)
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
        pipe.incr(collection_seq_key(collection))
        self._publish(pipe, GROUPING_CHANGED, collection)
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


def _chunks(items, size: int):
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
