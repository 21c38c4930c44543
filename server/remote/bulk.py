"""Bulk indexing in the index role: the photos of a batch embedded by the encoder servers, several calls at once.

Bulk indexing (domain/indexing.py) hands batches here instead of to local worker processes (encoder/ports.py's
BulkEncoder, as encoder/worker_pools.py's BulkWorkers). Each photo is one Embed call (and
one EmbedPhoto call where its collection has an image model), the calls of a batch spread over the encoders
by the pool's round-robin; a photo whose encoder dies in flight is sent to the next one, so a bulk run
survives an encoder going down and no photo is embedded twice into the library (the library stores a photo
once, by its hash, whichever encoder embedded it). When every encoder is busy (queues full of other callers'
work) a photo waits and is sent again, for up to BUSY_PATIENCE_S, rather than failing the photo: a bulk run is
not in a hurry, a gate is.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from facegrid.encoder.errors import EncoderError
from facegrid.encoder.pipeline import PhotoEmbedding
from facegrid.v1 import encoder_pb2

from .encoders import EncoderPool
from ..domain.error_kinds import RETRY_AFTER_S
from ..domain.errors import EncodersBusy, EncodersUnavailable
from .models import face_of

CALLS_PER_ENCODER = 4  # Embed calls in flight per encoder: enough to keep its batcher fed without queueing deep
BUSY_PATIENCE_S = 60.0  # how long a photo is sent again while every encoder is busy, before it counts as failed


class RemoteBulk:
    """Batches of photos to faces (and whole-photo vectors), embedded by the encoders."""

    def __init__(self, pool: EncoderPool, calls: int = 0) -> None:
        self.pool = pool
        self._calls = ThreadPoolExecutor(max_workers=calls or CALLS_PER_ENCODER * len(pool.addresses),
                                         thread_name_prefix="encoder-call")

    def _call(self, method: str, request):
        """pool.call, sent again while every encoder is busy, for up to BUSY_PATIENCE_S."""
        deadline = time.monotonic() + BUSY_PATIENCE_S
        while True:
            try:
                return self.pool.call(method, request)
            except EncodersBusy:
                if time.monotonic() + RETRY_AFTER_S > deadline:
                    raise
                time.sleep(RETRY_AFTER_S)

    def _photo(self, photo: bytes, model: str, image_model: str) -> PhotoEmbedding | Exception:
        try:
            reply = self._call("Embed", encoder_pb2.EmbedRequest(photo=photo, model=model))
            vector = None
            if image_model:
                found = self._call("EmbedPhoto", encoder_pb2.EmbedPhotoRequest(photo=photo, model=image_model))
                vector = np.asarray(found.vector, dtype=np.float32)
            return PhotoEmbedding([face_of(f) for f in reply.faces], vector)
        except (EncoderError, EncodersUnavailable) as error:  # one photo's failure is that photo's
            return error

    def embed_photos(self, model: str, photos: list[bytes], image_model: str = "") -> Future:
        """A future of the photos' PhotoEmbedding (or error), in order, as the worker task `embed_photos` gives."""
        parts = [self._calls.submit(self._photo, photo, model, image_model) for photo in photos]
        return _gathered(parts)

    def photo_vectors(self, face_model: str, image_model: str, photos: list[bytes]) -> list[np.ndarray | Exception]:
        """Whole-photo vectors alone (the background re-embedding), one EmbedPhoto call each (the face model is the
        encoders' business)."""
        def one(photo: bytes):
            try:
                found = self._call("EmbedPhoto", encoder_pb2.EmbedPhotoRequest(photo=photo, model=image_model))
                return np.asarray(found.vector, dtype=np.float32)
            except (EncoderError, EncodersUnavailable) as error:
                return error

        return list(self._calls.map(one, photos))

    def close(self) -> None:
        """Stop taking batches (calls in flight finish)."""
        self._calls.shutdown(wait=False, cancel_futures=True)


def _gathered(parts: list[Future]) -> Future:
    """One future of the parts' results in order, done when the last part is."""
    whole: Future = Future()
    if not parts:
        whole.set_result([])
        return whole
    left = [len(parts)]
    lock = threading.Lock()  # parts finish on several threads

    def one_done(_):
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            try:
                whole.set_result([p.result() for p in parts])
            except Exception as error:  # noqa: BLE001 - a cancelled part (shutdown) fails the batch
                whole.set_exception(error)

    for part in parts:
        part.add_done_callback(one_done)
    return whole
