"""A dynamic batcher: concurrent callers' items gathered into one inference call, results handed back.

In the style of Triton's dynamic batcher (max batch size, max queue delay, bounded queue) and
infinity's batch handler. Each caller hands in a (k, ...) stack — all items of one request, e.g. a
photo's face chips and their mirror images — and blocks until it gets exactly its k rows of the
model's output back, in order. A worker thread takes queued items in arrival order until
`max_batch` items are gathered or `max_wait_ms` has passed since the first (0: take what is queued
now, never wait), concatenates them, runs the model once and splits the output back by request. A
request may be split across batches (so batches fill up to `max_batch`); its rows are reassembled
by offset, in order, before its caller sees them.

Why few workers (one by default; more are Triton's model instances): a few large runs instead of
many small ones fighting over the cores; on a GPU it is how batches get large. Each output slice goes
to the request object it was cut for, never by position in a shared buffer, so a caller's rows cannot
reach another caller (the misrouting Immich's fork warned of; tests check it with known answers).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from .errors import QueueFull

if TYPE_CHECKING:  # no ONNX Runtime import for a batcher in front of anything
    from .runtime import EncoderSettings


@dataclass(frozen=True)
class BatcherStats:
    """Counters since start: batches run, items run, requests served or failed, items queued now."""

    name: str
    batches: int
    items: int
    requests: int
    failed_batches: int
    queued: int
    max_batch: int

    @property
    def mean_batch(self) -> float:
        """Mean items per model run."""
        return self.items / self.batches if self.batches else 0.0


class _Request:
    """One caller's stack: rows given to batches so far, output pieces received, and its future."""

    __slots__ = ("rows", "taken", "pieces", "received", "future")

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.taken = 0  # rows handed to batches
        self.pieces: list[tuple[int, np.ndarray]] = []  # (first row, output rows); workers may finish out of order
        self.received = 0
        self.future: Future = Future()


class BatcherClosed(RuntimeError):
    """The batcher was closed: no model run will take this request."""


_LIVE: "weakref.WeakSet[Batcher]" = weakref.WeakSet()


def live_batchers() -> list["Batcher"]:
    """Every batcher not yet closed or collected (for metrics)."""
    return [b for b in list(_LIVE) if not b.closed]


