"""The photo library's service core: every IndexService call as a typed call, for any transport.

Requests come in as plain values (a number 0 means "the default", as an unset field does), are checked here
(BadRequest with the same words whoever calls), and go to the use cases: bulk indexing (indexing.py), face search
(library.py), groups by person (grouping.py), plain vectors (vectors.py), whole-photo search (photo_search.py) and
the background re-embedding (reembed.py). Results are typed records; stored vectors never leave (no centroids either).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from facegrid.encoder.pipeline import Face
from facegrid.index.errors import CollectionNotFound

from .collections import CollectionStats
from .enrollment import normalise_subject_id
from .errors import BadRequest, NoImageModel
from .grouping import DEFAULT_LINK_FAR, Grouping, PersonGroups
from .indexing import IndexRun, PhotoIndexing
from .library import Hit, Library
from .page_tokens import decode_cursor, encode_cursor
from .photo_search import NearDuplicates, PhotoHits, PhotoSearch
from .reembed import ReembedProgress, Reembedder
from .vectors import VectorCollections

MAX_K = 1000
MAX_HASHES = 10_000
MAX_ITERATIONS = 1000
DEFAULT_ITERATIONS = 20
MAX_PHOTO_PAGE = 1000
DEFAULT_PHOTO_PAGE = 100
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FaceSearch:
    """A search of a face collection: by a vector (a face's, or the caller's own in a plain collection) or by a photo."""

    collection: str
    k: int
    vector: np.ndarray | None = None
    photo: bytes | None = None
    model: str = ""  # the vector's model, when the caller names it: it must be the collection's


@dataclass(frozen=True)
class FaceHits:
    """The nearest stored faces (or plain vectors) to one query face (None: the query was a vector)."""

    face: Face | None
    hits: list[Hit]


@dataclass(frozen=True)
class PhotoQuery:
    """A whole-photo search: by words, by a photo, or by a vector of the collection's image model."""

    collection: str
    k: int
    text: str | None = None
    photo: bytes | None = None
    vector: np.ndarray | None = None
    model: str = ""


@dataclass(frozen=True)
class GroupsView:
    """A collection's groups by person, with the paths of every photo their faces are in."""

    grouping: Grouping
    paths: dict[str, list[str]]  # photo sha256 -> paths


@dataclass(frozen=True)
class PhotoRef:
    """A photo by its sha256 and the paths it was seen under."""

    photo_sha256: str
    paths: list[str]


@dataclass(frozen=True)
class PhotoPage:
    """One page of a collection's photos (no vectors, no faces); `next_page_token` is "" after the last page."""

    photos: list[PhotoRef]
    next_page_token: str


@dataclass(frozen=True)
class FaceRef:
    """A stored face: its photo, where in the photo (x, y, width, height) and the photo's paths; never its vector."""

    face_id: int
    photo_sha256: str
    box: tuple[float, float, float, float]
    paths: list[str]


@dataclass(frozen=True)
class Clusters:
    """k-means over a collection: each vector's (or photo's) cluster, never a centroid (a cluster of one is a vector)."""

    k: int
    ids: list[int]
    labels: list[int]
    sizes: list[int]
    photos: list[PhotoRef] = field(default_factory=list)  # in `ids` order, for k-means over photo vectors


@dataclass(frozen=True)
class CollectionReport:
    """A collection's counts, and its re-embedding's progress where it has an image model."""

    stats: CollectionStats
    reembed: ReembedProgress | None = None


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise BadRequest(f"k must be between 1 and {MAX_K}, got {k}")


