"""Photo libraries: index every face of many photos, search them (plain library code, no gRPC).

Redis holds photos (by content hash, with every path they were seen under) and
faces; one FAISS collection per library collection holds the face vectors under
their face ids and is rebuilt from Redis on start. Bulk indexing runs in two
steps so embedding can overlap with storing: `prepare` hashes a batch of photos
and sets aside those already held; `store` writes the new ones' faces. A batch
is written in one transaction, so a run killed at any point leaves each photo
either fully indexed or absent, and the next run picks up where it stopped.
Grouping by person lives in `grouping.py`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from facegrid.encoder.errors import EncoderError
from facegrid.encoder.pipeline import Face, FacePipeline
from facegrid.index.calibration import Calibration
from facegrid.index.cluster import KMeansResult, kmeans
from facegrid.index.collection import Collection
from facegrid.index.errors import CollectionNotFound, VectorError

from .grouping import PersonGroups
from .metadata import FaceRecord, LibraryMetadata, PhotoRecord

_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DEFAULT_COLLECTION = "photos"
PLAIN_VECTORS = "vectors"  # the "model" of a collection of caller-supplied vectors
MAX_DIM = 4096


def check_collection_name(name: str) -> str:
    """1 to 64 characters: letters, digits and . _ - (ValueError otherwise)."""
    name = name or DEFAULT_COLLECTION
    if not _COLLECTION_NAME.match(name):
        raise VectorError(f"collection name {name[:80]!r} is not 1-64 letters, digits, '.', '_' or '-'")
    return name


@dataclass
class IndexOutcome:
    path: str
    photo_sha256: str
    already_indexed: bool = False
    faces: int = 0
    error: Exception | None = None


@dataclass(frozen=True)
class Hit:
    """A search result: the id it was stored under, and for a face its record and photo."""

    score: float
    id: int
    face: FaceRecord | None = None  # None in a collection of plain vectors
    photo: PhotoRecord | None = None


@dataclass
class IncomingPhoto:
    """A photo of a bulk-indexing batch: its outcome so far, and its bytes while it still needs faces."""

    collection: str
    outcome: IndexOutcome
    photo: bytes = b""  # set only when the photo is new and must be embedded
    faces: list[Face] = field(default_factory=list)
    extra_paths: list[str] = field(default_factory=list)  # the same photo again, later in its batch

    @property
    def needs_faces(self) -> bool:
        return bool(self.photo)


class CollectionExists(ValueError):
    """The name is taken by a collection of another kind or dimension."""


class Library:
    """Face collections of a photo library, all embedded with the server's model."""

    def __init__(self, metadata: LibraryMetadata, pipeline: FacePipeline, calibration: Calibration) -> None:
        self.metadata = metadata
        self.pipeline = pipeline
        self.calibration = calibration
        self.model = pipeline.model.name
        self.collections: dict[str, Collection] = {}
        self._plain: dict[str, bool] = {}  # collection -> holds plain vectors (not faces)
        self.lock = threading.Lock()  # guards collections and every multi-step Redis change
        # Naming a group enrolls it at the gate: namer(subject_id, faces) -> whether it created the subject;
        # unnamer(subject_id) takes that back.
        self.namer: Callable[[str, list[FaceRecord]], bool] | None = None
        self.unnamer: Callable[[str], None] | None = None
        self.people = PersonGroups(self)

    def rebuild(self) -> dict[str, int]:
        """Refill every collection from Redis; faces per collection."""
        with self.lock:
            self.collections.clear()
            for name, info in self.metadata.collections().items():
                collection = self.collections[name] = Collection(name, int(info["dim"]))
                if info["model"] == PLAIN_VECTORS:
                    ids, vectors = self.metadata.all_vectors(name)
                    if len(ids):
                        collection.add(ids, vectors)
                    continue
                faces = list(self.metadata.all_faces(name))
                if faces:
                    collection.add(np.array([f.face_id for f in faces]), np.stack([f.vector for f in faces]))
            return {name: c.count() for name, c in self.collections.items()}

    def collection(self, name: str, create: bool = False) -> Collection:
        name = check_collection_name(name)
        with self.lock:
            if name not in self.collections:
                if not create:
                    raise CollectionNotFound(f"no collection {name!r}")
                info = self.metadata.create_collection(name, self.model, self.pipeline.model.dim)
                if info["model"] == PLAIN_VECTORS:
                    raise CollectionExists(f"collection {name!r} holds plain vectors, not photos")
                if info["model"] != self.model:
                    raise VectorError(f"collection {name!r} holds {info['model']} vectors; this server embeds with {self.model}")
                self.collections[name] = Collection(name, int(info["dim"]))
            return self.collections[name]

    def _is_plain(self, name: str) -> bool:
        # A collection's kind never changes once created: ask Redis once per name, not per photo.
        if name not in self._plain:
            info = self.metadata.collections().get(name)
            if not info:
                return False
            self._plain[name] = info["model"] == PLAIN_VECTORS
        return self._plain[name]

    # --- collections of plain vectors ----------------------------------------------------------

    def create_vector_collection(self, collection: str, dim: int) -> dict:
        """A collection for the caller's own vectors of one dimension (idempotent)."""
        name = check_collection_name(collection)
        if not 1 <= dim <= MAX_DIM:
            raise VectorError(f"dim must be between 1 and {MAX_DIM}, got {dim}")
        with self.lock:
            info = self.metadata.create_collection(name, PLAIN_VECTORS, dim)
            if info["model"] != PLAIN_VECTORS or int(info["dim"]) != dim:
                raise CollectionExists(f"collection {name!r} exists with {info['model']} vectors of dimension {info['dim']}")
            self.collections.setdefault(name, Collection(name, dim))
        return self.stats(name)

    def add_vectors(self, collection: str, ids, vectors) -> dict:
        """Add or replace the caller's vectors (Redis first, then FAISS)."""
        name = check_collection_name(collection)
        target = self.collection(name)
        if not self._is_plain(name):
            raise CollectionExists(f"collection {name!r} holds faces; add photos with IndexPhotos")
        from facegrid.index.collection import check_ids, check_vectors

        vectors = check_vectors(vectors, target.dim)
        ids = check_ids(ids, len(vectors))
        with self.lock:
            self.metadata.add_vectors(name, ids, vectors)
            target.add(ids, vectors)
        return self.stats(name)

    def remove_vectors(self, collection: str, ids) -> dict:
        name = check_collection_name(collection)
        target = self.collection(name)
        if not self._is_plain(name):
            raise CollectionExists(f"collection {name!r} holds faces")
        ids = np.asarray(ids, dtype=np.int64)
        with self.lock:
            self.metadata.remove_vectors(name, ids)
            target.remove(ids)
        return self.stats(name)

    def known(self, collection: str, digests: list[str]) -> list[str]:
        return self.metadata.known(check_collection_name(collection), digests)

    def prepare(self, photos: list[tuple[str, str, bytes, str]]) -> list[IncomingPhoto]:
        """Step one of indexing a batch of (collection, path, bytes, sha256): hash each photo and set
        aside those already held (they only gain the new path). The rest come back with
        `needs_faces`; embed them and hand them to `store`."""
        incoming: list[IncomingPhoto] = []
        for collection, path, photo, photo_sha256 in photos:
            # The server hashes what it receives; a client's hash is only trusted to name a photo it does not send.
            digest = hashlib.sha256(photo).hexdigest() if photo else photo_sha256
            item = IncomingPhoto(collection, IndexOutcome(path, digest), photo)
            incoming.append(item)
            try:
                item.collection = self._photo_collection(collection)
                if not digest:
                    raise EncoderError("no photo bytes and no photo_sha256")
            except Exception as error:  # noqa: BLE001 - one photo's failure is reported in its result
                item.outcome.error, item.photo = error, b""
        for name in {i.collection for i in incoming if not i.outcome.error}:
            batch = [i for i in incoming if i.collection == name and not i.outcome.error]
            with self.lock:
                held = self.metadata.add_paths(name, [(i.outcome.photo_sha256, i.outcome.path) for i in batch])
            for item in batch:
                record = held.get(item.outcome.photo_sha256)
                if record is not None:
                    item.outcome.already_indexed, item.outcome.faces, item.photo = True, len(record.face_ids), b""
                elif not item.photo:
                    item.outcome.error = EncoderError("photo not indexed yet: send its bytes")
        return incoming

    def store(self, incoming: list[IncomingPhoto], faces: list[list[Face] | Exception]) -> None:
        """Step two: write the faces of the photos that needed them (in `incoming` order), one
        transaction per collection, then add them to FAISS and to the nearest existing groups."""
        embedded = [item for item in incoming if item.needs_faces]
        for item, found in zip(embedded, faces, strict=True):
            item.photo = b""
            if isinstance(found, Exception):
                item.outcome.error = found
            else:
                item.outcome.faces = len(found)
                item.faces = found
        ready = [item for item in embedded if not item.outcome.error]
        for name in {item.collection for item in ready}:
            self._store_collection(name, [item for item in ready if item.collection == name])

    def _store_collection(self, name: str, items: list[IncomingPhoto]) -> None:
        target = self.collection(name)
        with self.lock:
            # Indexed meanwhile (by another stream, or twice in this batch): only the path is new.
            held = self.metadata.add_paths(name, [(i.outcome.photo_sha256, i.outcome.path) for i in items])
            new: dict[str, IncomingPhoto] = {}
            for item in items:
                if item.outcome.photo_sha256 in held or item.outcome.photo_sha256 in new:
                    item.outcome.already_indexed = True
                    if item.outcome.photo_sha256 in new:
                        new[item.outcome.photo_sha256].extra_paths.append(item.outcome.path)
                else:
                    new[item.outcome.photo_sha256] = item
            rows = [
                (digest, list(dict.fromkeys([item.outcome.path, *item.extra_paths])),
                 [(list(f.box), f.quality.as_dict(), f.vector) for f in item.faces])
                for digest, item in new.items()
            ]
            records = self.metadata.add_photos(name, rows)
            face_ids = [i for record in records for i in record.face_ids]
            if face_ids:
                vectors = np.stack([f.vector for item in new.values() for f in item.faces])
                target.add(np.array(face_ids), vectors)
                self.people.assign_new(name, face_ids, vectors)

    def _photo_collection(self, collection: str) -> str:
        """The checked name of a collection photos can go into (created on first use)."""
        name = self.collection(collection, create=True).name
        if self._is_plain(name):
            raise CollectionExists(f"collection {name!r} holds plain vectors, not photos")
        return name

    def search_vector(self, collection: str, vector: np.ndarray, k: int) -> list[Hit]:
        """The k faces nearest to a vector."""
        target = self.collection(collection)
        hits = target.search(np.asarray(vector, dtype=np.float32), k)
        return self._hits(check_collection_name(collection), hits.scores[0], hits.ids[0])

    def search_photo(self, collection: str, photo: bytes, k: int) -> list[tuple[Face, list[Hit]]]:
        """For each face in a photo (largest first), the k nearest indexed faces."""
        target = self.collection(collection)
        faces = sorted(self.pipeline.faces(photo), key=lambda f: -f.quality.size)
        if not faces:
            return []
        hits = target.search(np.stack([f.vector for f in faces]), k)
        name = check_collection_name(collection)
        return [(face, self._hits(name, hits.scores[i], hits.ids[i])) for i, face in enumerate(faces)]

    def _hits(self, collection: str, scores: np.ndarray, ids: np.ndarray) -> list[Hit]:
        found = [(float(s), int(i)) for s, i in zip(scores, ids) if i >= 0]
        if self._is_plain(collection):
            return [Hit(score, i) for score, i in found]
        records = self.metadata.faces(collection, [i for _, i in found])
        photos = self.metadata.photos(collection, [r.photo_sha256 for r in records if r is not None])
        return [
            Hit(score, i, record, photos.get(record.photo_sha256))
            for (score, i), record in zip(found, records)
            if record is not None
        ]

    def photo_paths(self, collection: str, digests: list[str]) -> dict[str, list[str]]:
        """Paths of several photos, in one round trip."""
        records = self.metadata.photos(check_collection_name(collection), digests)
        return {digest: record.paths for digest, record in records.items()}

    def kmeans(self, collection: str, k: int | None = None, iterations: int = 20) -> tuple[np.ndarray, KMeansResult]:
        """(ids, k-means result) over every vector of a collection."""
        ids, vectors = self.collection(collection).items()
        if len(ids) == 0:
            raise VectorError(f"collection {collection!r} is empty")
        if k is not None and not 1 <= k <= len(ids):
            raise VectorError(f"k must be between 1 and {len(ids)} (the collection's size), got {k}")
        return ids, kmeans(vectors, k, iterations=iterations)

    def stats(self, collection: str) -> dict:
        target = self.collection(collection)
        name = check_collection_name(collection)
        model = PLAIN_VECTORS if self._is_plain(name) else self.model
        return {"collection": name, "model": model, "dim": target.dim,
                "photos": self.metadata.count_photos(name), "faces": target.count()}
