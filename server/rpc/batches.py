"""Batches from a request stream: whatever has arrived, without waiting to fill a batch."""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Iterable, Iterator

from ..domain.errors import BudgetFull, StreamIdle
from .budget import StreamAccount

_END = object()


def _never() -> bool:
    return False


def arrived_batches(requests: Iterable, most: int, most_bytes: int, ready: Callable[[], bool],
                    busy: Callable[[], bool] = _never, idle_s: float | None = None,
                    account: StreamAccount | None = None, wait_s: float = 60.0) -> Iterator[list]:
    """Batches of the requests (each with a `photo` bytes field) that have arrived.

    The stream is read on a thread. Each batch holds what has arrived since the last one (at
    least one request, at most `most` requests and `most_bytes` bytes). While nothing has arrived
    and `ready()` says the caller has work it can finish, an empty batch is yielded instead, so a
    client that waits for a result before sending more is never kept waiting. Closing the
    generator (the call ended or was cancelled) stops the reader.

    With `account`, each photo's bytes are taken from the shared budget before it is queued (the
    caller gives them back once the photo's result is sent); no room within `wait_s` raises
    BudgetFull. With `idle_s`, a stream from which nothing arrives for that long, while `busy()`
    says the caller owes it nothing, raises StreamIdle.
    """
    arrived: queue.Queue = queue.Queue(maxsize=4 * most)
    stopped = threading.Event()
    waiting = threading.Event()  # the reader holds a photo and waits for room in the budget

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
                if account is not None:
                    waiting.set()
                    room = account.take(len(request.photo), wait_s, stopped)
                    waiting.clear()
                    if not room:
                        if not stopped.is_set():
                            offer(BudgetFull(f"the photos in flight on all streams fill the server's budget "
                                             f"({account.budget.limit >> 20} MB, FACEGRID_INFLIGHT_MB) and no room came "
                                             f"for {wait_s:g} s; send the rest again later"))
                        return
                if not offer(request):
                    return
        except Exception as error:  # noqa: BLE001 - a broken stream ends the call
            offer(error)
            return
        offer(_END)

    threading.Thread(target=read, name="index-stream-reader", daemon=True).start()
    pending = None
    quiet_since = time.monotonic()
    try:
        while True:
            first, pending = pending, None
            while first is None:
                try:
                    first = arrived.get(timeout=0.01)
                except queue.Empty:
                    if ready():
                        yield []
                        quiet_since = time.monotonic()
                    elif busy() or waiting.is_set():
                        quiet_since = time.monotonic()
                    elif idle_s is not None and time.monotonic() - quiet_since > idle_s:
                        raise StreamIdle(f"nothing came on this stream for {idle_s:g} s while no photo of it was being "
                                         f"worked on: idle streams are ended (FACEGRID_STREAM_IDLE_S) so that they free "
                                         f"their slot; open a new stream to send more") from None
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
            quiet_since = time.monotonic()
    finally:
        stopped.set()
