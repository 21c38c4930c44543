"""The registry of a server's vector stores: one per photo-library or plain-vector collection.

Each collection is registered in Redis with the model that made its vectors and their
dimension (first writer wins), and its vector store (FAISS or Milvus) is rebuilt from Redis on start.
A collection keeps its model for life: photos and queries for it are embedded with that
model, whatever the server's default is. A photo collection may also have an image model (set
when it is made, or added once later): then each photo has one whole-photo vector too, kept in a
second vector store under photo ids. Collections, faces and vectors added by other
servers on the same Redis arrive through the change feed (`follow_*`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from facegrid.index.errors import CollectionNotFound, VectorError
from facegrid.index.store import VectorStore
from facegrid.index.stores import VectorStores

from ..store.collections import CollectionSettings
from ..store.library import LibraryStore
from .engine_catch_up import caught_up, refilling
from .errors import ModelMismatch, NoImageModel, WrongCollectionKind

_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DEFAULT_COLLECTION = "photos"
PLAIN_VECTORS = "vectors"  # the "model" of a collection of caller-supplied vectors


def check_collection_name(name: str) -> str:
    """1 to 64 characters: letters, digits and . _ - (the default collection when empty)."""
    name = name or DEFAULT_COLLECTION
    if not _COLLECTION_NAME.match(name):
        raise VectorError(f"collection name {name[:80]!r} is not 1-64 letters, digits, '.', '_' or '-'")
    return name


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection holds: vectors of `model` (or plain vectors) of `dim` values."""

    name: str
    model: str
    dim: int
    image_model: str = ""  # the model of its whole-photo vectors; "" where it has none
    image_dim: int = 0

    @property
    def plain(self) -> bool:
        """Whether the collection holds plain vectors given by callers rather than faces of a model."""
        return self.model == PLAIN_VECTORS


@dataclass(frozen=True)
class CollectionStats:
    """Counts of a collection: photos and faces in a face collection, vectors in a plain-vector one."""

    collection: str
    model: str
    dim: int
    photos: int = 0
    faces: int = 0
    vectors: int = 0
    image_model: str = ""
    image_dim: int = 0
    photo_vectors: int = 0  # photos with a whole-photo vector
    index: str = ""  # how its vectors are searched (exact, or which approximate index)


