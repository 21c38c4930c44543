"""Batches from a request stream: whatever has arrived, without waiting to fill a batch."""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator

_END = object()


def arrived_batches(requests: Iterable, most: int, most_bytes: int, ready: Callable[[], bool]) -> Iterator[list]:
    """Batches of the requests (each with a `photo` bytes field) that have arrived.

    The stream is read on a thread. Each batch holds what has arrived since the last one (at
    least one request, at most `most` requests and `most_bytes` bytes). While nothing has arrived
    and `ready()` says the caller has work it can finish, an empty batch is yielded instead, so a
    client that waits for a result before sending more is never kept waiting. Closing the
    generator (the call ended or was cancelled) stops the reader.
    """
    arrived: queue.Queue = queue.Queue(maxsize=4 * most)
    stopped = threading.Event()

    def offer(item) -> bool:
        while not stopped.is_set():
            try:
                arrived.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for request in requests:
                if not offer(request):
                    return
        except Exception as error:  # noqa: BLE001 - a broken stream ends the call
            offer(error)
            return
        offer(_END)

    threading.Thread(target=read, name="index-stream-reader", daemon=True).start()
    pending = None
    try:
        while True:
            first, pending = pending, None
            while first is None:
                try:
                    first = arrived.get(timeout=0.01)
                except queue.Empty:
                    if ready():
                        yield []
            if first is _END:
                return
            if isinstance(first, Exception):
                raise first
            batch, size = [first], len(first.photo)
            while len(batch) < most:
                try:
                    item = arrived.get_nowait()
                except queue.Empty:
                    break
                if item is _END or isinstance(item, Exception) or size + len(item.photo) > most_bytes:
                    pending = item
                    break
                batch.append(item)
                size += len(item.photo)
            yield batch
    finally:
        stopped.set()
