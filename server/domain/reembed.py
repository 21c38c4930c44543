"""Embedding again, in the background, the photos a collection held before it was given an image model.

Progress lives in Redis, so a restarted server (or another one on the same Redis) picks up where the
last stopped: a photo is done once it has a photo id (`{fg:c:<c>}:photo_ids`), counted missing once none
of its stored paths still holds it (`{fg:c:<c>}:reembed:missing`), and the job is `running` until a scan
finds neither left to do. One server at a time works on a collection (a lock in Redis; the others look
again every few seconds, so a server that dies holding it is replaced once its lock expires). Photos
indexed meanwhile get their vector as they are indexed and are simply skipped here.

Photos are found by their stored paths: the bytes read must still hash to the photo's sha256, or that
path no longer holds the photo.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..store.locks import LockBusy
from ..store.photos import PhotoRecord
from .collections import Collections

log = logging.getLogger("facegrid.server")

# (face model of the collection, image model, photos' bytes) -> a vector or an error per photo, in order.
EmbedPhotos = Callable[[str, str, list[bytes]], list]


@dataclass(frozen=True)
class ReembedProgress:
    """How far a collection's re-embedding has got: photos with a vector, photos in all, photos not found."""

    collection: str
    state: str  # "running", "done", or "" where the collection never needed one
    model: str
    done: int
    total: int
    missing: int


def read_photo(record: PhotoRecord) -> tuple[bytes | None, str]:
    """The photo's bytes from the first stored path that still holds it, or (None, why not)."""
    reasons = []
    for path in record.paths:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            reasons.append(f"{path}: {error.strerror or type(error).__name__}")
            continue
        if hashlib.sha256(data).hexdigest() == record.photo_sha256:
            return data, ""
        reasons.append(f"{path}: holds another photo now")
    return None, "no stored path holds the photo any more (" + "; ".join(reasons or ["no path recorded"]) + ")"


class Reembedder:
    """One background thread re-embedding every collection whose job is `running`."""

    def __init__(self, collections: Collections, embed: EmbedPhotos, batch: int = 8, pause_s: float = 0.0,
                 look_s: float = 5.0) -> None:
        self.collections = collections
        self.store = collections.store
        self.embed = embed
        self.batch = max(1, batch)
        self.pause_s = pause_s  # between batches: bulk work that must not crowd out indexing and searches
        self.look_s = look_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Reembedder":
        """Start the background thread; returns self so it can be made and started in one line."""
        self._thread = threading.Thread(target=self._run, name="reembed", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look for work now (an image model was just added)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread and wait for it; a collection left unfinished goes on at the next start (still running)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def progress(self, collection: str) -> ReembedProgress:
        """Where a collection's re-embedding stands (done and total count every photo of the collection)."""
        info = self.collections.info(collection)
        state = self.store.reembed.state(info.name)
        return ReembedProgress(info.name, state.state, state.model or info.image_model,
                               self.store.photo_vectors.count(info.name), self.store.photos.count(info.name), state.missing)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                for name in self._pending():
                    if self._stopping.is_set():
                        return
                    self._collection(name)
            except Exception:  # noqa: BLE001 - Redis down or a bad batch: look again later, the thread lives on
                log.exception("re-embedding: failed; trying again in %.0f s", self.look_s)
            self._wake.wait(self.look_s)
            self._wake.clear()

    def _pending(self) -> list[str]:
        return [name for name, settings in self.store.collections.all().items()
                if settings.image_model and self.store.reembed.state(name).state == "running"]

    def _collection(self, name: str) -> None:
        """Re-embed one collection to the end, unless another server is at it."""
        lock = self.store.reembed.lock(name)
        try:
            lock.acquire()
        except LockBusy:
            return  # another server is doing it
        try:
            self.collections.follow_changed(name)  # the image model may have been added on another server a moment ago
            info = self.collections.info(name)
            log.info("re-embedding the photos of %s with %s", name, info.image_model)
            while not self._stopping.is_set():
                worked = False
                for batch in self.store.reembed.photos_without_vectors(name, self.batch):
                    if self._stopping.is_set():
                        return
                    self._batch(info.name, info.model, info.image_model, batch)
                    worked = True
                    if self.pause_s:
                        self._stopping.wait(self.pause_s)
                if not worked:  # a whole scan found nothing left: done
                    self.store.reembed.finish(name)
                    progress = self.progress(name)
                    log.info("re-embedding of %s done: %d of %d photos, %d missing", name, progress.done, progress.total,
                             progress.missing)
                    return
        finally:
            lock.release()

    def _batch(self, collection: str, face_model: str, image_model: str, records: list[PhotoRecord]) -> None:
        missing: dict[str, str] = {}
        readable: list[tuple[str, bytes]] = []
        for record in records:
            data, why = read_photo(record)
            if data is None:
                missing[record.photo_sha256] = why
            else:
                readable.append((record.photo_sha256, data))
        vectors = self.embed(face_model, image_model, [data for _, data in readable]) if readable else []
        found = []
        for (digest, _), vector in zip(readable, vectors, strict=True):
            if isinstance(vector, Exception):
                missing[digest] = f"cannot be embedded: {vector}"
            else:
                found.append((digest, np.asarray(vector, dtype=np.float32)))
        ids = self.store.photo_vectors.add(collection, found, missing)
        kept = [(photo_id, vector) for photo_id, (_, vector) in zip(ids, found) if photo_id is not None]
        if kept:
            self.collections.add_photo_vectors(collection, [i for i, _ in kept], np.stack([v for _, v in kept]))
