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
embedded with that model, whatever the server's default is. A collection with an image model
also stores one whole-photo vector per photo, in the same transaction as the photo's faces
(searching them: `photo_search.py`; embedding photos indexed before the model was added: `reembed.py`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from facegrid.encoder.pipeline import Face, PhotoEmbedding
from facegrid.encoder.ports import FaceEncoders, TowerEncoders
from facegrid.index.cluster import KMeansResult, choose_k, kmeans
from facegrid.index.errors import CollectionNotFound, VectorError
from facegrid.index.settings import IndexSettings

from ..store.faces import FaceRecord, NewFace
from ..store.library import LibraryStore
from ..store.photos import NewPhoto, PhotoRecord
from .collections import Collections, CollectionStats, check_collection_name
from .errors import BadPhotoRequest, ModelMismatch, PhotoNotHeld
from .group_assignment import GroupAssigner

# k-means may make at most n / MIN_PER_CLUSTER clusters of n vectors (see Library.kmeans).
MIN_PER_CLUSTER = 5
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PhotoToIndex:
    """One photo of a bulk-indexing request: its bytes, or the sha256 of one the collection holds (a new path for it)."""

    collection: str
    path: str
    photo: bytes = b""
    photo_sha256: str = ""
    image_model: str = ""  # give the collection this image model if it is new (its own otherwise: ModelMismatch)


@dataclass
class IndexOutcome:
    """What became of one photo of an IndexPhotos call: its faces, already indexed, or the error."""

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
    image_model: str = ""  # the collection's image model: embed a whole-photo vector with it too
    vector: np.ndarray | None = None  # that vector, once embedded
    extra_paths: list[str] = field(default_factory=list)  # the same photo again, later in its batch

    @property
    def needs_faces(self) -> bool:
        """Whether the photo is new and its faces are still to be found."""
        return bool(self.photo)


class Library:
    """Face collections of a photo library."""

    def __init__(self, collections: Collections, pipelines: FaceEncoders, groups: GroupAssigner,
                 towers: TowerEncoders | None = None) -> None:
        self.collections = collections
        self.records: LibraryStore = collections.store
        self.pipelines = pipelines
        self.groups = groups
        self.towers = towers  # the server's tower models: image models by name
        self.model = pipelines.default.model.name  # new collections are made with it
        self.dim = pipelines.default.model.dim

    def model_of(self, collection: str) -> str:
        """The model a collection's photos are embedded with (the default for a collection yet to be made)."""
        try:
            return self.collections.info(collection).model
        except LookupError:
            return self.model

    def known(self, collection: str, digests: list[str]) -> list[str]:
        """The photos of `digests` already indexed in the collection (a resumed run skips them)."""
        return self.records.photos.known(check_collection_name(collection), digests)

    def image_dim(self, image_model: str) -> int:
        """The vector length of a folder model with an image tower (UnknownModel, MissingModality otherwise)."""
        if self.towers is None:
            raise ModelMismatch("this server runs no image models")
        model = self.towers.tower_model(image_model)
        model.require("image")
        return model.dim

    def prepare(self, photos: list[PhotoToIndex]) -> list[IncomingPhoto]:
        """Step one of indexing a batch: hash each photo and set aside those already held (they only gain the new
        path). The rest come back with `needs_faces` (and `image_model` where their collection has one); embed them
        and hand them to `store`."""
        incoming: list[IncomingPhoto] = []
        for sent in photos:
            photo = sent.photo
            # The server hashes what it receives; a client's hash is only trusted to name a photo it does not send.
            digest = hashlib.sha256(photo).hexdigest() if photo else sent.photo_sha256
            item = IncomingPhoto(sent.collection, IndexOutcome(sent.path, digest), photo)
            incoming.append(item)
            try:
                info = self._photo_collection(sent.collection, sent.image_model)
                item.collection, item.image_model = info.name, info.image_model
                if not photo and not _SHA256.match(digest):
                    raise BadPhotoRequest("no photo bytes, and no photo_sha256 (64 lower-case hex digits) naming one already sent")
            except Exception as error:  # noqa: BLE001 - one photo's failure is reported in its result
                item.outcome.error, item.photo = error, b""
        for name in {i.collection for i in incoming if not i.outcome.error}:
            batch = [i for i in incoming if i.collection == name and not i.outcome.error]
            with self.collections.lock:
                held = self.records.photos.add_paths(name, [(i.outcome.photo_sha256, i.outcome.path) for i in batch])
            for item in batch:
                record = held.get(item.outcome.photo_sha256)
                if record is not None:
                    item.outcome.already_indexed, item.outcome.faces, item.photo = True, len(record.face_ids), b""
                elif not item.photo:
                    item.outcome.error = PhotoNotHeld(f"photo {item.outcome.photo_sha256} is not in collection {name!r} yet: send its bytes")
        return incoming

    def store(self, incoming: list[IncomingPhoto], faces: list[PhotoEmbedding | list[Face] | Exception]) -> None:
        """Step two: write the faces (and whole-photo vectors) of the photos that needed them (in `incoming`
        order), one transaction per collection, then add them to FAISS and to the nearest existing groups."""
        embedded = [item for item in incoming if item.needs_faces]
        for item, found in zip(embedded, faces, strict=True):
            item.photo = b""
            if isinstance(found, Exception):
                item.outcome.error = found
                continue
            if isinstance(found, PhotoEmbedding):
                found, item.vector = found.faces, found.vector
            if item.image_model and item.vector is None:
                item.outcome.error = ModelMismatch(f"no whole-photo vector of {item.image_model!r} came back for the photo")
                continue
            item.outcome.faces = len(found)
            item.faces = found
        ready = [item for item in embedded if not item.outcome.error]
        for name in {item.collection for item in ready}:
            self._store_collection(name, [item for item in ready if item.collection == name])

    def _store_collection(self, name: str, items: list[IncomingPhoto]) -> None:
        target = self.collections.get(name)
        image_model = self.collections.info(name).image_model
        photo_target = self.collections.photo_vectors(name) if image_model else None
        with self.collections.lock:
            # Indexed meanwhile (by another stream, or twice in this batch): only the path is new.
            held = self.records.photos.add_paths(name, [(i.outcome.photo_sha256, i.outcome.path) for i in items])
            new: dict[str, IncomingPhoto] = {}
            for item in items:
                if item.outcome.photo_sha256 in held or item.outcome.photo_sha256 in new:
                    item.outcome.already_indexed = True
                    if item.outcome.photo_sha256 in new:
                        new[item.outcome.photo_sha256].extra_paths.append(item.outcome.path)
                else:
                    new[item.outcome.photo_sha256] = item
            # A photo vector only of the collection's image model (one added after the batch was embedded
            # is not this one's: the background re-embedding gives those photos theirs).
            rows = [
                NewPhoto(digest, list(dict.fromkeys([item.outcome.path, *item.extra_paths])),
                         [NewFace(list(f.box), f.quality, f.vector) for f in item.faces],
                         item.vector if image_model and item.image_model == image_model else None)
                for digest, item in new.items()
            ]
            records = self.records.photos.add(name, rows)
            face_ids, vectors = [], []
            photo_shas, photo_vectors = [], []
            for item, record, row in zip(new.values(), records, rows):
                if record is None:  # another server stored this photo meanwhile: its faces count
                    item.outcome.already_indexed = True
                    continue
                face_ids += record.face_ids
                vectors += [f.vector for f in item.faces]
                if row.vector is not None:
                    photo_shas.append(record.photo_sha256)
                    photo_vectors.append(row.vector)
            if face_ids:
                vectors = np.stack(vectors)
                target.add(np.array(face_ids), vectors)
                self.groups.assign_new(name, face_ids, vectors)
            if photo_shas:
                held = self.records.photo_vectors.ids_of(name, photo_shas)
                kept = [(held[d], v) for d, v in zip(photo_shas, photo_vectors) if d in held]
                if kept:
                    photo_target.add(np.array([i for i, _ in kept], dtype=np.int64), np.stack([v for _, v in kept]))

    def _photo_collection(self, collection: str, image_model: str = ""):
        """The settings of a collection photos can go into (created on first use, with `image_model` if given)."""
        if not image_model:
            return self.collections.photo_collection(collection, self.model, self.dim)
        try:
            dim = self.collections.info(collection).image_dim  # a mismatch is refused by photo_collection
        except CollectionNotFound:
            dim = self.image_dim(image_model)  # unknown, or without an image tower: refused before anything is made
        return self.collections.photo_collection(collection, self.model, self.dim, image_model, dim)

    def search_vector(self, collection: str, vector: np.ndarray, k: int, model: str = "") -> list[Hit]:
        """The k faces (or plain vectors) nearest to a vector; `model`, when given, must be the collection's."""
        info = self.collections.info(collection)
        if model and model != info.model:
            raise ModelMismatch(f"collection {info.name!r} holds {info.model} vectors; a vector of {model!r} is not "
                                f"comparable with them" + (f" (its photo vectors are {info.image_model!r}: search "
                                                            f"those with SearchPhotos)" if model == info.image_model else ""))
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
        records = self.records.faces.get(collection, [i for _, i in found])
        photos = self.records.photos.get(collection, [r.photo_sha256 for r in records if r is not None])
        return [
            Hit(score, i, record, photos.get(record.photo_sha256))
            for (score, i), record in zip(found, records)
            if record is not None
        ]

    def photo_paths(self, collection: str, digests: list[str]) -> dict[str, list[str]]:
        """Paths of several photos, in one round trip."""
        records = self.records.photos.get(check_collection_name(collection), digests)
        return {digest: record.paths for digest, record in records.items()}

    def photo_page(self, collection: str, cursor: int, count: int) -> tuple[list[PhotoRecord], int]:
        """About `count` photos of a collection from a scan cursor (0: the first), and the cursor of the rest (0: none)."""
        info = self.collections.info(collection)  # NOT_FOUND before anything is scanned
        return self.records.photos.page(info.name, cursor, count)

    def kmeans(self, collection: str, k: int | None = None, iterations: int = 20) -> tuple[np.ndarray, KMeansResult]:
        """(ids, k-means result) over every vector of a collection, at most n / MIN_PER_CLUSTER clusters."""
        ids, vectors = self.collections.get(collection).items()
        return ids, capped_kmeans(f"collection {collection!r}", ids, vectors, k, iterations, settings=self.collections.index_settings)

    def stats(self, collection: str) -> CollectionStats:
        """Photos and faces of a face collection (and its photo vectors); vectors of a plain-vector one."""
        info = self.collections.info(collection)
        store = self.collections.get(info.name)
        count, index = store.count(), store.describe()
        if info.plain:
            return CollectionStats(info.name, info.model, info.dim, vectors=count, index=index)
        photo_vectors = self.collections.photo_vectors(info.name).count() if info.image_model else 0
        return CollectionStats(info.name, info.model, info.dim, photos=self.records.photos.count(info.name), faces=count,
                               image_model=info.image_model, image_dim=info.image_dim, photo_vectors=photo_vectors, index=index)


def capped_kmeans(what: str, ids: np.ndarray, vectors: np.ndarray, k: int | None, iterations: int,
                  kind: str = "vectors", settings: IndexSettings = IndexSettings()) -> KMeansResult:
    """k-means over `vectors` with at most n / MIN_PER_CLUSTER clusters.

    The cap keeps k-means from being a way to read vectors back: with k near n, clusters
    of one vector form and their centroids (or means) are those vectors.
    """
    most = len(ids) // MIN_PER_CLUSTER
    if most == 0:
        raise VectorError(f"k-means needs at least {MIN_PER_CLUSTER} {kind}; {what} has {len(ids)}")
    if k is not None and not 1 <= k <= most:
        raise VectorError(f"k must be between 1 and {most} (at least {MIN_PER_CLUSTER} {kind} per cluster: "
                          f"{len(ids)} {kind}), got {k}")
    return kmeans(vectors, k or min(choose_k(len(ids)), most), iterations=iterations, settings=settings)
