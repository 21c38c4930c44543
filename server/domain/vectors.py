"""Collections of the caller's own vectors: any dimension, int64 ids, searched by vector."""

from __future__ import annotations

import numpy as np

from facegrid.index.checks import check_ids, check_vectors
from facegrid.index.errors import VectorError

from .collections import PLAIN_VECTORS, Collections, CollectionStats, check_collection_name
from .errors import CollectionExists, WrongCollectionKind

MAX_DIM = 4096


class VectorCollections:
    """Plain-vector collections: Redis first, then the vector store."""

    def __init__(self, collections: Collections) -> None:
        self.collections = collections
        self.store = collections.store

    def create(self, collection: str, dim: int) -> CollectionStats:
        """A collection for the caller's own vectors of one dimension (idempotent)."""
        name = check_collection_name(collection)
        if not 1 <= dim <= MAX_DIM:
            raise VectorError(f"dim must be between 1 and {MAX_DIM}, got {dim}")
        info = self.collections.create(name, PLAIN_VECTORS, dim)
        if not info.plain or info.dim != dim:
            raise CollectionExists(f"collection {name!r} exists with {info.model} vectors of dimension {info.dim}")
        return self.stats(name)

    def _plain(self, collection: str):
        info = self.collections.info(collection)
        if not info.plain:
            raise WrongCollectionKind(f"collection {info.name!r} holds faces; add photos with IndexPhotos")
        return info, self.collections.get(info.name)

    def add(self, collection: str, ids, vectors) -> CollectionStats:
        """Add or replace the caller's vectors."""
        info, target = self._plain(collection)
        vectors = check_vectors(vectors, target.dim)
        ids = check_ids(ids, len(vectors))
        with self.collections.lock:
            self.store.plain_vectors.add(info.name, ids, vectors)
            target.add(ids, vectors)
        return self.stats(info.name)

    def remove(self, collection: str, ids) -> CollectionStats:
        """Remove vectors by id from Redis, then from the index; the collection's figures after."""
        info, target = self._plain(collection)
        ids = np.asarray(ids, dtype=np.int64)
        with self.collections.lock:
            self.store.plain_vectors.remove(info.name, ids)
            target.remove(ids)
        return self.stats(info.name)

    def stats(self, collection: str) -> CollectionStats:
        """A collection's figures: model, dimension, vector count and the index that holds them."""
        info = self.collections.info(collection)
        store = self.collections.get(info.name)
        return CollectionStats(info.name, info.model, info.dim, vectors=store.count(), index=store.describe())
