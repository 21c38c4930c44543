"""The Redis schema: subjects, their templates, and a change sequence number. Every key name is here.

Redis is the system of record; FAISS collections are rebuilt from it. Writes of
one operation go in one MULTI/EXEC transaction, and with AOF `appendfsync
always` Redis answers only once they are on disk: when `add_templates`
returns, the enrollment survives a crash.

Keys (prefix `fg:`; subject ids are NFC-normalised UTF-8):
    fg:seq                         int     change sequence number, +1 per change
    fg:next:subject, fg:next:template  int  id counters
    fg:subjects                    zset    subject ids, all score 0 (listed in lexical order)
    fg:subject:<id>                hash    number, display_name, created_at
    fg:subject_number:<n>          string  subject id of a subject number
    fg:subject:<id>:templates      set     template ids
    fg:subject:<id>:photos         hash    photo sha256 -> template id (re-enrolling is a no-op)
    fg:template:<tid>              hash    subject, model, vector (float32 bytes), photo_sha256,
                                           quality (JSON), created_at

Photo libraries (`LibraryMetadata`), per collection <c>:
    fg:collections                 hash    collection name -> JSON {model, dim, created_at}
    fg:next:face                   int     face id counter (ids are unique across collections)
    fg:c:<c>:photos                hash    photo sha256 -> JSON {paths, faces: [face ids], indexed_at}
    fg:c:<c>:face:<id>             hash    photo_sha256, box (JSON), quality (JSON), vector (float32 bytes)
    fg:c:<c>:groups                hash    face id -> group id (the last clustering, plus assignments)
    fg:c:<c>:clustering            hash    threshold, min_size, created_at
    fg:c:<c>:vectors               hash    id -> float32 bytes (collections of plain vectors, model "vectors")
    fg:c:<c>:pins                  hash    face id -> person label from a user's correction
    fg:c:<c>:corrections           list    JSON of each correction with what it replaced (for undo)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import redis

PREFIX = "fg:"
SEQ = PREFIX + "seq"
NEXT_SUBJECT = PREFIX + "next:subject"
NEXT_TEMPLATE = PREFIX + "next:template"
SUBJECTS = PREFIX + "subjects"
COLLECTIONS = PREFIX + "collections"
NEXT_FACE = PREFIX + "next:face"


def subject_key(subject_id: str) -> str:
    return f"{PREFIX}subject:{subject_id}"


def subject_templates_key(subject_id: str) -> str:
    return f"{PREFIX}subject:{subject_id}:templates"


def subject_photos_key(subject_id: str) -> str:
    return f"{PREFIX}subject:{subject_id}:photos"


def subject_number_key(number: int) -> str:
    return f"{PREFIX}subject_number:{number}"


def template_key(template_id: int) -> str:
    return f"{PREFIX}template:{template_id}"


def photos_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:photos"


def face_key(collection: str, face_id: int) -> str:
    return f"{PREFIX}c:{collection}:face:{face_id}"


def groups_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:groups"


def clustering_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:clustering"


def vectors_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:vectors"


def pins_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:pins"


def corrections_key(collection: str) -> str:
    return f"{PREFIX}c:{collection}:corrections"


@dataclass(frozen=True)
class TemplateRecord:
    """One enrolled face: its vector and where it came from."""

    template_id: int
    subject_id: str
    model: str
    vector: np.ndarray
    photo_sha256: str
    quality: dict
    created_at: float


@dataclass(frozen=True)
class SubjectRecord:
    subject_id: str
    number: int
    display_name: str
    created_at: float


@dataclass(frozen=True)
class NewTemplate:
    """A template to store: the vector and its provenance."""

    model: str
    vector: np.ndarray
    photo_sha256: str
    quality: dict


class Metadata:
    """Reads and writes the schema above on one Redis connection pool."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @classmethod
    def connect(cls, url: str) -> "Metadata":
        """From a URL: redis://host:port/db or unix:///path/to/socket."""
        return cls(redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30))

    def persistence(self) -> dict:
        """The Redis server's AOF settings (empty where CONFIG is disabled, as on some managed Redis)."""
        try:
            config = self.redis.config_get("append*")
        except redis.ResponseError:
            return {}
        return {"appendonly": config.get("appendonly"), "appendfsync": config.get("appendfsync")}

    # --- reads ---------------------------------------------------------------------------

    def sequence(self) -> int:
        """The change sequence number (0 before the first change)."""
        return int(self.redis.get(SEQ) or 0)

    def subject(self, subject_id: str) -> SubjectRecord | None:
        fields = self.redis.hgetall(subject_key(subject_id))
        return self._subject(subject_id, fields) if fields else None

    def subject_ids_of(self, numbers: list[int]) -> dict[int, str]:
        """Subject ids of subject numbers, in one round trip (unknown numbers are left out)."""
        if not numbers:
            return {}
        values = self.redis.mget([subject_number_key(n) for n in numbers])
        return {n: v.decode() for n, v in zip(numbers, values) if v is not None}

    def template_ids(self, subject_id: str) -> list[int]:
        return sorted(int(t) for t in self.redis.smembers(subject_templates_key(subject_id)))

    def templates(self, subject_id: str) -> list[TemplateRecord]:
        """A subject's templates, oldest first."""
        ids = self.template_ids(subject_id)
        pipe = self.redis.pipeline(transaction=False)
        for template_id in ids:
            pipe.hgetall(template_key(template_id))
        return [self._template(t, f) for t, f in zip(ids, pipe.execute()) if f]

    def template_for_photo(self, subject_id: str, photo_sha256: str) -> int | None:
        value = self.redis.hget(subject_photos_key(subject_id), photo_sha256)
        return int(value) if value is not None else None

    def count_subjects(self) -> int:
        return int(self.redis.zcard(SUBJECTS))

    def list_subjects(self, after: str = "", limit: int = 100) -> list[str]:
        """Subject ids in lexical order, strictly after `after`."""
        start = f"({after}" if after else "-"
        return [s.decode() for s in self.redis.zrangebylex(SUBJECTS, start, "+", start=0, num=limit)]

    def everything(self, batch: int = 1000) -> Iterator[tuple[SubjectRecord, list[TemplateRecord]]]:
        """Every subject with its templates, read a page at a time in pipelined round trips (start-up rebuild)."""
        after = ""
        while True:
            page = self.list_subjects(after, batch)
            if not page:
                return
            pipe = self.redis.pipeline(transaction=False)
            for subject_id in page:
                pipe.hgetall(subject_key(subject_id))
                pipe.smembers(subject_templates_key(subject_id))
            replies = pipe.execute()
            records, template_ids = [], []
            for subject_id, fields, members in zip(page, replies[0::2], replies[1::2]):
                if fields:
                    records.append(self._subject(subject_id, fields))
                    template_ids.append(sorted(int(t) for t in members))
            pipe = self.redis.pipeline(transaction=False)
            for ids in template_ids:
                for template_id in ids:
                    pipe.hgetall(template_key(template_id))
            fetched = iter(pipe.execute())
            for record, ids in zip(records, template_ids):
                yield record, [self._template(t, f) for t, f in ((t, next(fetched)) for t in ids) if f]
            if len(page) < batch:
                return
            after = page[-1]

    @staticmethod
    def _subject(subject_id: str, fields: dict) -> SubjectRecord:
        return SubjectRecord(
            subject_id=subject_id,
            number=int(fields[b"number"]),
            display_name=fields.get(b"display_name", b"").decode(),
            created_at=float(fields[b"created_at"]),
        )

    @staticmethod
    def _template(template_id: int, fields: dict) -> TemplateRecord:
        return TemplateRecord(
            template_id=template_id,
            subject_id=fields[b"subject"].decode(),
            model=fields[b"model"].decode(),
            vector=np.frombuffer(fields[b"vector"], dtype=np.float32).copy(),
            photo_sha256=fields[b"photo_sha256"].decode(),
            quality=json.loads(fields[b"quality"]),
            created_at=float(fields[b"created_at"]),
        )

    # --- writes --------------------------------------------------------------------------

    def add_templates(
        self, subject_id: str, templates: list[NewTemplate], display_name: str = ""
    ) -> tuple[SubjectRecord, list[int]]:
        """Store templates for a subject (created if new) in one durable transaction; their ids."""
        now = time.time()
        existing = self.subject(subject_id)
        number = existing.number if existing else int(self.redis.incr(NEXT_SUBJECT))
        ids = [int(self.redis.incr(NEXT_TEMPLATE)) for _ in templates]
        pipe = self.redis.pipeline(transaction=True)
        if existing is None:
            _write_subject(pipe, subject_id, number, display_name, now)
        elif display_name:
            pipe.hset(subject_key(subject_id), "display_name", display_name)
        for template_id, template in zip(ids, templates):
            _write_template(pipe, template_id, subject_id, template, now)
        pipe.incr(SEQ)
        pipe.execute()
        record = existing or SubjectRecord(subject_id, number, display_name, now)
        return record, ids

    def delete_subject(self, subject_id: str) -> int:
        """Remove a subject and its templates in one transaction; how many templates went."""
        record = self.subject(subject_id)
        if record is None:
            return 0
        ids = self.template_ids(subject_id)
        pipe = self.redis.pipeline(transaction=True)
        for template_id in ids:
            pipe.delete(template_key(template_id))
        pipe.delete(
            subject_key(subject_id),
            subject_templates_key(subject_id),
            subject_photos_key(subject_id),
            subject_number_key(record.number),
        )
        pipe.zrem(SUBJECTS, subject_id)
        pipe.incr(SEQ)
        pipe.execute()
        return len(ids)

    def add_subjects_bulk(self, subjects: list[tuple[str, NewTemplate]]) -> None:
        """Many new one-template subjects in one round trip (bulk import, benchmarks); ids as usual."""
        now = time.time()
        first_subject = int(self.redis.incrby(NEXT_SUBJECT, len(subjects))) - len(subjects) + 1
        first_template = int(self.redis.incrby(NEXT_TEMPLATE, len(subjects))) - len(subjects) + 1
        pipe = self.redis.pipeline(transaction=True)
        for offset, (subject_id, template) in enumerate(subjects):
            _write_subject(pipe, subject_id, first_subject + offset, "", now)
            _write_template(pipe, first_template + offset, subject_id, template, now)
        pipe.incr(SEQ)
        pipe.execute()


