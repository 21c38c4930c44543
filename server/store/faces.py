"""The faces of indexed photos, in Redis under face ids: box, quality and vector (written with their photo)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import redis

from facegrid.encoder.quality import FaceQuality
from .schema import face_key, photos_key


@dataclass(frozen=True)
class NewFace:
    """A face found in a photo being indexed."""

    box: Sequence[float]  # x1, y1, x2, y2 in the photo's pixels
    quality: FaceQuality
    vector: np.ndarray  # float32 (dim,) of the collection's face model


@dataclass(frozen=True)
class FaceRecord:
    """One indexed face of a photo library."""

    face_id: int
    photo_sha256: str
    box: list[float]
    quality: FaceQuality
    vector: np.ndarray


def queue_face(pipe, collection: str, face_id: int, photo_sha256: str, face: NewFace) -> None:
    """The one write of a new face (a single HSET: PhotoStore.add counts the replies)."""
    pipe.hset(
        face_key(collection, face_id),
        mapping={
            "photo_sha256": photo_sha256,
            "box": json.dumps([round(float(v), 2) for v in face.box]),
            "quality": json.dumps(face.quality.as_dict()),
            "vector": np.asarray(face.vector, dtype=np.float32).tobytes(),
        },
    )


class FaceStore:
    """Reads the faces of a collection (PhotoStore.add writes them, with their photo)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def get(self, collection: str, face_ids: list[int]) -> list[FaceRecord | None]:
        """Faces by id, in one round trip; None where absent."""
        pipe = self.redis.pipeline(transaction=False)
        for face_id in face_ids:
            pipe.hgetall(face_key(collection, face_id))
        return [_face(i, f) if f else None for i, f in zip(face_ids, pipe.execute())]

    def ids(self, collection: str) -> list[int]:
        """The ids of every face of a collection: those its photos' records name."""
        return [i for value in self.redis.hvals(photos_key(collection)) for i in json.loads(value)["faces"]]

    def all(self, collection: str, batch: int = 2000) -> Iterator[FaceRecord]:
        """Every face of a collection (start-up rebuild), read in pipelined batches."""
        ids = self.ids(collection)
        for start in range(0, len(ids), batch):
            yield from (f for f in self.get(collection, ids[start : start + batch]) if f is not None)


def _face(face_id: int, fields: dict) -> FaceRecord:
    return FaceRecord(
        face_id=face_id,
        photo_sha256=fields[b"photo_sha256"].decode(),
        box=json.loads(fields[b"box"]),
        quality=FaceQuality.from_dict(json.loads(fields[b"quality"])),
        vector=np.frombuffer(fields[b"vector"], dtype=np.float32).copy(),
    )