class Batcher:
    """Gathers concurrent callers' items into batches for `run`, one worker thread."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], *, name: str, max_batch: int, max_wait_ms: float = 0.0,
                 max_queue: int = 1024, workers: int = 1) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0 or workers < 1:
            raise ValueError("max_batch, max_queue and workers must be at least 1, max_wait_ms not negative")
        self.name = name
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._run = run
        self._queue: deque[_Request] = deque()
        self._queued = 0  # rows waiting, not yet handed to a batch
        self._lock = threading.Condition()
        self._closed = False
        self._batches = self._items = self._requests = self._failed = 0
        # Usually one worker; more are Triton's model instances: batches run side by side on one
        # (thread-safe) session, for a model whose runs cannot use every core by themselves.
        self._threads = [threading.Thread(target=self._work, name=f"batcher-{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()
        _LIVE.add(self)

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def submit(self, stack: np.ndarray) -> Future:
        """Queue a (k, ...) stack; the future gives run's k output rows in order. QueueFull at once when full."""
        stack = np.asarray(stack)
        if stack.ndim == 0 or len(stack) == 0:
            raise ValueError("a request needs at least one item, as a (k, ...) stack")
        request = _Request(stack)
        with self._lock:
            if self._closed:
                raise BatcherClosed(f"the {self.name} batcher is closed")
            # A request bigger than the whole queue still gets in when nothing waits (it runs in chunks).
            if self._queued and self._queued + len(stack) > self.max_queue:
                raise QueueFull(f"the {self.name} model's queue is full ({self._queued} items waiting, at most "
                                f"{self.max_queue}); try again shortly")
            self._queue.append(request)
            self._queued += len(stack)
            self._lock.notify()
        return request.future

    def __call__(self, stack: np.ndarray) -> np.ndarray:
        """run's output rows for a (k, ...) stack, computed in a shared batch; blocks until they are ready."""
        return self.submit(stack).result()

    def stats(self) -> BatcherStats:
        """Counters since start."""
        with self._lock:
            return BatcherStats(self.name, self._batches, self._items, self._requests, self._failed, self._queued,
                                self.max_batch)

    def close(self, wait: bool = True) -> None:
        """Stop taking requests; those queued fail with BatcherClosed; the worker ends after its current batch."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            left, self._queue = list(self._queue), deque()
            self._queued = 0
            self._lock.notify_all()
        for request in left:
            _settle(request.future, error=BatcherClosed(f"the {self.name} batcher was closed"))
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()

    # --- the worker ----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            batch = self._gather()
            if batch is None:
                return
            self._run_batch(batch)

    def _gather(self) -> list[tuple[_Request, int, int]] | None:
        """(request, start, stop) slices for the next batch, in arrival order; None once closed."""
        with self._lock:
            while not self._queue and not self._closed:
                self._lock.wait()
            if self._closed:
                return None
            if self.max_wait > 0 and self._queued < self.max_batch:
                # Triton's max_queue_delay: wait from the first request's arrival for others to join.
                deadline = time.monotonic() + self.max_wait
                while self._queued < self.max_batch and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._lock.wait(left)
                if self._closed:
                    return None
            batch, size = [], 0
            while self._queue and size < self.max_batch:
                request = self._queue[0]
                start = request.taken
                stop = min(len(request.rows), start + self.max_batch - size)
                batch.append((request, start, stop))
                request.taken = stop
                size += stop - start
                if stop == len(request.rows):
                    self._queue.popleft()
            self._queued -= size
            return batch

    def _run_batch(self, batch: list[tuple[_Request, int, int]]) -> None:
        live = [(r, a, b) for r, a, b in batch if not r.future.done()]  # a failed request's later chunks are dropped
        if not live:
            return
        parts = [r.rows[a:b] for r, a, b in live]
        size = sum(len(p) for p in parts)
        try:
            out = self._run(parts[0] if len(parts) == 1 else np.concatenate(parts))
            if len(out) != size:
                raise RuntimeError(f"the {self.name} model returned {len(out)} rows for {size} items")
        except BaseException as error:  # noqa: BLE001 - every caller of this batch gets the error; the worker goes on
            with self._lock:
                self._batches += 1
                self._failed += 1
            for request, _, _ in live:
                _settle(request.future, error=error)
            return
        finished = []
        at = 0
        with self._lock:  # several workers may hold chunks of one request
            for request, start, stop in live:
                request.pieces.append((start, out[at : at + stop - start]))
                at += stop - start
                request.received += stop - start
                if request.received == len(request.rows):
                    finished.append(request)
            self._batches += 1
            self._items += size
            self._requests += len(finished)
        for request in finished:
            # A copy (or concatenation) the caller owns, in row order: no view into a shared batch output.
            pieces = [rows for _, rows in sorted(request.pieces, key=lambda piece: piece[0])]
            _settle(request.future, pieces[0].copy() if len(pieces) == 1 else np.concatenate(pieces))


def _settle(future: Future, result: np.ndarray | None = None, error: BaseException | None = None) -> None:
    """Give a future its result or error, unless another worker already failed it (a request in two batches)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def batched(run: Callable[[np.ndarray], np.ndarray], settings: EncoderSettings, name: str,
            max_batch: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """`run` behind a Batcher configured by `settings` (batch_max, batch_wait_ms, batch_queue); `run` itself
    where batching is off (batch_max 0). `max_batch` lowers the batch bound for a model that runs worse beyond it."""
    if settings.batch_max <= 0:
        return run
    limit = min(settings.batch_max, max_batch) if max_batch else settings.batch_max
    return Batcher(run, name=name, max_batch=limit, max_wait_ms=settings.batch_wait_ms, max_queue=settings.batch_queue,
                   workers=settings.batch_workers)


def batcher_wrap(settings: EncoderSettings) -> Callable[[str, Callable[[np.ndarray], np.ndarray]], Callable[[np.ndarray], np.ndarray]]:
    """A `(name, run) -> run` wrapper (what TowerModel and ModelRegistry take) putting a batcher per `settings`
    in front of each run; the runs themselves where batching is off."""
    return lambda name, run: batched(run, settings, name)
