"""Gate subjects and their templates in Redis (key names in schema.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import redis

from facegrid.encoder.quality import FaceQuality
from .schema import NEXT_SUBJECT, NEXT_TEMPLATE, SEQ, SUBJECTS, subject_key, subject_number_key, subject_photos_key, subject_templates_key, template_key


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
    quality: FaceQuality


class SubjectStore:
    """Reads and writes the schema above on one Redis connection pool."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @classmethod
    def connect(cls, url: str) -> "SubjectStore":
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
            quality=FaceQuality.from_dict(json.loads(fields[b"quality"])),
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

    def remove_templates(self, subject_id: str, template_ids: list[int]) -> list[int]:
        """Remove exactly these templates of a subject (with their photo entries) in one transaction; those removed."""
        held = set(self.template_ids(subject_id))
        gone = [t for t in template_ids if t in held]
        if not gone:
            return []
        photos = {t: self.redis.hget(template_key(t), "photo_sha256") for t in gone}
        pipe = self.redis.pipeline(transaction=True)
        for template_id in gone:
            pipe.delete(template_key(template_id))
            pipe.srem(subject_templates_key(subject_id), template_id)
            if photos[template_id] is not None:
                pipe.hdel(subject_photos_key(subject_id), photos[template_id])
        pipe.incr(SEQ)
        pipe.execute()
        return gone

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
            "quality": json.dumps(template.quality.as_dict()),
            "created_at": now,
        },
    )
    pipe.sadd(subject_templates_key(subject_id), template_id)
    pipe.hset(subject_photos_key(subject_id), template.photo_sha256, template_id)