class LibraryCore:
    """The photo library's calls: indexing, search, groups, plain vectors, whole photos, stats."""

    def __init__(self, library: Library, people: PersonGroups, vectors: VectorCollections, indexing: PhotoIndexing,
                 photos: PhotoSearch | None = None, reembedder: Reembedder | None = None) -> None:
        self.library = library
        self.people = people
        self.vectors = vectors
        self.indexing = indexing
        self.photos = photos  # whole-photo search (None: a server without image models)
        self.reembedder = reembedder  # photos indexed before their collection had an image model

    def close(self) -> None:
        """Stop the bulk-indexing workers (at shutdown)."""
        self.indexing.close()

    # --- indexing ----------------------------------------------------------------------------------

    def index_run(self) -> IndexRun:
        """A bulk-indexing run for one caller's stream of photos."""
        return self.indexing.run()

    def known(self, collection: str, digests: list[str]) -> list[str]:
        """Which of these photos (by sha256) the collection holds: a resumed run sends only the others."""
        if len(digests) > MAX_HASHES:
            raise BadRequest(f"at most {MAX_HASHES} hashes per call, got {len(digests)}")
        return self.library.known(collection, digests)

    def list_photos(self, collection: str, page_token: str = "", page_size: int = 0) -> PhotoPage:
        """About `page_size` photos of a collection (0: DEFAULT_PHOTO_PAGE) by sha256 with their paths, in no set order
        across pages; pass `next_page_token` back for the next. A small collection comes whole in one page."""
        if not 0 <= page_size <= MAX_PHOTO_PAGE:
            raise BadRequest(f"page_size must be between 0 and {MAX_PHOTO_PAGE}, got {page_size}")
        start = decode_cursor(page_token)
        records, cursor = self.library.photo_page(collection, start, page_size or DEFAULT_PHOTO_PAGE)
        return PhotoPage([PhotoRef(r.photo_sha256, list(r.paths)) for r in records], encode_cursor(cursor) if cursor else "")

    def holds_plain_vectors(self, collection: str) -> bool:
        """Whether the collection exists and holds the caller's own plain vectors (a raw vector may search it with scope
        library alone; False for any other name, valid or not: the check fails closed)."""
        return self.library.collections.holds_plain_vectors(collection)

    # --- faces ---------------------------------------------------------------------------------------

    def search(self, query: FaceSearch) -> list[FaceHits]:
        """The k nearest faces to a vector (one list), or to each face of a photo (largest face first)."""
        _check_k(query.k)
        if query.vector is not None:
            hits = self.library.search_vector(query.collection, query.vector, query.k, query.model)
            return [FaceHits(None, hits)]
        if query.photo is not None:
            if not query.photo:
                raise BadRequest("photo is empty")
            return [FaceHits(face, hits) for face, hits in self.library.search_photo(query.collection, query.photo, query.k)]
        raise BadRequest("give a photo or a vector to search with")

    def _view(self, collection: str, grouping: Grouping) -> GroupsView:
        digests = [f.photo_sha256 for _, faces in grouping.groups for f in faces]
        return GroupsView(grouping, self.library.photo_paths(collection, digests))

    def cluster(self, collection: str, min_size: int = 0, link_far: float = 0.0) -> GroupsView:
        """Group the collection's faces by person (min_size 0: 1; link_far 0: DEFAULT_LINK_FAR) and store the grouping."""
        link_far = link_far or DEFAULT_LINK_FAR
        if not 0 < link_far < 1:
            raise BadRequest(f"link_far must be between 0 and 1, got {link_far}")
        if min_size < 0:
            raise BadRequest(f"min_size must be positive, got {min_size}")
        return self._view(collection, self.people.cluster(collection, min_size or 1, link_far))

    def groups(self, collection: str) -> GroupsView:
        """The stored grouping."""
        return self._view(collection, self.people.groups(collection))

    def merge(self, collection: str, group_id: int, other_group_id: int) -> GroupsView:
        """Two groups are one person."""
        if group_id == other_group_id:
            raise BadRequest("merge needs two different groups")
        return self._view(collection, self.people.merge(collection, group_id, other_group_id))

    def split(self, collection: str, face_id: str) -> GroupsView:
        """This face is not the person of its group."""
        if not (face_id.isascii() and face_id.isdigit()):  # int() would take other scripts' digits too
            raise BadRequest(f"face_id must be a number, got {face_id!r}")
        return self._view(collection, self.people.split(collection, int(face_id)))

    def name(self, collection: str, group_id: int, subject_id: str) -> GroupsView:
        """Name a group as a subject: the gate enrolls its faces."""
        normalise_subject_id(subject_id)  # INVALID_ARGUMENT before anything changes
        return self._view(collection, self.people.name(collection, group_id, subject_id))

    def undo(self, collection: str) -> GroupsView:
        """Take back the last correction."""
        return self._view(collection, self.people.undo(collection))

    # --- plain vectors ---------------------------------------------------------------------------

    def create_collection(self, collection: str, dim: int) -> CollectionReport:
        """A collection of the caller's own vectors (idempotent)."""
        return CollectionReport(self.vectors.create(collection, dim))

    def add_vectors(self, collection: str, ids: list[int], vectors: list[list[float]]) -> CollectionReport:
        """Add or replace the caller's vectors, one id each."""
        if len(ids) != len(vectors):
            raise BadRequest(f"{len(ids)} ids for {len(vectors)} vectors")
        lengths = {len(v) for v in vectors}
        if len(lengths) > 1:
            raise BadRequest(f"vectors of different lengths: {sorted(lengths)}")
        return CollectionReport(self.vectors.add(collection, ids, np.array(vectors, dtype=np.float32)))

    def remove_vectors(self, collection: str, ids: list[int]) -> CollectionReport:
        """Remove the caller's vectors by id."""
        return CollectionReport(self.vectors.remove(collection, ids))

    def kmeans(self, collection: str, k: int = 0, iterations: int = 0, photos: bool = False) -> Clusters:
        """k-means over a collection's vectors, or its photo vectors (k 0: chosen; iterations 0: DEFAULT_ITERATIONS)."""
        if k < 0 or not 0 <= iterations <= MAX_ITERATIONS:
            raise BadRequest(f"k must be positive (0 to choose) and iterations between 0 and {MAX_ITERATIONS}")
        refs: list[PhotoRef] = []
        if photos:
            clusters = self._photo_search().kmeans(collection, k or None, iterations or DEFAULT_ITERATIONS)
            ids, result = clusters.photo_ids, clusters.result
            refs = [PhotoRef(d, p) for d, p in zip(clusters.photo_sha256, clusters.paths)]
        else:
            ids, result = self.library.kmeans(collection, k or None, iterations or DEFAULT_ITERATIONS)
        return Clusters(result.k, ids.tolist(), result.labels.tolist(),
                        np.bincount(result.labels, minlength=result.k).tolist(), refs)

    # --- whole photos ----------------------------------------------------------------------------

    def _photo_search(self) -> PhotoSearch:
        if self.photos is None:
            raise NoImageModel("this server runs no image models")
        return self.photos

    def search_photos(self, query: PhotoQuery) -> PhotoHits:
        """The k photos nearest to words, a photo or a vector, with the collection's image model."""
        _check_k(query.k)
        search = self._photo_search()
        if query.text is not None:
            if not query.text.strip():
                raise BadRequest("text is empty")
            return search.by_text(query.collection, query.text, query.k)
        if query.photo is not None:
            if not query.photo:
                raise BadRequest("photo is empty")
            return search.by_photo(query.collection, query.photo, query.k)
        if query.vector is not None:
            return search.by_vector(query.collection, query.vector, query.k, query.model)
        raise BadRequest("give a text, a photo or a vector to search with")

    def similar_photos(self, collection: str, threshold: float = 0.0, min_size: int = 0) -> NearDuplicates:
        """Groups of near-duplicate photos (threshold 0: the image model's measured one; min_size 0: 2)."""
        if not (threshold == 0 or -1 <= threshold <= 1) or min_size < 0:
            raise BadRequest(f"threshold must be between -1 and 1 (0: the measured one) and min_size positive, "
                             f"got {threshold} and {min_size}")
        return self._photo_search().similar(collection, threshold or None, min_size or 2)

    def set_image_model(self, collection: str, image_model: str) -> CollectionReport:
        """Give a collection an image model; photos indexed before are embedded again in the background."""
        if not image_model:
            raise BadRequest("name the image model")
        info, changed = self.library.collections.set_image_model(collection, image_model, self.library.image_dim(image_model))
        if changed and self.reembedder is not None:
            self.reembedder.wake()
        return self.stats(info.name)

    def stats(self, collection: str) -> CollectionReport:
        """A collection's counts, with its re-embedding's progress where it has an image model."""
        stats = self.library.stats(collection)
        progress = self.reembedder.progress(stats.collection) if self.reembedder is not None and stats.image_model else None
        return CollectionReport(stats, progress)

    # --- what the console shows --------------------------------------------------------------------

    def collections(self) -> list[CollectionReport]:
        """Every collection of this server with its counts, by name."""
        return [self.stats(name) for name in self.library.collections.names()]

    def face(self, collection: str, face_id: int) -> FaceRef:
        """One stored face with its photo's paths (CollectionNotFound for a face the collection does not hold)."""
        name = self.library.collections.info(collection).name
        record = self.library.records.faces.get(name, [face_id])[0]
        if record is None:
            raise CollectionNotFound(f"no face {face_id} in collection {name!r}")
        paths = self.library.photo_paths(name, [record.photo_sha256]).get(record.photo_sha256, [])
        return FaceRef(face_id, record.photo_sha256, tuple(float(v) for v in record.box[:4]), paths)

    def photo(self, collection: str, photo_sha256: str) -> PhotoRef:
        """One stored photo's paths (CollectionNotFound for a photo the collection does not hold)."""
        if not _SHA256.match(photo_sha256):
            raise BadRequest("photo_sha256 must be 64 lower-case hex digits")
        name = self.library.collections.info(collection).name
        paths = self.library.photo_paths(name, [photo_sha256]).get(photo_sha256)
        if paths is None:
            raise CollectionNotFound(f"no photo {photo_sha256[:12]}... in collection {name!r}")
        return PhotoRef(photo_sha256, paths)
