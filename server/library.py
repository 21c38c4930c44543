"""Photo libraries: index every face of many photos, search them (plain library code, no gRPC).

Redis holds photos (by content hash, with every path they were seen under) and
faces; one FAISS collection per library collection holds the face vectors under
their face ids and is rebuilt from Redis on start. A photo is written in one
transaction, so a run killed at any point leaves each photo either fully indexed
or absent, and the next run picks up where it stopped.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from facegrid.encoder.errors import EncoderError
from facegrid.encoder.pipeline import Face, FacePipeline
from facegrid.index.calibration import Calibration
from facegrid.index.cluster import UNASSIGNED, KMeansResult, assign, group_faces, group_vectors, kmeans
from facegrid.index.collection import Collection
from facegrid.index.errors import CollectionNotFound, VectorError

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


DEFAULT_LINK_FAR = 1e-5  # faces link where one pair of strangers in 100,000 would (docs/benchmarks.md)


@dataclass(frozen=True)
class Grouping:
    groups: list[tuple[int, list[FaceRecord]]]  # largest first
    unassigned: int
    threshold: float
    names: dict[int, str] = field(default_factory=dict)  # group id -> subject id it was named as


class NothingToUndo(LookupError):
    pass


class CollectionExists(ValueError):
    """The name is taken by a collection of another kind or dimension."""


def _is_name(pin: str) -> bool:
    return bool(pin) and not pin.startswith("~")  # "~..." pins are anonymous (merge, split)


class Library:
    """Face collections of a photo library, all embedded with the server's model."""

    def __init__(self, metadata: LibraryMetadata, pipeline: FacePipeline, calibration: Calibration) -> None:
        self.metadata = metadata
        self.pipeline = pipeline
        self.calibration = calibration
        self.model = pipeline.model.name
        self.collections: dict[str, Collection] = {}
        self._plain: dict[str, bool] = {}  # collection -> holds plain vectors (not faces)
        # Per collection: (group ids, unit mean vectors, threshold) of the last clustering.
        self._group_means: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        self._lock = threading.Lock()
        # Naming a group enrolls it at the gate: namer(subject_id, faces) -> whether it created the subject;
        # unnamer(subject_id) takes that back.
        self.namer: Callable[[str, list[FaceRecord]], bool] | None = None
        self.unnamer: Callable[[str], None] | None = None

    def rebuild(self) -> dict[str, int]:
        """Refill every collection from Redis; faces per collection."""
        with self._lock:
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

    def _collection(self, name: str, create: bool = False) -> Collection:
        name = check_collection_name(name)
        with self._lock:
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
        with self._lock:
            info = self.metadata.create_collection(name, PLAIN_VECTORS, dim)
            if info["model"] != PLAIN_VECTORS or int(info["dim"]) != dim:
                raise CollectionExists(f"collection {name!r} exists with {info['model']} vectors of dimension {info['dim']}")
            self.collections.setdefault(name, Collection(name, dim))
        return self.stats(name)

    def add_vectors(self, collection: str, ids, vectors) -> dict:
        """Add or replace the caller's vectors (Redis first, then FAISS)."""
        name = check_collection_name(collection)
        target = self._collection(name)
        if not self._is_plain(name):
            raise CollectionExists(f"collection {name!r} holds faces; add photos with IndexPhotos")
        from facegrid.index.collection import check_ids, check_vectors

        vectors = check_vectors(vectors, target.dim)
        ids = check_ids(ids, len(vectors))
        with self._lock:
            self.metadata.add_vectors(name, ids, vectors)
            target.add(ids, vectors)
        return self.stats(name)

    def remove_vectors(self, collection: str, ids) -> dict:
        name = check_collection_name(collection)
        target = self._collection(name)
        if not self._is_plain(name):
            raise CollectionExists(f"collection {name!r} holds faces")
        ids = np.asarray(ids, dtype=np.int64)
        with self._lock:
            self.metadata.remove_vectors(name, ids)
            target.remove(ids)
        return self.stats(name)

    def known(self, collection: str, digests: list[str]) -> list[str]:
        return self.metadata.known(check_collection_name(collection), digests)

    def index_photo(
        self, collection: str, path: str, photo: bytes, photo_sha256: str = "", faces_of: Callable | None = None
    ) -> IndexOutcome:
        """Index one photo's faces; a photo already held only gains the new path.

        `faces_of(photo) -> list[Face]` embeds the photo (default: this process's pipeline; bulk
        indexing passes worker processes instead).
        """
        name = check_collection_name(collection)
        target = self._collection(name, create=True)
        if self._is_plain(name):
            raise CollectionExists(f"collection {name!r} holds plain vectors, not photos")
        # The server hashes what it receives; a client's hash is only trusted to name a photo it does not send.
        digest = hashlib.sha256(photo).hexdigest() if photo else photo_sha256
        if not digest:
            return IndexOutcome(path, "", error=EncoderError("no photo bytes and no photo_sha256"))
        outcome = IndexOutcome(path, digest)
        if self.metadata.photo(name, digest) is not None:
            with self._lock:
                record = self.metadata.add_path(name, digest, path)
            outcome.already_indexed, outcome.faces = True, len(record.face_ids)
            return outcome
        if not photo:
            outcome.error = EncoderError("photo not indexed yet: send its bytes")
            return outcome
        try:
            faces = (faces_of or self.pipeline.faces)(photo)
        except EncoderError as error:
            outcome.error = error
            return outcome
        rows = [(list(f.box), f.quality.as_dict(), f.vector) for f in faces]
        with self._lock:
            if self.metadata.photo(name, digest) is not None:  # indexed meanwhile by another stream
                self.metadata.add_path(name, digest, path)
                outcome.already_indexed = True
            else:
                record = self.metadata.add_photo(name, digest, path, rows)
                if faces:
                    vectors = np.stack([f.vector for f in faces])
                    target.add(np.array(record.face_ids), vectors)
                    self._assign(name, record.face_ids, vectors)
        outcome.faces = len(faces)
        return outcome

    def search_vector(self, collection: str, vector: np.ndarray, k: int) -> list[Hit]:
        """The k faces nearest to a vector."""
        target = self._collection(collection)
        hits = target.search(np.asarray(vector, dtype=np.float32), k)
        return self._hits(check_collection_name(collection), hits.scores[0], hits.ids[0])

    def search_photo(self, collection: str, photo: bytes, k: int) -> list[tuple[Face, list[Hit]]]:
        """For each face in a photo (largest first), the k nearest indexed faces."""
        target = self._collection(collection)
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

    # --- grouping by person ------------------------------------------------------------------

    def cluster(self, collection: str, min_size: int = 1, link_far: float = DEFAULT_LINK_FAR) -> Grouping:
        """Group every face of the collection by person and store the grouping."""
        target = self._collection(collection)
        name = check_collection_name(collection)
        threshold = self.calibration.threshold(link_far)
        with self._lock:
            ids, vectors = target.items()
            photos = [f.photo_sha256 if f else "" for f in self.metadata.faces(name, ids.tolist())]
            pinned = self.metadata.pins(name)
            pins = np.array([pinned.get(int(i), "") for i in ids], dtype=object)
            labels = group_faces(vectors, threshold, photos=np.array(photos), min_size=max(min_size, 1), pins=pins)
            self.metadata.save_groups(name, {int(i): int(g) for i, g in zip(ids, labels) if g != UNASSIGNED}, threshold, min_size)
            group_ids, means = group_vectors(vectors, labels)
            self._group_means[name] = (group_ids, means, threshold)
        return self.groups(collection)

    def _assign(self, collection: str, face_ids: list[int], vectors: np.ndarray) -> None:
        """New faces join the nearest group of the last clustering when close enough (lock held)."""
        means = self._group_means.get(collection) or self._load_group_means(collection)
        if means is None:
            return
        group_ids, group_means, threshold = means
        labels = assign(vectors, group_ids, group_means, threshold)
        self.metadata.assign_groups(collection, {f: int(g) for f, g in zip(face_ids, labels) if g != UNASSIGNED})

    def _load_group_means(self, collection: str):
        settings = self.metadata.clustering(collection)
        if settings is None:
            return None
        grouped = self.metadata.groups(collection)
        faces = [f for f in self.metadata.faces(collection, list(grouped)) if f is not None]
        if not faces:
            return None
        labels = np.array([grouped[f.face_id] for f in faces])
        group_ids, means = group_vectors(np.stack([f.vector for f in faces]), labels)
        self._group_means[collection] = (group_ids, means, settings["threshold"])
        return self._group_means[collection]

    def groups(self, collection: str) -> Grouping:
        """The stored grouping: each group's faces, largest group first."""
        target = self._collection(collection)
        name = check_collection_name(collection)
        grouped = self.metadata.groups(name)
        settings = self.metadata.clustering(name) or {"threshold": float("nan")}
        members: dict[int, list[FaceRecord]] = {}
        for record in self.metadata.faces(name, list(grouped)):
            if record is not None:
                members.setdefault(grouped[record.face_id], []).append(record)
        ordered = sorted(members.items(), key=lambda item: (-len(item[1]), item[0]))
        pins = self.metadata.pins(name)
        names = {}
        for group_id, faces in ordered:
            labels = {pins.get(f.face_id, "") for f in faces}
            named = sorted(p for p in labels if _is_name(p))
            if named:
                names[group_id] = named[0]
        return Grouping(ordered, target.count() - sum(len(m) for m in members.values()), settings["threshold"], names)

    # --- corrections -------------------------------------------------------------------------

    def _members(self, collection: str, group_id: int) -> list[int]:
        members = [f for f, g in self.metadata.groups(collection).items() if g == group_id]
        if not members:
            raise CollectionNotFound(f"no group {group_id} in collection {collection!r}")
        return members

    def _pin(self, collection: str, faces: list[int], label: str, groups: dict[int, int], action: dict) -> None:
        pins = self.metadata.pins(collection)
        grouped = self.metadata.groups(collection)
        action["before"] = {str(f): [pins.get(f, ""), grouped.get(f, UNASSIGNED)] for f in set(faces) | set(groups)}
        self.metadata.apply_correction(collection, {f: label for f in faces}, groups, action)
        self._group_means.pop(collection, None)

    def merge(self, collection: str, group_id: int, other_group_id: int) -> Grouping:
        """Put two groups together for good: every face of both gets one pin."""
        name = check_collection_name(collection)
        with self._lock:
            keep, other = self._members(name, group_id), self._members(name, other_group_id)
            pins = self.metadata.pins(name)
            named = sorted({pins.get(f, "") for f in keep + other} - {""}, key=lambda p: (not _is_name(p), p))
            label = named[0] if named else f"~merge-{uuid.uuid4().hex[:12]}"
            self._pin(name, keep + other, label, {f: group_id for f in other}, {"action": "merge"})
        return self.groups(collection)

    def split(self, collection: str, face_id: int) -> Grouping:
        """Take a face out of its group for good: it and the rest are pinned apart."""
        name = check_collection_name(collection)
        with self._lock:
            grouped = self.metadata.groups(name)
            if face_id not in grouped:
                raise CollectionNotFound(f"face {face_id} is in no group of collection {collection!r}")
            group_id = grouped[face_id]
            rest = [f for f, g in grouped.items() if g == group_id and f != face_id]
            pins = self.metadata.pins(name)
            label = pins.get(rest[0], "") if rest and pins.get(rest[0]) else f"~group-{uuid.uuid4().hex[:12]}"
            new_group = max(grouped.values()) + 1
            action = {"action": "split"}
            self._pin(name, rest, label, {face_id: new_group}, action)
            self.metadata.apply_correction(name, {face_id: f"~split-{face_id}"}, {}, {})
        return self.groups(collection)

    def name(self, collection: str, group_id: int, subject_id: str) -> Grouping:
        """Name a group: its faces are pinned to the subject id, and the gate enrolls them."""
        name = check_collection_name(collection)
        with self._lock:
            members = self._members(name, group_id)
            created = self.namer(subject_id, [f for f in self.metadata.faces(name, members) if f]) if self.namer else False
            self._pin(name, members, subject_id, {}, {"action": "name", "subject": subject_id, "created": created})
        return self.groups(collection)

    def undo(self, collection: str) -> Grouping:
        """Take back the last correction."""
        name = check_collection_name(collection)
        with self._lock:
            record = self.metadata.pop_correction(name)
            if record is None:
                raise NothingToUndo(f"no correction to undo in collection {collection!r}")
            before = {int(f): value for f, value in record["before"].items()}
            self.metadata.apply_correction(
                name, {f: pin for f, (pin, _) in before.items()},
                {f: g for f, (_, g) in before.items() if g != UNASSIGNED}, {},
            )
            if record["action"] == "name" and record.get("created") and self.unnamer:
                self.unnamer(record["subject"])
            self._group_means.pop(name, None)
        return self.groups(collection)

    def photo_paths(self, collection: str, digests: list[str]) -> dict[str, list[str]]:
        """Paths of several photos, in one round trip."""
        records = self.metadata.photos(check_collection_name(collection), digests)
        return {digest: record.paths for digest, record in records.items()}

    def kmeans(self, collection: str, k: int | None = None, iterations: int = 20) -> tuple[np.ndarray, KMeansResult]:
        """(ids, k-means result) over every vector of a collection."""
        ids, vectors = self._collection(collection).items()
        if len(ids) == 0:
            raise VectorError(f"collection {collection!r} is empty")
        if k is not None and not 1 <= k <= len(ids):
            raise VectorError(f"k must be between 1 and {len(ids)} (the collection's size), got {k}")
        return ids, kmeans(vectors, k, iterations=iterations)

    def stats(self, collection: str) -> dict:
        target = self._collection(collection)
        name = check_collection_name(collection)
        model = PLAIN_VECTORS if self._is_plain(name) else self.model
        return {"collection": name, "model": model, "dim": target.dim,
                "photos": self.metadata.count_photos(name), "faces": target.count()}
