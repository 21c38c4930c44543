"""Batching a request stream: what has arrived goes together, nothing waits for more, cancelling stops the reader."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass

import pytest

from facegrid.server.rpc.batches import arrived_batches


@dataclass
class Request:
    photo: bytes
    name: str = ""


def _readers() -> int:
    return sum(t.name == "index-stream-reader" and t.is_alive() for t in threading.enumerate())


def test_what_has_arrived_is_batched_within_the_limits():
    requests = [Request(b"x" * 10, str(i)) for i in range(20)]
    source: queue.Queue = queue.Queue()
    for request in requests:
        source.put(request)
    source.put(None)
    stream = iter(source.get, None)
    batches = [b for b in arrived_batches(stream, most=8, most_bytes=1000, ready=lambda: False) if b]
    assert [r.name for b in batches for r in b] == [r.name for r in requests]  # all, in order
    assert max(len(b) for b in batches) <= 8 and len(batches) >= 3


def test_a_batch_stops_at_the_byte_limit_but_a_single_huge_photo_still_goes():
    requests = [Request(b"x" * 600), Request(b"x" * 600), Request(b"x" * 5000)]
    batches = [b for b in arrived_batches(iter(requests), most=8, most_bytes=1000, ready=lambda: False) if b]
    assert [len(r.photo) for b in batches for r in b] == [600, 600, 5000]
    assert all(sum(len(r.photo) for r in b) <= 1000 or len(b) == 1 for b in batches)


def test_nothing_waits_for_more_requests_when_work_is_ready():
    source: queue.Queue = queue.Queue()
    source.put(Request(b"a"))
    batches = arrived_batches(iter(source.get, None), most=8, most_bytes=1000, ready=lambda: True)
    assert len(next(batches)) == 1
    started = time.monotonic()
    assert next(batches) == []  # nothing more has come: the caller gets to finish its work
    assert time.monotonic() - started < 1
    source.put(None)  # the stream ends: only empty batches may come before the end
    assert all(b == [] for b in batches)


def test_a_broken_stream_raises_in_the_caller():
    def broken():
        yield Request(b"a")
        raise RuntimeError("client went away")

    batches = arrived_batches(broken(), most=8, most_bytes=1000, ready=lambda: False)
    with pytest.raises(RuntimeError, match="went away"):
        for _ in batches:
            pass


def test_closing_the_batches_stops_the_reader_thread():
    before = _readers()
    endless = (Request(b"x") for _ in itertools.count())
    batches = arrived_batches(endless, most=2, most_bytes=1000, ready=lambda: False)
    next(batches)
    assert _readers() == before + 1
    batches.close()  # the call was cancelled
    deadline = time.monotonic() + 5
    while _readers() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _readers() == before
