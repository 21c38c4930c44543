"""Bulk indexing: batches of photos embedded while the next ones arrive, their results stored and answered in order.

A caller (one IndexPhotos stream) hands in batches of whatever photos have arrived; each batch is hashed and
sorted (`Library.prepare`: photos already held only gain their path), its new photos go to the BulkEncoder
(worker processes here, encoder servers in the index role), each with its collection's models, and the batch is
stored (`Library.store`) and answered once its embeddings are back, oldest batch first. A photo's failure is in its
own outcome; the run goes on.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Iterator

from facegrid.encoder.ports import BulkEncoder

from .library import IncomingPhoto, IndexOutcome, Library, PhotoToIndex

log = logging.getLogger("facegrid.server")


@dataclass
class IndexedBatch:
    """A batch stored: each photo's outcome in the order sent, and the bytes each photo was sent with."""

    outcomes: list[IndexOutcome]
    sizes: list[int] = field(default_factory=list)


class PhotoIndexing:
    """Bulk indexing over a library, embedding with a BulkEncoder; one `IndexRun` per caller."""

    def __init__(self, library: Library, encoder: BulkEncoder, depth: int) -> None:
        self.library = library
        self.encoder = encoder
        self.depth = max(1, depth)  # batches a run keeps in flight before it waits for the oldest

    def run(self) -> IndexRun:
        """A new run (one stream's batches)."""
        return IndexRun(self)

    def close(self) -> None:
        """Stop the encoder's workers (at shutdown)."""
        self.encoder.close()

    def embed(self, incoming: list[IncomingPhoto]) -> Future | _Gathered:
        """A future of the faces (and whole-photo vectors) of the photos that need them, each embedded with its
        collection's models; each photo is decoded once, where it is embedded, for both."""
        needing = [item for item in incoming if item.needs_faces]
        if not needing:
            return _done([])
        by_model: dict[tuple[str, str], list[int]] = {}
        for position, item in enumerate(needing):
            by_model.setdefault((self.library.model_of(item.collection), item.image_model), []).append(position)
        parts = [(positions, self.encoder.embed_photos(model, [needing[p].photo for p in positions], image_model))
                 for (model, image_model), positions in by_model.items()]
        return parts[0][1] if len(parts) == 1 else _Gathered(parts, len(needing))

    def finish(self, incoming: list[IncomingPhoto], faces: Future | _Gathered) -> list[IndexOutcome]:
        """Store a batch once its embeddings are back; a batch that cannot be stored fails in each photo's outcome."""
        try:
            self.library.store(incoming, faces.result())
        except Exception as error:  # noqa: BLE001 - a failed batch is reported in its photos' results
            log.exception("storing a batch of %d photos failed", len(incoming))
            for item in incoming:
                if not (item.outcome.error or item.outcome.already_indexed):
                    item.outcome.error, item.outcome.faces = error, 0
        return [item.outcome for item in incoming]


class IndexRun:
    """One caller's batches in flight, oldest first: submitted as they arrive, answered in order."""

    def __init__(self, indexing: PhotoIndexing) -> None:
        self.indexing = indexing
        self._in_flight: deque = deque()  # (incoming photos, future of their faces, photo sizes)

    def submit(self, photos: list[PhotoToIndex]) -> None:
        """Start a batch: sort it (photos held already, bad requests) and embed its new photos."""
        incoming = self.indexing.library.prepare(photos)
        self._in_flight.append((incoming, self.indexing.embed(incoming), [len(p.photo) for p in photos]))

    def oldest_done(self) -> bool:
        """Whether the oldest batch can be answered without waiting."""
        return bool(self._in_flight) and self._in_flight[0][1].done()

    def busy(self) -> bool:
        """Whether any batch is in flight (the caller is owed results)."""
        return bool(self._in_flight)

    def finished(self) -> Iterator[IndexedBatch]:
        """The batches that are done, oldest first, waiting for the oldest while too many are in flight."""
        while self._in_flight and (self.oldest_done() or len(self._in_flight) > self.indexing.depth):
            yield self._finish_oldest()

    def rest(self) -> Iterator[IndexedBatch]:
        """Every batch still in flight, in order (the caller has sent its last photo)."""
        while self._in_flight:
            yield self._finish_oldest()

    def close(self) -> int:
        """End the run; how many batches it left unanswered (a stream that ended early)."""
        left = len(self._in_flight)
        self._in_flight.clear()
        return left

    def _finish_oldest(self) -> IndexedBatch:
        incoming, faces, sizes = self._in_flight.popleft()
        return IndexedBatch(self.indexing.finish(incoming, faces), sizes)


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class _Gathered:
    """The faces of a batch whose photos go to several models' workers, in the batch's order."""

    def __init__(self, parts: list[tuple[list[int], Future]], count: int) -> None:
        self.parts, self.count = parts, count

    def done(self) -> bool:
        return all(future.done() for _, future in self.parts)

    def result(self) -> list:
        faces: list = [None] * self.count
        for positions, future in self.parts:
            for position, found in zip(positions, future.result()):
                faces[position] = found
        return faces
