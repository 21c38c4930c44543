"""Faces indexed after a clustering join the nearest group of it when close enough.

Shared by the photo library (which indexes faces) and person grouping (which makes the
groups and invalidates them on a correction), so neither needs the other.
"""

from __future__ import annotations

import threading

import numpy as np

from facegrid.index.cluster import UNASSIGNED, assign, group_vectors

from ..store.library import LibraryStore


class GroupAssigner:
    """Per collection, the unit mean vector of each group of the last clustering, and the grouping
    version they were computed from (another server's clustering or correction makes them stale)."""

    def __init__(self, store: LibraryStore) -> None:
        self.store = store
        self._means: dict[str, tuple[int, np.ndarray, np.ndarray, float]] = {}
        self._lock = threading.Lock()

    def remember(self, collection: str, version: int, group_ids: np.ndarray, means: np.ndarray, threshold: float) -> None:
        """Keep a collection's group means as of a grouping version, for assigning new faces."""
        with self._lock:
            self._means[collection] = (version, group_ids, means, threshold)

    def forget(self, collection: str) -> None:
        """The groups changed (a correction, or another server): re-read them on next use."""
        with self._lock:
            self._means.pop(collection, None)

    def forget_all(self) -> None:
        """After a gap in the change feed: every cached grouping may be stale."""
        with self._lock:
            self._means.clear()

    def assign_new(self, collection: str, face_ids: list[int], vectors: np.ndarray) -> None:
        """Give new faces the group whose mean they are close enough to (stored in Redis), by the
        grouping stored now, whichever server made it."""

        def labels_for(version: int) -> dict[int, int]:
            means = self._load(collection, version)
            if means is None:
                return {}
            group_ids, group_means, threshold = means
            labels = assign(vectors, group_ids, group_means, threshold)
            return {f: int(g) for f, g in zip(face_ids, labels) if g != UNASSIGNED}

        self.store.grouping.assign(collection, labels_for)

    def _load(self, collection: str, version: int):
        with self._lock:
            cached = self._means.get(collection)
            if cached is not None and cached[0] == version:
                return cached[1:]
        settings = self.store.grouping.clustering(collection)
        if settings is None:
            return None
        grouped = self.store.grouping.groups(collection)
        faces = [f for f in self.store.faces.get(collection, list(grouped)) if f is not None]
        if not faces:
            return None
        labels = np.array([grouped[f.face_id] for f in faces])
        group_ids, means = group_vectors(np.stack([f.vector for f in faces]), labels)
        self.remember(collection, version, group_ids, means, settings.threshold)
        return group_ids, means, settings.threshold