def _write_subject(pipe, subject_id: str, number: int, display_name: str, now: float) -> None:
    pipe.hset(subject_key(subject_id), mapping={"number": number, "display_name": display_name, "created_at": now})
    pipe.set(subject_number_key(number), subject_id)
    pipe.zadd(SUBJECTS, {subject_id: 0})


def _write_template(pipe, template_id: int, subject_id: str, template: NewTemplate, now: float) -> None:
    pipe.hset(
        template_key(template_id),
        mapping={
            "subject": subject_id,
            "model": template.model,
            "vector": np.asarray(template.vector, dtype=np.float32).tobytes(),
            "photo_sha256": template.photo_sha256,
            "quality": json.dumps(template.quality),
            "created_at": now,
        },
    )
    pipe.sadd(subject_templates_key(subject_id), template_id)
    pipe.hset(subject_photos_key(subject_id), template.photo_sha256, template_id)


@dataclass(frozen=True)
class FaceRecord:
    """One indexed face of a photo library."""

    face_id: int
    photo_sha256: str
    box: list[float]
    quality: dict
    vector: np.ndarray


@dataclass(frozen=True)
class PhotoRecord:
    photo_sha256: str
    paths: list[str]
    face_ids: list[int]
    indexed_at: float


class LibraryMetadata:
    """Photo-library collections: photos by content hash, their paths and faces."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collections(self) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.redis.hgetall(COLLECTIONS).items()}

    def create_collection(self, name: str, model: str, dim: int) -> dict:
        """Register a collection if new (first writer wins); its settings."""
        info = {"model": model, "dim": dim, "created_at": time.time()}
        self.redis.hsetnx(COLLECTIONS, name, json.dumps(info))
        return json.loads(self.redis.hget(COLLECTIONS, name))

    def add_vectors(self, collection: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store plain vectors under the caller's ids (one durable transaction)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(vectors_key(collection), mapping={str(int(i)): v.tobytes() for i, v in zip(ids, vectors)})
        pipe.incr(SEQ)
        pipe.execute()

    def remove_vectors(self, collection: str, ids: np.ndarray) -> None:
        if len(ids):
            self.redis.hdel(vectors_key(collection), *[str(int(i)) for i in ids])

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

    def add_photos(self, collection: str, photos: list[tuple[str, list[str], list[tuple[list[float], dict, np.ndarray]]]]) -> list[PhotoRecord]:
        """Store new photos, given as (sha256, paths, faces as (box, quality, vector)), in one durable transaction."""
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
                        "quality": json.dumps(quality),
                        "vector": np.asarray(vector, dtype=np.float32).tobytes(),
                    },
                )
            record = PhotoRecord(photo_sha256, list(paths), ids, now)
            pipe.hset(photos_key(collection), photo_sha256, self._photo_json(record))
            records.append(record)
        if records:
            pipe.incr(SEQ)
            pipe.execute()
        return records

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

    def all_faces(self, collection: str, batch: int = 2000) -> Iterator[FaceRecord]:
        """Every face of a collection (start-up rebuild), read in pipelined batches."""
        ids = [i for value in self.redis.hvals(photos_key(collection)) for i in json.loads(value)["faces"]]
        for start in range(0, len(ids), batch):
            yield from (f for f in self.faces(collection, ids[start : start + batch]) if f is not None)

    def count_photos(self, collection: str) -> int:
        return int(self.redis.hlen(photos_key(collection)))

    def save_groups(self, collection: str, labels: dict[int, int], threshold: float, min_size: int) -> None:
        """Replace the collection's grouping (face id -> group id) in one transaction."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(groups_key(collection))
        if labels:
            pipe.hset(groups_key(collection), mapping={str(f): g for f, g in labels.items()})
        pipe.hset(clustering_key(collection), mapping={"threshold": threshold, "min_size": min_size, "created_at": time.time()})
        pipe.incr(SEQ)
        pipe.execute()

    def assign_groups(self, collection: str, labels: dict[int, int]) -> None:
        if labels:
            self.redis.hset(groups_key(collection), mapping={str(f): g for f, g in labels.items()})

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
        pipe.incr(SEQ)
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
            quality=json.loads(fields[b"quality"]),
            vector=np.frombuffer(fields[b"vector"], dtype=np.float32).copy(),
        )