class Collections:
    """Vector stores by collection name, with the settings Redis holds for them."""

    def __init__(self, store: LibraryStore, stores: VectorStores | None = None) -> None:
        self.store = store
        self.stores = stores or VectorStores()  # opens each collection's vector store in the deployment's engine
        self.index_settings = self.stores.settings  # GPU or CPU FAISS, for the collections and k-means over them
        self._vectors: dict[str, VectorStore] = {}
        self._photos: dict[str, VectorStore] = {}  # whole-photo vectors of collections with an image model, by photo id
        self._info: dict[str, CollectionInfo] = {}
        self.lock = threading.Lock()  # guards the registry and every multi-step Redis change

    def rebuild(self) -> dict[str, int]:
        """Refill every collection from Redis; vectors per collection. Each collection's contents are
        replaced at once, so searches meanwhile see the old ones (a rebuild after a feed gap)."""
        with self.lock:
            stored = self.store.collections.all()
            for name in [n for n in self._info if n not in stored]:  # gone from Redis (it lost its data)
                del self._info[name], self._vectors[name]
                self._photos.pop(name, None)
            for name, settings in stored.items():
                self._fill(self._register(name, settings))
            return {name: c.count() for name, c in self._vectors.items()}

    def catch_up(self) -> int:
        """After the vector engine was unreachable: each vector whose write did not reach it is set again as Redis
        holds it now, a collection made meanwhile is filled, and one with too many such writes is refilled whole;
        how many vectors were set one by one."""
        with self.lock:
            done = 0
            for name, settings in self.store.collections.all().items():
                if name not in self._info:  # made, or followed, while the engine was unreachable
                    self._fill(self._register(name, settings))
                    continue
                info = self._info[name]
                sync = self._sync_vectors if info.plain else self._sync_faces
                done += caught_up(self._vectors[name], lambda: self._fill(info, photos=False), lambda ids: sync(info, ids))
                if info.image_model:
                    done += caught_up(self._photos[name], lambda: self._refill_photos(info),
                                       lambda ids: self._sync_photo_vectors(info, ids))
            return done

    def _fill(self, info: CollectionInfo, photos: bool = True) -> None:
        """Replace a collection's vectors (and its photo vectors) with those Redis holds (lock held)."""
        target = self._vectors[info.name]
        with refilling(target):
            if info.plain:
                ids, vectors = self.store.plain_vectors.all(info.name)
            else:
                faces = list(self.store.faces.all(info.name))
                ids = np.array([f.face_id for f in faces], dtype=np.int64)
                vectors = np.stack([f.vector for f in faces]) if faces else None
            target.replace(ids, vectors if vectors is not None else np.zeros((0, info.dim), np.float32))
        if photos and info.image_model:
            self._refill_photos(info)

    def _refill_photos(self, info: CollectionInfo) -> None:
        """Replace a collection's photo vectors with those Redis holds (lock held)."""
        target = self._photos[info.name]
        with refilling(target):
            records = list(self.store.photo_vectors.all(info.name))
            ids = np.array([r.photo_id for r in records], dtype=np.int64)
            vectors = np.stack([r.vector for r in records]) if records else np.zeros((0, info.image_dim), np.float32)
            target.replace(ids, vectors)

    def _register(self, name: str, settings: CollectionSettings) -> CollectionInfo:
        """Open a collection's stores and list it (an engine that does not answer: not listed, so tried again)."""
        info = CollectionInfo(name, settings.model, settings.dim, settings.image_model, settings.image_dim)
        if name not in self._vectors or self._vectors[name].dim != info.dim:
            self._vectors[name] = self.stores.open(name, info.dim)
        if info.image_model and (name not in self._photos or self._photos[name].dim != info.image_dim):
            self._photos[name] = self.stores.open(f"{name}/photos", info.image_dim)
        self._info[name] = info
        return info

    def _lookup(self, name: str) -> CollectionInfo | None:
        """A collection's settings, registered from Redis if another server made it (lock held)."""
        if name not in self._info:
            settings = self.store.collections.get(name)
            if settings is None:
                return None
            self._register(name, settings)
        return self._info[name]

    def info(self, name: str) -> CollectionInfo:
        """A collection's settings; NOT_FOUND when there is no such collection."""
        name = check_collection_name(name)
        with self.lock:
            info = self._lookup(name)
            if info is None:
                raise CollectionNotFound(f"no collection {name!r}")
            return info

    def holds_plain_vectors(self, name: str) -> bool:
        """Whether `name` is an existing collection of the caller's own plain vectors (False for any other name, valid
        or not: the scope table asks this to fail closed)."""
        try:
            return self.info(name).plain
        except (VectorError, CollectionNotFound):
            return False

    # --- changes made by other servers (the change feed) -------------------------------------

    def follow_collection(self, name: str) -> None:
        """A collection made on another server: registered here."""
        with self.lock:
            self._lookup(name)

    def follow_faces(self, name: str, face_ids: list[int]) -> None:
        """Faces indexed on another server: into this server's copy (adding one twice replaces it)."""
        with self.lock:
            info = self._lookup(name)
            if info is not None and not info.plain:
                self._sync_faces(info, face_ids)

    def _sync_faces(self, info: CollectionInfo, face_ids: list[int]) -> None:
        """These faces as Redis holds them now (lock held): added, or removed where Redis holds none."""
        faces = [f for f in self.store.faces.get(info.name, face_ids) if f is not None]
        photos = self.store.photos.get(info.name, [f.photo_sha256 for f in faces])
        # Only faces their photo's record names: a photo two servers indexed at once keeps one set.
        faces = [f for f in faces if f.photo_sha256 in photos and f.face_id in photos[f.photo_sha256].face_ids]
        target = self._vectors[info.name]
        kept = {f.face_id for f in faces}
        target.remove([i for i in face_ids if i not in kept])
        if faces:
            target.add(np.array([f.face_id for f in faces], dtype=np.int64), np.stack([f.vector for f in faces]))

    def follow_changed(self, name: str) -> None:
        """A collection's settings changed on another server (an image model added): read them again,
        with the photo vectors stored so far."""
        with self.lock:
            settings = self.store.collections.get(name)
            if settings is None:
                return
            had = self._info.get(name)
            info = self._register(name, settings)
            if info.image_model and (had is None or had.image_model != info.image_model):
                self._refill_photos(info)

    def follow_photo_vectors(self, name: str, photo_ids: list[int]) -> None:
        """Whole-photo vectors stored on another server: into this server's copy (each as Redis holds it now)."""
        with self.lock:
            info = self._lookup(name)
            if info is not None and not info.image_model:  # the image model was added there: catch up
                settings = self.store.collections.get(name)
                info = self._register(name, settings) if settings is not None else None
            if info is not None and info.image_model:
                self._sync_photo_vectors(info, photo_ids)

    def _sync_photo_vectors(self, info: CollectionInfo, photo_ids: list[int]) -> None:
        """These photo vectors as Redis holds them now (lock held): added, or removed where Redis holds none."""
        held = [r for r in self.store.photo_vectors.get(info.name, photo_ids) if r is not None]
        target = self._photos[info.name]
        kept = {r.photo_id for r in held}
        target.remove([i for i in photo_ids if i not in kept])
        if held:
            target.add(np.array([r.photo_id for r in held], dtype=np.int64), np.stack([r.vector for r in held]))

    def add_photo_vectors(self, name: str, photo_ids: list[int], vectors: np.ndarray) -> None:
        """Photo vectors just stored in Redis by this server: into its vector store."""
        if photo_ids:
            self.photo_vectors(name).add(np.array(photo_ids, dtype=np.int64), vectors)

    def photo_vectors(self, name: str) -> VectorStore:
        """A collection's whole-photo vectors (FAILED_PRECONDITION where it has no image model)."""
        info = self.info(name)
        if not info.image_model:
            raise NoImageModel(f"collection {info.name!r} has no image model, so no whole-photo vectors: give it one with "
                               f"`facegrid collections set-image-model {info.name} MODEL`")
        return self._photos[info.name]

    def follow_vectors(self, name: str, ids: list[int]) -> None:
        """Plain vectors added or removed on another server: each id as Redis holds it now."""
        with self.lock:
            info = self._lookup(name)
            if info is not None and info.plain:
                self._sync_vectors(info, ids)

    def _sync_vectors(self, info: CollectionInfo, ids: list[int]) -> None:
        """These plain vectors as Redis holds them now (lock held)."""
        held = self.store.plain_vectors.get(info.name, ids)
        target = self._vectors[info.name]
        target.remove([i for i in ids if i not in held])
        if held:
            target.add(np.array(list(held), dtype=np.int64), np.stack(list(held.values())))

    def get(self, name: str) -> VectorStore:
        """A collection's vector store (NOT_FOUND when there is none)."""
        info = self.info(name)
        return self._vectors[info.name]

    def create(self, name: str, model: str, dim: int, image_model: str = "", image_dim: int = 0) -> CollectionInfo:
        """Register a collection unless it exists; its settings (which may be another model's)."""
        name = check_collection_name(name)
        with self.lock:
            if self._lookup(name) is None:
                self._register(name, self.store.collections.create(name, model, dim, image_model, image_dim))
            return self._info[name]

    def photo_collection(self, name: str, default_model: str, default_dim: int, image_model: str = "",
                         image_dim: int = 0) -> CollectionInfo:
        """A collection photos can go into, created with the default model (and `image_model`, if given) on
        first use; asking for another image model than an existing collection has is refused."""
        info = self.create(name, default_model, default_dim, image_model, image_dim)
        if info.plain:
            raise WrongCollectionKind(f"collection {info.name!r} holds plain vectors, not photos: add them with AddVectors")
        if image_model and info.image_model != image_model:
            self.follow_changed(info.name)  # set on another server a moment ago, perhaps: the feed may lag
            info = self.info(info.name)
        if image_model and info.image_model != image_model:
            if not info.image_model:
                raise ModelMismatch(f"collection {info.name!r} exists without an image model: add {image_model!r} with "
                                    f"`facegrid collections set-image-model {info.name} {image_model}` (its photos are "
                                    f"embedded again in the background)")
            raise ModelMismatch(f"collection {info.name!r} has image model {info.image_model!r}, not {image_model!r}: "
                                f"a collection keeps its models (use another collection for another model)")
        return info

    def set_image_model(self, name: str, image_model: str, image_dim: int) -> tuple[CollectionInfo, bool]:
        """Give an existing photo collection an image model (once); (its settings, whether this call set it)."""
        info = self.info(name)
        if info.plain:
            raise WrongCollectionKind(f"collection {info.name!r} holds plain vectors, not photos")
        try:
            settings, changed = self.store.collections.set_image_model(info.name, image_model, image_dim)
        except LookupError:
            raise CollectionNotFound(f"no collection {info.name!r}") from None
        if settings.image_model != image_model:
            raise ModelMismatch(f"collection {info.name!r} has image model {settings.image_model!r} already, not "
                                f"{image_model!r}: a collection keeps its models (use another collection for another model)")
        if not changed and self.store.reembed.state(info.name).missing:
            changed = self.store.reembed.retry_missing(info.name) > 0  # asked again: look again for the photos not found
        with self.lock:
            info = self._register(info.name, settings)
            self._refill_photos(info)  # vectors another server stored before this one saw the change
        return info, changed

    def names(self) -> list[str]:
        """The names of the loaded collections, sorted."""
        with self.lock:
            return sorted(self._info)

