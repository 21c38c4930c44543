"""Validation of what callers hand a vector store: vectors, ids and k, with a VectorError saying what is wrong.

Shared by every engine (index/faiss_store.py, index/milvus_store.py) and by the server's domain, which checks a
request before anything is written to Redis.
"""

from __future__ import annotations

import numpy as np

from .errors import VectorError

MAX_K = 1000  # more neighbours than anyone reads; bounds the reply size


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


def id_array(ids) -> np.ndarray:
    """Ids as a flat C-contiguous int64 array."""
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def check_ids(ids, count: int) -> np.ndarray:
    """int64 ids, one per vector."""
    array = id_array(ids)
    if len(array) != count:
        raise VectorError(f"{len(array)} ids for {count} vectors")
    return array


def check_k(k: int) -> int:
    """The number of neighbours asked for, between 1 and MAX_K."""
    if not 1 <= k <= MAX_K:
        raise VectorError(f"k must be between 1 and {MAX_K}, got {k}")
    return k
