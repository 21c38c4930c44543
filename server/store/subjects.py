"""Gate subjects and their templates in Redis (key names in schema.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import redis

from facegrid.encoder.quality import FaceQuality
from .connection import connect
from .feed import SUBJECT_CHANGED, SUBJECT_FORGOTTEN, SUBJECT_UPDATED, SUBJECTS_IMPORTED, ChangeFeed
from .pseudonyms import Pseudonyms
from .schema import (NEXT_SUBJECT, NEXT_TEMPLATE, SEQ, SUBJECTS, skeleton_key, subject_key, subject_number_key, subject_photos_key,
                     subject_templates_key, template_key)


@dataclass(frozen=True)
class TemplateRecord:
    """One enrolled face: its vector and where it came from."""

    template_id: int
    subject_id: str
    model: str
    vector: np.ndarray
    photo_sha256: str
    quality: FaceQuality
    created_at: float


ACTIVE, SUSPENDED = "active", "suspended"  # a subject's status (the subject hash's `status`; absent: active)


@dataclass(frozen=True)
class SubjectRecord:
    """One subject as stored: id, number, name, groups, status and expiry."""

    subject_id: str
    number: int
    display_name: str
    created_at: float
    groups: tuple[str, ...] = ()  # sorted; the doors whose groups include one of these admit the subject
    status: str = ACTIVE  # ACTIVE or SUSPENDED
    expires_at: float = 0.0  # Unix time from which every door denies the subject; 0: never
    status_reason: str = ""  # why the status was set, as its setter said (e.g. a roster sync); "" : not said


@dataclass(frozen=True)
class SubjectUpdate:
    """What UpdateSubject changes; None leaves a field as it is. `status_reason` goes with a status set."""

    groups: tuple[str, ...] | None = None
    status: str | None = None
    expires_at: float | None = None
    status_reason: str = ""


@dataclass(frozen=True)
class NewTemplate:
    """A template to store: the vector and its provenance."""

    model: str
    vector: np.ndarray
    photo_sha256: str
    quality: FaceQuality


@dataclass(frozen=True)
class StoredTemplates:
    """What `add_templates` did: per template given, its id and whether it is new."""

    subject: SubjectRecord
    template_ids: list[int]  # one per template given, in order
    created: list[bool]  # False: its photo was enrolled already (the id is the earlier template's)
    total: int  # templates the subject has now
    new_subject: bool


class SkeletonTaken(Exception):
    """A new subject's id looks like an enrolled one's: `owner` holds its skeleton (domain/confusables.py)."""

    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner


class SubjectStore:
    """Reads and writes the schema above on one Redis connection pool; every change goes into the feed.

    The feed names a subject by its number, never its id: a stream keeps an entry's bytes until its whole node is
    trimmed, so an id written there would outlive the subject's Forget. Followers read the id from the number's key."""

    def __init__(self, client: redis.Redis, feed: ChangeFeed | None = None, pseudonyms: Pseudonyms | None = None) -> None:
        self.redis = client
        self.feed = feed or ChangeFeed(client)
        self.pseudonyms = pseudonyms or Pseudonyms(client)

    @classmethod
    def connect(cls, url: str) -> "SubjectStore":
        """From a URL: redis://host:port/db or unix:///path/to/socket."""
        return cls(connect(url))

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
        """The record of a subject, or None when it is not enrolled."""
        fields = self.redis.hgetall(subject_key(subject_id))
        return self._subject(subject_id, fields) if fields else None

    def subject_ids_of(self, numbers: list[int]) -> dict[int, str]:
        """Subject ids of subject numbers, in one round trip (unknown numbers are left out)."""
        if not numbers:
            return {}
        values = self.redis.mget([subject_number_key(n) for n in numbers])
        return {n: v.decode() for n, v in zip(numbers, values) if v is not None}

    def skeleton_owner(self, digest: str) -> str | None:
        """The subject id holding a skeleton (by its digest), or None."""
        owner = self.redis.get(skeleton_key(digest))
        return owner.decode() if owner is not None else None

    def template_ids(self, subject_id: str) -> list[int]:
        """The ids of a subject's templates, in order."""
        return sorted(int(t) for t in self.redis.smembers(subject_templates_key(subject_id)))

    def templates(self, subject_id: str) -> list[TemplateRecord]:
        """A subject's templates, oldest first."""
        ids = self.template_ids(subject_id)
        pipe = self.redis.pipeline(transaction=False)
        for template_id in ids:
            pipe.hgetall(template_key(template_id))
        return [self._template(t, f) for t, f in zip(ids, pipe.execute()) if f]

    def template_for_photo(self, subject_id: str, photo_sha256: str, model: str) -> int | None:
        """The subject's template of this photo made with this model, if any."""
        value = self.redis.hget(subject_photos_key(subject_id), photo_sha256)
        return self._by_model({photo_sha256: value} if value is not None else {}).get((photo_sha256, model))

    def _by_model(self, photos: dict) -> dict[tuple[str, str], int]:
        """(photo sha256, model) -> template id, from photos-hash fields and values (template ids,
        comma-separated: a photo has one template per model it was enrolled with)."""
        ids = {(k.decode() if isinstance(k, bytes) else k): [int(t) for t in v.split(b",")] for k, v in photos.items()}
        pipe = self.redis.pipeline(transaction=False)
        flat = [t for tids in ids.values() for t in tids]
        for template_id in flat:
            pipe.hget(template_key(template_id), "model")
        models = {t: m.decode() for t, m in zip(flat, pipe.execute() if flat else []) if m is not None}
        return {(digest, models[t]): t for digest, tids in ids.items() for t in tids if t in models}

    def count_subjects(self) -> int:
        """How many subjects are enrolled."""
        return int(self.redis.zcard(SUBJECTS))

    def list_subjects(self, after: str = "", limit: int = 100, prefix: str = "") -> list[str]:
        """Subject ids in lexical order, strictly after `after`; with `prefix`, only the ids starting with it."""
        start = f"({after}" if after else f"[{prefix}" if prefix else "-"
        # No UTF-8 byte is 0xff: every id with the prefix sorts below prefix + 0xff.
        end = b"[" + prefix.encode() + b"\xff" if prefix else "+"
        return [s.decode() for s in self.redis.zrangebylex(SUBJECTS, start, end, start=0, num=limit)]

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
        groups = fields.get(b"groups", b"").decode()
        return SubjectRecord(
            subject_id=subject_id,
            number=int(fields[b"number"]),
            display_name=fields.get(b"display_name", b"").decode(),
            created_at=float(fields[b"created_at"]),
            groups=tuple(groups.split(",")) if groups else (),
            status=fields.get(b"status", ACTIVE.encode()).decode(),
            expires_at=float(fields.get(b"expires_at", 0) or 0),
            status_reason=fields.get(b"status_reason", b"").decode(),
        )

    @staticmethod
    def _template(template_id: int, fields: dict) -> TemplateRecord:
        return TemplateRecord(
            template_id=template_id,
            subject_id=fields[b"subject"].decode(),
            model=fields[b"model"].decode(),
            vector=np.frombuffer(fields[b"vector"], dtype=np.float32).copy(),
            photo_sha256=fields[b"photo_sha256"].decode(),
            quality=FaceQuality.from_dict(json.loads(fields[b"quality"])),
            created_at=float(fields[b"created_at"]),
        )

    # --- writes --------------------------------------------------------------------------

    def add_templates(self, subject_id: str, templates: list[NewTemplate], display_name: str = "",
                      groups: tuple[str, ...] = (), skeleton: str = "") -> StoredTemplates:
        """Store templates for a subject (created if new) in one durable transaction, one per photo and model;
        `groups` are added to those the subject has (checked names, see domain/groups.py). A new subject claims
        `skeleton` (the digest of its id's look-alike skeleton): SkeletonTaken when another subject holds it.

        Atomic against every other writer, on this server or another: the subject's keys (and the skeleton's)
        are WATCHed while its number and known photos are read, and the transaction is retried if
        they change before it commits. So two first enrollments of one id make one subject, two of
        look-alike ids one subject and one refusal, and a photo enrolled twice at once (a retry racing
        the original) makes one template.
        """
        keys = (subject_key(subject_id), subject_templates_key(subject_id), subject_photos_key(subject_id))
        claimed = skeleton_key(skeleton) if skeleton else None
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*keys, *([claimed] if claimed else []))
                    fields = pipe.hgetall(keys[0])
                    if claimed and not fields:
                        owner = pipe.get(claimed)
                        if owner is not None and owner.decode() != subject_id:
                            pipe.unwatch()
                            raise SkeletonTaken(owner.decode())
                    asked = {t.photo_sha256 for t in templates}
                    photos = {k: v for k, v in pipe.hgetall(keys[2]).items() if k.decode() in asked}
                    held = int(pipe.scard(keys[1]))
                    # Template hashes never change once written, so their models may be read unwatched.
                    known = self._by_model(photos)
                    fresh: dict[tuple[str, str], NewTemplate] = {}  # one per photo and model
                    for template in templates:
                        if (template.photo_sha256, template.model) not in known:
                            fresh.setdefault((template.photo_sha256, template.model), template)
                    existing = self._subject(subject_id, fields) if fields else None
                    joined = _joined(existing.groups if existing else (), groups)
                    regrouped = existing is not None and joined != existing.groups
                    if existing is not None and not fresh and not display_name and not regrouped:
                        pipe.unwatch()
                        ids = [known[t.photo_sha256, t.model] for t in templates]
                        return StoredTemplates(existing, ids, [False] * len(templates), held, False)
                    # Ids are taken outside the transaction: one retried wastes them, which is harmless.
                    number = existing.number if existing else int(self.redis.incr(NEXT_SUBJECT))
                    first = int(self.redis.incrby(NEXT_TEMPLATE, len(fresh))) - len(fresh) + 1 if fresh else 0
                    new_ids = {key: first + i for i, key in enumerate(fresh)}
                    now = time.time()
                    pipe.multi()
                    if existing is None:
                        _write_subject(pipe, subject_id, number, display_name, now, joined)
                        self.pseudonyms.remember(pipe, subject_id)
                        if claimed:
                            pipe.set(claimed, subject_id)
                            pipe.hset(keys[0], "skeleton", skeleton)
                    elif display_name:
                        pipe.hset(keys[0], "display_name", display_name)
                    if regrouped:
                        pipe.hset(keys[0], "groups", ",".join(joined))
                    for key, template in fresh.items():
                        _write_template(pipe, new_ids[key], subject_id, template, now)
                    by_photo: dict[bytes, list[bytes]] = {}
                    for (digest, _), template_id in new_ids.items():
                        by_photo.setdefault(digest.encode(), photos.get(digest.encode(), b"").split(b",")).append(str(template_id).encode())
                    if by_photo:
                        pipe.hset(keys[2], mapping={d: b",".join(t for t in tids if t) for d, tids in by_photo.items()})
                    pipe.incr(SEQ)
                    self.feed.publish(pipe, SUBJECT_CHANGED, number=number)
                    pipe.execute()
                except redis.WatchError:
                    continue  # another writer changed this subject meanwhile: read it again
                break
        record = SubjectRecord(subject_id, number, display_name or (existing.display_name if existing else ""),
                               existing.created_at if existing else now, joined,
                               existing.status if existing else ACTIVE, existing.expires_at if existing else 0.0)
        ids, created, seen = [], [], set()
        for template in templates:
            key = (template.photo_sha256, template.model)
            ids.append(known.get(key, new_ids.get(key)))
            created.append(key in new_ids and key not in seen)
            seen.add(key)
        return StoredTemplates(record, ids, created, held + len(fresh), existing is None)

    def update_subject(self, subject_id: str, update: SubjectUpdate) -> SubjectRecord | None:
        """Set a subject's groups, status or expiry (those given) in one transaction; its record after, or None when
        there is no such subject. Nothing caches these (each Pass reads them), so every server sees the change at once;
        the feed entry is for followers that may."""
        key = subject_key(subject_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    number = pipe.hget(key, "number")
                    if number is None:
                        pipe.unwatch()
                        return None
                    changes: dict[str, str] = {}
                    if update.groups is not None:
                        changes["groups"] = ",".join(_joined((), update.groups))
                    if update.status is not None:
                        changes["status"] = update.status
                        changes["status_reason"] = update.status_reason  # a status set without one clears the last
                    if update.expires_at is not None:
                        changes["expires_at"] = repr(float(update.expires_at))
                    pipe.multi()
                    if changes:
                        pipe.hset(key, mapping=changes)
                        pipe.incr(SEQ)
                        self.feed.publish(pipe, SUBJECT_UPDATED, number=int(number))
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        return self.subject(subject_id)

    def delete_subject(self, subject_id: str, only_if_empty: bool = False) -> tuple[SubjectRecord, int] | None:
        """Remove a subject and its templates in one transaction: its record and how many templates
        went (None if there was no such subject, or with `only_if_empty` one that has templates).
        Retried if another writer changes it meanwhile."""
        keys = (subject_key(subject_id), subject_templates_key(subject_id))
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*keys)
                    fields = pipe.hgetall(keys[0])
                    if not fields:
                        pipe.unwatch()
                        return None
                    record = self._subject(subject_id, fields)
                    ids = [int(t) for t in pipe.smembers(keys[1])]
                    if ids and only_if_empty:
                        pipe.unwatch()
                        return None
                    # Its skeleton goes with it, where it holds it (a look-alike may be enrolled again then).
                    claimed = skeleton_key(fields[b"skeleton"].decode()) if b"skeleton" in fields else None
                    if claimed:
                        pipe.watch(claimed)
                        claimed = claimed if pipe.get(claimed) == subject_id.encode() else None
                    pipe.multi()
                    for template_id in ids:
                        pipe.delete(template_key(template_id))
                    if claimed:
                        pipe.delete(claimed)
                    pipe.delete(keys[0], keys[1], subject_photos_key(subject_id), subject_number_key(record.number))
                    pipe.zrem(SUBJECTS, subject_id)
                    self.pseudonyms.forget(pipe, subject_id, time.time())
                    pipe.incr(SEQ)
                    self.feed.publish(pipe, SUBJECT_FORGOTTEN, number=record.number)
                    pipe.execute()
                    return record, len(ids)
                except redis.WatchError:
                    continue

    def remove_templates(self, subject_id: str, template_ids: list[int]) -> list[int]:
        """Remove exactly these templates of a subject (with their photo entries) in one transaction; those
        removed. Retried if another writer changes the subject meanwhile."""
        keys = (subject_key(subject_id), subject_templates_key(subject_id), subject_photos_key(subject_id))
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(*keys)
                    fields = pipe.hgetall(keys[0])
                    held = {int(t) for t in pipe.smembers(keys[1])}
                    gone = [t for t in template_ids if t in held]
                    if not fields or not gone:
                        pipe.unwatch()
                        return []
                    photos = pipe.hgetall(keys[2])
                    left = {digest: [t for t in value.split(b",") if t and int(t) not in gone] for digest, value in photos.items()}
                    pipe.multi()
                    for template_id in gone:
                        pipe.delete(template_key(template_id))
                        pipe.srem(keys[1], template_id)
                    for digest, tids in left.items():
                        if not tids:
                            pipe.hdel(keys[2], digest)
                        elif len(tids) != len(photos[digest].split(b",")):
                            pipe.hset(keys[2], digest, b",".join(tids))
                    pipe.incr(SEQ)
                    self.feed.publish(pipe, SUBJECT_CHANGED, number=int(fields[b"number"]))
                    pipe.execute()
                    return gone
                except redis.WatchError:
                    continue

    def set_skeletons(self, digest_of: Callable[[str], str], batch: int = 1000) -> list[tuple[str, str]]:
        """Give every subject the skeleton `digest_of(subject_id)` names (subjects enrolled before skeletons, or by a
        bulk import, or under an older skeleton map); idempotent, two round trips per `batch` subjects where nothing
        is missing. A skeleton already held by another subject stays with it: the pairs (subject, the holder) of
        those are returned."""
        collisions: list[tuple[str, str]] = []
        after = ""
        while True:
            page = self.list_subjects(after=after, limit=batch)
            if not page:
                return collisions
            after = page[-1]
            digests = [digest_of(subject_id) for subject_id in page]
            with self.redis.pipeline(transaction=False) as pipe:
                for subject_id, digest in zip(page, digests):
                    pipe.hget(subject_key(subject_id), "skeleton")
                    pipe.get(skeleton_key(digest))
                found = pipe.execute()
            for subject_id, digest, current, owner in zip(page, digests, found[0::2], found[1::2]):
                if current is not None and current.decode() == digest and owner is not None:
                    if owner.decode() != subject_id:
                        collisions.append((subject_id, owner.decode()))
                    continue
                holder = self._claim_skeleton(subject_id, digest)
                if holder not in (None, subject_id):
                    collisions.append((subject_id, holder))

    def _claim_skeleton(self, subject_id: str, digest: str) -> str | None:
        """Set one existing subject's skeleton (releasing an older one it held); who holds the skeleton after (None:
        the subject is gone)."""
        key, claimed = subject_key(subject_id), skeleton_key(digest)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key, claimed)
                    current = pipe.hget(key, "skeleton")
                    if not pipe.exists(key):
                        pipe.unwatch()
                        return None  # forgotten meanwhile: no skeleton for a subject that is not there
                    old = skeleton_key(current.decode()) if current is not None and current.decode() != digest else None
                    if old:
                        pipe.watch(old)
                        old = old if pipe.get(old) == subject_id.encode() else None
                    owner = pipe.get(claimed)
                    pipe.multi()
                    if old:  # the map changed since: the old skeleton is let go
                        pipe.delete(old)
                    if owner is None:
                        pipe.set(claimed, subject_id)
                    pipe.hset(key, "skeleton", digest)
                    pipe.execute()
                    return owner.decode() if owner is not None else subject_id
                except redis.WatchError:
                    continue

    def add_subjects_bulk(self, subjects: list[tuple[str, NewTemplate]]) -> None:
        """Many new one-template subjects in one round trip (bulk import, benchmarks); ids as usual.
        Other servers rebuild their gate index from Redis when they see it."""
        now = time.time()
        first_subject = int(self.redis.incrby(NEXT_SUBJECT, len(subjects))) - len(subjects) + 1
        first_template = int(self.redis.incrby(NEXT_TEMPLATE, len(subjects))) - len(subjects) + 1
        pipe = self.redis.pipeline(transaction=True)
        for offset, (subject_id, template) in enumerate(subjects):
            _write_subject(pipe, subject_id, first_subject + offset, "", now)
            self.pseudonyms.remember(pipe, subject_id)
            _write_template(pipe, first_template + offset, subject_id, template, now)
            pipe.hset(subject_photos_key(subject_id), template.photo_sha256, first_template + offset)
        pipe.incr(SEQ)
        self.feed.publish(pipe, SUBJECTS_IMPORTED, count=len(subjects))
        pipe.execute()


def _joined(held: tuple[str, ...], added) -> tuple[str, ...]:
    """Groups held plus those added, sorted, each once."""
    return tuple(sorted(set(held) | set(added)))


def _write_subject(pipe, subject_id: str, number: int, display_name: str, now: float, groups: tuple[str, ...] = ()) -> None:
    fields = {"number": number, "display_name": display_name, "created_at": now}
    if groups:
        fields["groups"] = ",".join(groups)
    pipe.hset(subject_key(subject_id), mapping=fields)
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
            "quality": json.dumps(template.quality.as_dict()),
            "created_at": now,
        },
    )
    pipe.sadd(subject_templates_key(subject_id), template_id)
