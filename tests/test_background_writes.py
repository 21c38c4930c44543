"""The background writer of audit entries and key use times (store/background.py) against a real Redis: it gathers
writes for a while before sending them (off the calls' reply path), yet stop() writes everything queued, at once, and
a full queue drops writes with a count instead of blocking or failing a call."""

from __future__ import annotations

import time
from functools import partial

from facegrid.server.store.audit import AuditEntry, AuditStore
from facegrid.server.store.background import BackgroundWrites
from facegrid.server.store.schema import AUDIT


def _entry(number: int) -> AuditEntry:
    return AuditEntry(key_name="desk", rpc="GateService/Identify", decision="known", detail=f"call {number}")


def test_stop_writes_every_queued_entry_at_once_however_long_the_writer_would_linger(external_redis):
    client = external_redis.client()
    audit = AuditStore(client)
    writes = BackgroundWrites(client, batch=7, linger_s=30.0).start()  # batches smaller than the burst
    for number in range(50):
        writes.submit(partial(audit.append, entry=_entry(number)))
    time.sleep(0.2)
    assert client.xlen(AUDIT) == 0  # still gathering: nothing sent on the calls' heels
    started = time.monotonic()
    writes.stop()
    assert time.monotonic() - started < 5.0  # the linger is cut short, not waited out
    details = [fields[b"detail"].decode() for _, fields in client.xrange(AUDIT)]
    assert details == [f"call {number}" for number in range(50)]  # all of them, in order


def test_writes_reach_redis_after_the_linger_and_the_writer_goes_on_after_an_idle_spell(external_redis):
    client = external_redis.client()
    audit = AuditStore(client)
    writes = BackgroundWrites(client, linger_s=0.05).start()
    try:
        for burst in range(3):
            for number in range(5):
                writes.submit(partial(audit.append, entry=_entry(burst * 5 + number)))
            deadline = time.monotonic() + 10
            while client.xlen(AUDIT) < 5 * (burst + 1) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert client.xlen(AUDIT) == 5 * (burst + 1)
            time.sleep(0.2)  # idle: the writer waits on the queue again, and the next write wakes it
    finally:
        writes.stop()


def test_a_full_queue_drops_writes_with_a_count_and_never_blocks_the_caller(external_redis):
    client = external_redis.client()
    audit = AuditStore(client)
    writes = BackgroundWrites(client, capacity=3)  # not started: nothing drains the queue
    started = time.monotonic()
    for number in range(5):
        writes.submit(partial(audit.append, entry=_entry(number)))
    assert time.monotonic() - started < 1.0 and writes.dropped == 2
    writes.start()
    writes.stop()
    assert [fields[b"detail"].decode() for _, fields in client.xrange(AUDIT)] == ["call 0", "call 1", "call 2"]
