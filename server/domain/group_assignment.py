"""Faces indexed after a clustering join the nearest group of it when close enough.

Shared by the photo library (which indexes faces) and person grouping (which makes the
groups and invalidates them on a correction), so neither needs the other.
"""

from __future__ import annotations

import threading

import numpy as np

from facegrid.index.cluster import UNASSIGNED, assign, group_vectors

from ..store.photos import LibraryStore


class GroupAssigner:
    """Per collection, the unit mean vector of each group of the last clustering."""

    def __init__(self, store: LibraryStore) -> None:
        self.store = store
        self._means: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        self._lock = threading.Lock()

    def remember(self, collection: str, group_ids: np.ndarray, means: np.ndarray, threshold: float) -> None:
        with self._lock:
            self._means[collection] = (group_ids, means, threshold)

    def forget(self, collection: str) -> None:
        """The groups changed (a correction, or another server): re-read them on next use."""
        with self._lock:
            self._means.pop(collection, None)

    def assign_new(self, collection: str, face_ids: list[int], vectors: np.ndarray) -> None:
        """Give new faces the group whose mean they are close enough to (stored in Redis)."""
        means = self._load(collection)
        if means is None:
            return
        group_ids, group_means, threshold = means
        labels = assign(vectors, group_ids, group_means, threshold)
        self.store.assign_groups(collection, {f: int(g) for f, g in zip(face_ids, labels) if g != UNASSIGNED})

    def _load(self, collection: str):
        with self._lock:
            if collection in self._means:
                return self._means[collection]
        settings = self.store.clustering(collection)
        if settings is None:
            return None
        grouped = self.store.groups(collection)
        faces = [f for f in self.store.faces(collection, list(grouped)) if f is not None]
        if not faces:
            return None
        labels = np.array([grouped[f.face_id] for f in faces])
        group_ids, means = group_vectors(np.stack([f.vector for f in faces]), labels)
        self.remember(collection, group_ids, means, settings["threshold"])
        return group_ids, means, settings["threshold"]
