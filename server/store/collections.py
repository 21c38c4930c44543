"""The registry of photo-library collections in Redis: each name's model, dimension and image model."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace

import redis

from .feed import COLLECTION_CHANGED, COLLECTION_CREATED
from .library_records import LibraryRecords
from .schema import COLLECTIONS, SEQ, reembed_key


@dataclass(frozen=True)
class CollectionSettings:
    """What a collection was made with: the model of its vectors (or "vectors" for plain ones) and their dimension,
    and where it has one, the image model of its whole-photo vectors."""

    model: str
    dim: int
    created_at: float = 0.0
    image_model: str = ""  # "" where it has none
    image_dim: int = 0

    def to_json(self) -> str:
        """As the registry stores it (no image model fields where there is none)."""
        fields = asdict(self)
        if not self.image_model:
            del fields["image_model"], fields["image_dim"]
        return json.dumps(fields)

    @classmethod
    def from_json(cls, value: bytes | str) -> "CollectionSettings":
        """From the registry's JSON."""
        data = json.loads(value)
        return cls(data["model"], int(data["dim"]), float(data.get("created_at", 0.0)), data.get("image_model", ""),
                   int(data.get("image_dim", 0)))


class CollectionRegistry(LibraryRecords):
    """Which collections exist and what each holds (first writer wins); changes go into the gate's feed."""

    def all(self) -> dict[str, CollectionSettings]:
        """Every collection's settings by name."""
        return {k.decode(): CollectionSettings.from_json(v) for k, v in self.redis.hgetall(COLLECTIONS).items()}

    def get(self, name: str) -> CollectionSettings | None:
        """One collection's settings, or None."""
        value = self.redis.hget(COLLECTIONS, name)
        return CollectionSettings.from_json(value) if value is not None else None

    def create(self, name: str, model: str, dim: int, image_model: str = "", image_dim: int = 0) -> CollectionSettings:
        """Register a collection if new (first writer wins), with its image model if it has one; its settings."""
        info = CollectionSettings(model, dim, time.time(), image_model, image_dim if image_model else 0)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(COLLECTIONS, name, info.to_json())
        pipe.hget(COLLECTIONS, name)
        self.feed.publish(pipe, COLLECTION_CREATED, collection=name)  # harmless when it existed: followers re-read it
        _, stored, _ = pipe.execute()
        return CollectionSettings.from_json(stored)

    def set_image_model(self, name: str, image_model: str, image_dim: int) -> tuple[CollectionSettings, bool]:
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
                    settings = CollectionSettings.from_json(stored)
                    if settings.image_model:
                        pipe.unwatch()
                        if started:  # lost to another writer after writing our state: name the winner's model
                            self.redis.hset(reembed_key(name), "model", settings.image_model)
                        return settings, False
                    self.redis.hset(reembed_key(name), mapping={"state": "running", "model": image_model,
                                                                "started_at": time.time()})
                    started = True
                    settings = replace(settings, image_model=image_model, image_dim=image_dim)
                    pipe.multi()
                    pipe.hset(COLLECTIONS, name, settings.to_json())
                    pipe.incr(SEQ)
                    self.feed.publish(pipe, COLLECTION_CHANGED, collection=name)
                    pipe.execute()
                    return settings, True
                except redis.WatchError:
                    continue
