"""The vector-store interface every engine behind a collection implements: FAISS (index/collection.py) and Milvus
(index/milvus_store.py); index/stores.py opens the one a deployment chose.

A store is derived data: its owner fills it from the system of record (Redis) and keeps it in
step; every method takes and returns numpy arrays (`float32 (n, dim)`, `int64 (n,)`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .collection import Hits


@runtime_checkable
class VectorStore(Protocol):
    """Vectors of one dimension under int64 ids."""

    name: str
    dim: int

    def add(self, ids, vectors: np.ndarray) -> None:
        """Add vectors under ids; an id already present is replaced."""

    def remove(self, ids) -> int:
        """Remove ids (absent ones are ignored); how many were removed."""

    def search(self, queries: np.ndarray, k: int) -> Hits:
        """The k best-scoring vectors for each query."""

    def count(self) -> int:
        """How many vectors are stored."""

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of everything stored."""

    def describe(self) -> str:
        """How it searches, in a line (Stats shows it): FAISS's index and tuning, or the engine's name."""

    def take_unsynced(self) -> set[int] | None:
        """Ids whose last write failed because the engine was unreachable (a remote engine: Milvus), forgotten by
        the store as they are handed over; None when too many did to list (rebuild everything). Its owner re-reads
        them from Redis once the engine answers, and gives back with `mark_unsynced` what it could not finish."""

    def mark_unsynced(self, ids: set[int] | None) -> None:
        """Ids the engine may hold wrongly, for the next catch-up (None: any of them)."""

    def clear(self) -> None:
        """Remove everything (before a rebuild)."""

    def compact(self) -> None:
        """Make removed vectors unrecoverable from the engine's own storage (after a Forget): Milvus compacts, since
        its deletes are soft until then; an in-process index keeps nothing on disk."""
