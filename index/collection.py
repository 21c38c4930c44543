"""A named set of vectors of one model: external int64 ids, add / remove / exact search.

Exact inner-product search (`IndexFlatIP` inside `IndexIDMap2`): on unit vectors
the inner product is the cosine. Removal works and is exact. Where faiss-gpu sees a
GPU (index/gpu.py decides, once), searches run on a GPU copy of the flat storage;
the CPU index stays the truth for ids, removal and reconstruction, and the copy is
rebuilt from it after a removal (FAISS's GPU flat index has no id map). The
collection is derived data: its owner rebuilds it from the system of record on start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import faiss
import numpy as np

from .errors import VectorError
from .gpu import GpuFlat, IndexSettings, gpu_count

MAX_K = 1000  # more neighbours than anyone reads; bounds the reply size
_SCAN_QUERIES = 4  # up to this many queries, scan with BLAS instead of FAISS's per-query loop


def check_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    """(n, dim) C-contiguous float32 with finite values, or a VectorError saying what is wrong."""
    array = np.asarray(vectors)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise VectorError(f"expected vectors of shape (n, {dim}), got shape {array.shape}")
    if array.shape[1] != dim:
        raise VectorError(f"expected {dim}-dimensional vectors, got {array.shape[1]}")
    if not np.issubdtype(array.dtype, np.number):
        raise VectorError(f"vectors must be numbers, got {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise VectorError("vectors contain NaN or infinite values")
    return array


def check_ids(ids, count: int) -> np.ndarray:
    """int64 ids, one per vector."""
    array = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
    if len(array) != count:
        raise VectorError(f"{len(array)} ids for {count} vectors")
    return array


@dataclass(frozen=True)
class Hits:
    """Search results: per query, up to k (score, id) pairs, best first."""

    scores: np.ndarray  # (queries, k) float32
    ids: np.ndarray  # (queries, k) int64; -1 where fewer than k vectors exist


class Collection:  # implements index.store.VectorStore
    """Vectors of one dimension under int64 ids, searched exactly by inner product."""

    def __init__(self, name: str, dim: int, settings: IndexSettings = IndexSettings()) -> None:
        if dim <= 0:
            raise VectorError(f"dimension must be positive, got {dim}")
        self.name = name
        self.dim = dim
        self._flat = faiss.IndexFlatIP(dim)
        self._index = faiss.IndexIDMap2(self._flat)
        self._lock = threading.RLock()  # FAISS indexes are not safe for concurrent writes
        self._ids: np.ndarray | None = None  # position -> id, cached between writes
        self._gpu = GpuFlat(self._flat) if gpu_count(settings) > 0 else None

    @property
    def on_gpu(self) -> bool:
        """Whether searches run on a GPU copy of the vectors."""
        return self._gpu is not None

    def add(self, ids, vectors: np.ndarray) -> None:
        """Add vectors under ids; an id already present is replaced."""
        vectors = check_vectors(vectors, self.dim)
        ids = check_ids(ids, len(vectors))
        with self._lock:
            replaced = self._index.remove_ids(ids)
            self._index.add_with_ids(vectors, ids)
            self._ids = None
            if self._gpu is not None:
                # Only a pure append keeps the positions the GPU copy holds.
                self._gpu.appended(vectors) if replaced == 0 else self._gpu.changed()

    def remove(self, ids) -> int:
        """Remove ids (absent ones are ignored); how many were removed."""
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        with self._lock:
            self._ids = None
            removed = int(self._index.remove_ids(ids))
            if removed and self._gpu is not None:
                self._gpu.changed()  # removal compacts the flat storage: positions shift
            return removed

    def search(self, queries: np.ndarray, k: int) -> Hits:
        """The k best-scoring vectors for each query, exactly."""
        queries = check_vectors(queries, self.dim)
        if not 1 <= k <= MAX_K:
            raise VectorError(f"k must be between 1 and {MAX_K}, got {k}")
        with self._lock:
            n = self._index.ntotal
            k = min(k, max(n, 1))
            if n > 0 and self._gpu is not None:
                scores, positions = self._gpu.search(queries, k)
                ids = np.where(positions >= 0, self._position_ids()[np.maximum(positions, 0)], -1)
                return Hits(scores=scores, ids=ids)
            if n > 0 and len(queries) <= _SCAN_QUERIES:
                return self._scan(queries, k)
            scores, ids = self._index.search(queries, k)
        return Hits(scores=scores, ids=ids)

    def _position_ids(self) -> np.ndarray:
        """Storage position -> id, cached until the next write."""
        if self._ids is None:
            self._ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return self._ids

    def _scan(self, queries: np.ndarray, k: int) -> Hits:
        """Few queries: one BLAS matrix-vector product over FAISS's own storage (no copy).

        FAISS parallelises exact search over queries, so a single query runs on one
        core; this scan is memory-bound and uses them all (1M x 128: 2x faster here).
        """
        n = self._flat.ntotal
        stored = faiss.rev_swig_ptr(self._flat.get_xb(), n * self.dim).reshape(n, self.dim)
        position_ids = self._position_ids()
        scores = queries @ stored.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(queries), 1))
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return Hits(scores=np.take_along_axis(top_scores, order, axis=1).astype(np.float32),
                    ids=position_ids[np.take_along_axis(top, order, axis=1)])

    def vector(self, id_: int) -> np.ndarray | None:
        """The stored vector under an id, or None."""
        with self._lock:
            try:
                return self._index.reconstruct(int(id_))
            except RuntimeError:  # FAISS raises for an unknown id
                return None

    def __contains__(self, id_: int) -> bool:
        return self.vector(id_) is not None

    def count(self) -> int:
        """How many vectors are stored."""
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """All stored ids."""
        with self._lock:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of everything stored, as copies."""
        with self._lock:
            n = self._flat.ntotal
            stored = faiss.rev_swig_ptr(self._flat.get_xb(), n * self.dim).reshape(n, self.dim).copy() if n else np.zeros((0, self.dim), np.float32)
            return faiss.vector_to_array(self._index.id_map).astype(np.int64), stored

    def clear(self) -> None:
        """Remove everything."""
        with self._lock:
            self._index.reset()
            self._ids = None
            if self._gpu is not None:
                self._gpu.changed()

    def replace(self, ids, vectors: np.ndarray) -> None:
        """Replace everything at once (a rebuild): a search sees the old contents or the new, never half."""
        vectors = check_vectors(vectors, self.dim)
        ids = check_ids(ids, len(vectors))
        with self._lock:
            self._index.reset()
            if len(ids):
                self._index.add_with_ids(vectors, ids)
            self._ids = None
            if self._gpu is not None:
                self._gpu.changed()
