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


def test_a_silent_stream_is_ended_but_not_while_work_is_owed():
    from facegrid.server.rpc.batches import StreamIdle

    source: queue.Queue = queue.Queue()
    source.put(Request(b"a"))
    owed = threading.Event()
    owed.set()
    batches = arrived_batches(iter(source.get, None), most=8, most_bytes=1000, ready=lambda: False,
                              busy=owed.is_set, idle_s=0.3)
    assert len(next(batches)) == 1
    threading.Timer(1.0, owed.clear).start()  # the caller owes a result for a while: not idle meanwhile
    with pytest.raises(StreamIdle, match="FACEGRID_STREAM_IDLE_S"):
        next(batches)
    assert not owed.is_set()  # it was ended only once nothing was owed
    source.put(None)


def test_streams_share_one_byte_budget_and_wait_for_room():
    from facegrid.server.rpc.budget import ByteBudget, StreamAccount

    budget = ByteBudget(3000)
    sent = {name: [Request(b"x" * 700, f"{name}{i}") for i in range(12)] for name in "ab"}
    done: dict[str, list[str]] = {}

    def stream(name: str) -> None:
        account = StreamAccount(budget)
        names = []
        for batch in arrived_batches(iter(sent[name]), most=2, most_bytes=10_000, ready=lambda: False, account=account):
            time.sleep(0.01)  # the batch is being embedded
            names += [r.name for r in batch]
            account.give([len(r.photo) for r in batch])  # its results are sent
        account.close()
        done[name] = names

    threads = [threading.Thread(target=stream, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert done == {name: [r.name for r in requests] for name, requests in sent.items()}  # no photo lost or stuck
    assert 1400 <= budget.peak <= 3000 and budget.held == 0


def test_a_photo_larger_than_the_budget_goes_alone_and_a_full_budget_ends_the_stream():
    from facegrid.server.rpc.batches import BudgetFull
    from facegrid.server.rpc.budget import ByteBudget, StreamAccount

    budget = ByteBudget(1000)
    account = StreamAccount(budget)
    batches = [b for b in arrived_batches(iter([Request(b"x" * 5000)]), most=8, most_bytes=10_000,
                                          ready=lambda: False, account=account) if b]
    assert [len(r.photo) for b in batches for r in b] == [5000] and budget.held == 1000
    with pytest.raises(BudgetFull, match="FACEGRID_INFLIGHT_MB"):  # another stream finds no room within wait_s
        for _ in arrived_batches(iter([Request(b"y")]), most=8, most_bytes=1000, ready=lambda: False,
                                 account=StreamAccount(budget), wait_s=0.3):
            pass
    account.close()  # the first stream ends without giving back: closing returns what it held
    assert budget.held == 0
