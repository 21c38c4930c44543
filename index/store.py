"""The vector-store interface every engine behind a collection implements: FAISS in this process
(index/faiss_store.py) and a Milvus server (index/milvus_store.py); index/stores.py opens the one a deployment chose.

A store is derived data: its owner fills it from the system of record (Redis) and keeps it in
step; every method takes and returns numpy arrays (`float32 (n, dim)`, `int64 (n,)`).
tests/test_vector_stores.py runs this whole interface against both engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Hits:
    """Search results: per query, up to k (score, id) pairs, best first."""

    scores: np.ndarray  # (queries, k) float32; -FLT_MAX where fewer than k vectors exist
    ids: np.ndarray  # (queries, k) int64; -1 where fewer than k vectors exist


@runtime_checkable
class VectorStore(Protocol):
    """Vectors of one dimension under int64 ids, searched by inner product."""

    name: str
    dim: int

    @property
    def on_gpu(self) -> bool:
        """Whether searches run on a GPU in this process (FAISS on faiss-gpu; never a remote engine)."""

    def add(self, ids, vectors: np.ndarray) -> None:
        """Add vectors under ids; an id already present is replaced."""

    def remove(self, ids) -> int:
        """Remove ids (absent ones are ignored); how many were removed."""

    def replace(self, ids, vectors: np.ndarray) -> None:
        """Replace everything at once (a rebuild): a search sees the old contents or the new, never half."""

    def clear(self) -> None:
        """Remove everything."""

    def search(self, queries: np.ndarray, k: int) -> Hits:
        """The k best-scoring vectors for each query: min(k, max(count, 1)) columns, padded with id -1."""

    def vector(self, id_: int) -> np.ndarray | None:
        """The stored vector under an id, or None."""

    def __contains__(self, id_: int) -> bool:
        """Whether a vector is stored under the id."""

    def count(self) -> int:
        """How many vectors are stored."""

    def ids(self) -> np.ndarray:
        """All stored ids."""

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of everything stored, as copies."""

    def describe(self) -> str:
        """How it searches, in a line (Stats shows it): FAISS's index and tuning, or the engine's name."""

    def take_unsynced(self) -> set[int] | None:
        """Ids whose last write failed because the engine was unreachable (a remote engine: Milvus), forgotten by
        the store as they are handed over; None when too many did to list (rebuild everything). Its owner re-reads
        them from Redis once the engine answers, and gives back with `mark_unsynced` what it could not finish."""

    def mark_unsynced(self, ids: set[int] | None) -> None:
        """Ids the engine may hold wrongly, for the next catch-up (None: any of them)."""

    def compact(self) -> None:
        """Make removed vectors unrecoverable from the engine's own storage (after a Forget): Milvus compacts, since
        its deletes are soft until then; an in-process index keeps nothing on disk."""
