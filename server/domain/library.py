"""Photo libraries: index every face of many photos, search them (plain library code, no gRPC).

Redis holds photos (by content hash, with every path they were seen under) and
faces; one FAISS collection per library collection holds the face vectors under
their face ids and is rebuilt from Redis on start. Bulk indexing runs in two
steps so embedding can overlap with storing: `prepare` hashes a batch of photos
and sets aside those already held; `store` writes the new ones' faces. A batch
is written in one transaction, so a run killed at any point leaves each photo
either fully indexed or absent, and the next run picks up where it stopped.
Grouping by person lives in `grouping.py`, plain-vector collections in `vectors.py`.
Each collection keeps the model it was made with: its photos and photo queries are
embedded with that model, whatever the server's default is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from facegrid.encoder.pipeline import Face
from facegrid.index.cluster import KMeansResult, choose_k, kmeans
from facegrid.index.errors import VectorError

from ..store.photos import FaceRecord, LibraryStore, PhotoRecord
from .collections import Collections, CollectionStats, check_collection_name
from .errors import BadPhotoRequest, PhotoNotHeld
from .group_assignment import GroupAssigner
from .pipelines import Pipelines

# k-means may make at most n / MIN_PER_CLUSTER clusters of n vectors (see Library.kmeans).
MIN_PER_CLUSTER = 5
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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


class Library:
    """Face collections of a photo library."""

    def __init__(self, collections: Collections, pipelines: Pipelines, groups: GroupAssigner) -> None:
        self.collections = collections
        self.records: LibraryStore = collections.store
        self.pipelines = pipelines
        self.groups = groups
        self.model = pipelines.default.model.name  # new collections are made with it
        self.dim = pipelines.default.model.dim

    def model_of(self, collection: str) -> str:
        """The model a collection's photos are embedded with (the default for a collection yet to be made)."""
        try:
            return self.collections.info(collection).model
        except LookupError:
            return self.model

    def known(self, collection: str, digests: list[str]) -> list[str]:
        return self.records.known(check_collection_name(collection), digests)

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
                if not photo and not _SHA256.match(digest):
                    raise BadPhotoRequest("no photo bytes, and no photo_sha256 (64 lower-case hex digits) naming one already sent")
            except Exception as error:  # noqa: BLE001 - one photo's failure is reported in its result
                item.outcome.error, item.photo = error, b""
        for name in {i.collection for i in incoming if not i.outcome.error}:
            batch = [i for i in incoming if i.collection == name and not i.outcome.error]
            with self.collections.lock:
                held = self.records.add_paths(name, [(i.outcome.photo_sha256, i.outcome.path) for i in batch])
            for item in batch:
                record = held.get(item.outcome.photo_sha256)
                if record is not None:
                    item.outcome.already_indexed, item.outcome.faces, item.photo = True, len(record.face_ids), b""
                elif not item.photo:
                    item.outcome.error = PhotoNotHeld(f"photo {item.outcome.photo_sha256} is not in collection {name!r} yet: send its bytes")
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
        target = self.collections.get(name)
        with self.collections.lock:
            # Indexed meanwhile (by another stream, or twice in this batch): only the path is new.
            held = self.records.add_paths(name, [(i.outcome.photo_sha256, i.outcome.path) for i in items])
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
                 [(list(f.box), f.quality, f.vector) for f in item.faces])
                for digest, item in new.items()
            ]
            records = self.records.add_photos(name, rows)
            face_ids, vectors = [], []
            for item, record in zip(new.values(), records):
                if record is None:  # another server stored this photo meanwhile: its faces count
                    item.outcome.already_indexed = True
                    continue
                face_ids += record.face_ids
                vectors += [f.vector for f in item.faces]
            if face_ids:
                vectors = np.stack(vectors)
                target.add(np.array(face_ids), vectors)
                self.groups.assign_new(name, face_ids, vectors)

    def _photo_collection(self, collection: str) -> str:
        """The checked name of a collection photos can go into (created on first use)."""
        return self.collections.photo_collection(collection, self.model, self.dim).name

    def search_vector(self, collection: str, vector: np.ndarray, k: int) -> list[Hit]:
        """The k faces nearest to a vector."""
        target = self.collections.get(collection)
        hits = target.search(np.asarray(vector, dtype=np.float32), k)
        return self._hits(target.name, hits.scores[0], hits.ids[0])

    def search_photo(self, collection: str, photo: bytes, k: int) -> list[tuple[Face, list[Hit]]]:
        """For each face in a photo (largest first), the k nearest indexed faces."""
        info = self.collections.info(collection)
        if info.plain:
            raise VectorError(f"collection {info.name!r} holds plain vectors: search it by vector")
        target = self.collections.get(info.name)
        faces = sorted(self.pipelines.get(info.model).faces(photo), key=lambda f: -f.quality.size)
        if not faces:
            return []
        hits = target.search(np.stack([f.vector for f in faces]), k)
        return [(face, self._hits(info.name, hits.scores[i], hits.ids[i])) for i, face in enumerate(faces)]

    def _hits(self, collection: str, scores: np.ndarray, ids: np.ndarray) -> list[Hit]:
        found = [(float(s), int(i)) for s, i in zip(scores, ids) if i >= 0]
        if self.collections.info(collection).plain:
            return [Hit(score, i) for score, i in found]
        records = self.records.faces(collection, [i for _, i in found])
        photos = self.records.photos(collection, [r.photo_sha256 for r in records if r is not None])
        return [
            Hit(score, i, record, photos.get(record.photo_sha256))
            for (score, i), record in zip(found, records)
            if record is not None
        ]

    def photo_paths(self, collection: str, digests: list[str]) -> dict[str, list[str]]:
        """Paths of several photos, in one round trip."""
        records = self.records.photos(check_collection_name(collection), digests)
        return {digest: record.paths for digest, record in records.items()}

    def kmeans(self, collection: str, k: int | None = None, iterations: int = 20) -> tuple[np.ndarray, KMeansResult]:
        """(ids, k-means result) over every vector of a collection, at most n / MIN_PER_CLUSTER clusters.

        The cap keeps k-means from being a way to read vectors back: with k near n, clusters
        of one vector form and their centroids (or means) are those vectors.
        """
        ids, vectors = self.collections.get(collection).items()
        most = len(ids) // MIN_PER_CLUSTER
        if most == 0:
            raise VectorError(f"k-means needs at least {MIN_PER_CLUSTER} vectors; collection {collection!r} has {len(ids)}")
        if k is not None and not 1 <= k <= most:
            raise VectorError(f"k must be between 1 and {most} (at least {MIN_PER_CLUSTER} vectors per cluster: "
                              f"{len(ids)} vectors), got {k}")
        return ids, kmeans(vectors, k or min(choose_k(len(ids)), most), iterations=iterations,
                           settings=self.collections.index_settings)

    def stats(self, collection: str) -> CollectionStats:
        """Photos and faces of a face collection; vectors of a plain-vector one."""
        info = self.collections.info(collection)
        count = self.collections.get(info.name).count()
        if info.plain:
            return CollectionStats(info.name, info.model, info.dim, vectors=count)
        return CollectionStats(info.name, info.model, info.dim, photos=self.records.count_photos(info.name), faces=count)
