"""The Redis side of several servers on one Redis, against a real redis-server: atomic subject
writes, the change feed and its gaps, the grouping lock, and waiting for Redis at start."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import redis

from facegrid.encoder.quality import FaceQuality
from facegrid.server.store import feed as kinds
from facegrid.server.store.connection import RedisUnavailable, connect, redact, wait_until_ready
from facegrid.server.store.embedded_redis import EmbeddedRedis
from facegrid.server.store.feed import ChangeFeed
from facegrid.server.store.locks import LockBusy
from facegrid.server.store.faces import NewFace
from facegrid.server.store.library import LibraryStore
from facegrid.server.store.photos import NewPhoto
from facegrid.server.store.subjects import NewTemplate, SubjectStore

from helpers import RedisServer, free_port


def template(seed: int, photo: str) -> NewTemplate:
    vector = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    quality = FaceQuality(size=100.0, interocular=40.0, sharpness=50.0, yaw=0.0, pitch=0.0, roll=0.0, detector_score=0.9)
    return NewTemplate("test", vector / np.linalg.norm(vector), photo, quality)


def at_once(*calls):
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_first_enrollments_of_one_id_at_once_make_one_subject(external_redis):
    # Two servers: two connection pools, two feeds.
    a, b = SubjectStore.connect(external_redis.url), SubjectStore.connect(external_redis.url)
    for round_ in range(10):
        subject = f"new-{round_}"
        first, second = at_once(lambda: a.add_templates(subject, [template(1, f"p{round_}a")]),
                                lambda: b.add_templates(subject, [template(2, f"p{round_}b")]))
        assert first.subject.number == second.subject.number
        assert [first.new_subject, second.new_subject].count(True) == 1
        assert len(a.templates(subject)) == 2
    client = external_redis.client()
    assert len(list(client.scan_iter("{fg}:subject_number:*"))) == 10


def test_one_photo_enrolled_twice_at_once_makes_one_template(external_redis):
    a, b = SubjectStore.connect(external_redis.url), SubjectStore.connect(external_redis.url)
    for round_ in range(10):
        subject = f"retry-{round_}"
        first, second = at_once(lambda: a.add_templates(subject, [template(1, "same-photo")]),
                                lambda: b.add_templates(subject, [template(1, "same-photo")]))
        assert first.template_ids == second.template_ids
        assert sorted(first.created + second.created) == [False, True]
        assert len(a.templates(subject)) == 1
    # The same photo twice in one call: one template too.
    stored = a.add_templates("twice", [template(3, "x"), template(3, "x"), template(4, "y")])
    assert stored.created == [True, False, True] and stored.template_ids[0] == stored.template_ids[1]
    assert stored.total == 2


def test_every_change_has_its_feed_entry_in_the_same_transaction(external_redis):
    store = SubjectStore.connect(external_redis.url)
    library = LibraryStore(store.redis, store.feed)
    store.add_templates("ann", [template(1, "p1")])
    store.delete_subject("ann")
    library.collections.create("c", "test", 8)
    library.photos.add("c", [NewPhoto("sha", ["a.jpg"], [NewFace([0, 0, 10, 10], template(1, "p").quality, template(1, "p").vector)])])
    library.plain_vectors.add("v", np.array([5, 6]), np.ones((2, 3), np.float32))
    library.plain_vectors.remove("v", np.array([5]))
    library.grouping.save("c", {1: 0}, 0.5, 1)
    client = external_redis.client()

    def seen(stream: str) -> list[tuple[str, str]]:
        return [(f[b"kind"].decode(), f.get(b"ids", f.get(b"number", b"")).decode()) for _, f in client.xrange(stream)]

    # The gate's and the registry's changes in the main stream; each collection's in its own (its slot on a cluster).
    # Subjects by number: an id in a stream would outlive the subject's Forget.
    assert seen("{fg}:changes") == [(kinds.SUBJECT_CHANGED, "1"), (kinds.SUBJECT_FORGOTTEN, "1"), (kinds.COLLECTION_CREATED, "")]
    assert b"ann" not in b"".join(v for _, f in client.xrange("{fg}:changes") for v in f.values())
    assert seen(ChangeFeed.collection_stream("c")) == [(kinds.FACES_ADDED, "1"), (kinds.GROUPING_CHANGED, "")]
    assert seen(ChangeFeed.collection_stream("v")) == [(kinds.VECTORS_ADDED, "5,6"), (kinds.VECTORS_REMOVED, "5")]


class Recorder:
    """A follower's handlers: what it was handed, and how often it had to rebuild."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.changes, self.rebuilds = [], 0
        feed.subscribe("thing", self.on_change)
        feed.on_resync(self.on_resync)

    def on_change(self, change) -> None:
        self.changes.append(change)

    def on_resync(self) -> None:
        self.rebuilds += 1

    def until(self, condition) -> None:
        """Wait (up to 5 s) until the follower has done what `condition()` checks."""
        deadline = time.monotonic() + 5
        while not condition():
            assert time.monotonic() < deadline, "the follower did not get there within 5 s"
            time.sleep(0.02)

    def values(self) -> list[str]:
        return [c.fields["n"] for c in self.changes]


def test_follower_applies_other_servers_changes_and_rebuilds_after_a_gap(external_redis):
    here = ChangeFeed(redis.Redis.from_url(external_redis.url), block_ms=200)
    there = ChangeFeed(redis.Redis.from_url(external_redis.url))
    seen = Recorder(here)
    here.mark()
    here.start()
    try:
        for feed, n in ((there, 1), (here, 2), (there, 3)):
            pipe = feed.redis.pipeline(transaction=True)
            feed.publish(pipe, "thing", n=n, ids=[4, 5])
            pipe.execute()
        seen.until(lambda: "3" in seen.values())
        assert seen.values() == ["1", "3"]  # its own change (2) it applied as it made it
        assert seen.changes[0].ids() == [4, 5] and seen.changes[0].origin == there.origin
        assert seen.rebuilds == 0

        # Trimmed past the last entry it applied (as when it lagged by more than MAXLEN): rebuild.
        client = external_redis.client()
        client.xtrim("{fg}:changes", maxlen=0)
        pipe = there.redis.pipeline(transaction=True)
        there.publish(pipe, "thing", n=4)
        pipe.execute()
        seen.until(lambda: seen.rebuilds == 1)
        assert "4" not in seen.values()  # covered by the rebuild, not applied on its own

        # Redis lost everything (flushed or replaced): rebuild, then follow again.
        client.flushall()
        seen.until(lambda: seen.rebuilds == 2)
        pipe = there.redis.pipeline(transaction=True)
        there.publish(pipe, "thing", n=5)
        pipe.execute()
        seen.until(lambda: "5" in seen.values())
        assert seen.rebuilds == 2
    finally:
        here.stop()


def test_follower_follows_each_collections_stream_and_rebuilds_after_a_gap_in_one(external_redis):
    writer = LibraryStore(redis.Redis.from_url(external_redis.url))
    writer.collections.create("old", "test", 4)
    here = ChangeFeed(redis.Redis.from_url(external_redis.url), block_ms=200)
    faces = []
    here.subscribe(kinds.FACES_ADDED, lambda change: faces.append((change.fields["collection"], change.ids())))
    rebuilds = []
    here.on_resync(lambda: rebuilds.append(1))
    here.mark()
    here.start()
    try:
        quality = template(1, "p").quality
        writer.collections.create("new", "test", 4)  # made after the follower started: followed from its start
        for name in ("old", "new"):
            writer.photos.add(name, [NewPhoto(f"{name}-sha", ["a.jpg"], [NewFace([0, 0, 10, 10], quality, template(1, "p").vector[:4])])])
        deadline = time.monotonic() + 5
        while {c for c, _ in faces} != {"old", "new"}:
            assert time.monotonic() < deadline, faces
            time.sleep(0.02)
        assert not rebuilds
        # One collection's stream trimmed past what the follower applied: it rebuilds.
        external_redis.client().xtrim(ChangeFeed.collection_stream("old"), maxlen=0)
        writer.photos.add("old", [NewPhoto("other", ["b.jpg"], [])])
        deadline = time.monotonic() + 5
        while not rebuilds:
            assert time.monotonic() < deadline, "no rebuild after the gap"
            time.sleep(0.02)
    finally:
        here.stop()


def test_follower_survives_redis_restarts(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    try:
        here = ChangeFeed(redis.Redis.from_url(server.url, socket_timeout=2), block_ms=200)
        seen = Recorder(here)
        here.mark()
        here.start()
        server.kill()
        time.sleep(1)  # the follower meets a dead Redis for a while
        server.start()
        there = ChangeFeed(redis.Redis.from_url(server.url))
        pipe = there.redis.pipeline(transaction=True)
        there.publish(pipe, "thing", n=1)
        pipe.execute()
        seen.until(lambda: seen.values() == ["1"])
        assert seen.rebuilds == 0  # the AOF kept its position: no gap
        here.stop()
    finally:
        server.kill()


def test_grouping_lock_is_held_by_one_server_at_a_time(external_redis):
    a = LibraryStore(redis.Redis.from_url(external_redis.url))
    b = LibraryStore(redis.Redis.from_url(external_redis.url))
    with a.grouping.lock("c"):
        with pytest.raises(LockBusy):
            b.grouping.lock("c", wait=0.2).acquire()
        with b.grouping.lock("other", wait=0.2):
            pass  # another collection's lock is free
    with b.grouping.lock("c", wait=0.2):
        pass
    # Held past its expiry by the holder's renewals; another server's release cannot free it.
    lock = a.grouping.lock("c")
    lock.ttl_ms = 300
    with lock:
        time.sleep(0.8)
        with pytest.raises(LockBusy):
            b.grouping.lock("c", wait=0.1).acquire()
    assert external_redis.client().get("{fg:c:c}:grouping_lock") is None


def test_assignments_are_written_for_the_grouping_they_were_computed_from(external_redis):
    store = LibraryStore(redis.Redis.from_url(external_redis.url))
    other = LibraryStore(redis.Redis.from_url(external_redis.url))
    versions = []

    def labels_for(version):
        versions.append(version)
        if len(versions) == 1:
            other.grouping.save("c", {1: 7}, 0.5, 1)  # another server regroups meanwhile
        return {2: 100 + version}

    store.grouping.assign("c", labels_for)
    assert versions == [0, 1]
    assert store.grouping.groups("c") == {1: 7, 2: 101}


def test_start_waits_while_redis_loads_however_long(tmp_path):
    """A real redis-server loading an AOF slowly (1 ms per key): start-up waits past its timeout."""
    server = RedisServer(tmp_path / "redis").start()
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for i in range(2500):
        pipe.set(f"k{i}", "x")
    pipe.execute()
    client.bgrewriteaof()
    while client.info("persistence")["aof_rewrite_in_progress"] or client.info("persistence")["aof_rewrite_scheduled"]:
        time.sleep(0.05)
    server.stop()
    # 1 ms per key, and answering LOADING between keys (by default Redis only looks up every 2 MB loaded).
    slow = RedisServer(tmp_path / "redis", "--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024")
    slow.port = server.port
    slow.start(wait=False)
    try:
        client = connect(slow.url)
        while True:  # until it answers at all
            try:
                client.ping()
                pytest.skip("redis-server loaded before we could see it loading")
            except redis.BusyLoadingError:
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        loading = wait_until_ready(client, slow.url, timeout=0.5)
        assert loading > 0.5  # it waited longer than the timeout, because Redis said it was loading
        assert client.dbsize() == 2500
    finally:
        slow.kill()


def test_start_gives_up_on_a_redis_that_never_answers_without_naming_the_password(tmp_path):
    url = f"redis://facegrid:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnavailable) as failure:
        wait_until_ready(redis.Redis.from_url(url), redact(url), timeout=0.3)
    assert "hunter2" not in str(failure.value) and "127.0.0.1" in str(failure.value)
    assert redact(url) == f"redis://facegrid:***@127.0.0.1:{url.rsplit(':', 1)[1]}"


def test_embedded_redis_waits_for_a_slow_aof_load(tmp_path):
    folder = tmp_path / "redis"
    embedded = EmbeddedRedis(folder).start()
    client = redis.Redis(unix_socket_path=str(embedded.socket))
    pipe = client.pipeline(transaction=False)
    for i in range(2500):
        pipe.set(f"k{i}", "x")
    pipe.execute()
    client.bgrewriteaof()
    while client.info("persistence")["aof_rewrite_in_progress"] or client.info("persistence")["aof_rewrite_scheduled"]:
        time.sleep(0.05)
    embedded.stop()
    started = time.monotonic()
    slow = EmbeddedRedis(folder, extra_config=("key-load-delay 1000", "loading-process-events-interval-bytes 1024")).start(timeout=0.5)
    try:
        assert time.monotonic() - started > 0.5  # past the timeout: it was loading all along
        assert redis.Redis(unix_socket_path=str(slow.socket)).dbsize() == 2500
    finally:
        slow.stop()


def test_one_photo_stored_by_two_servers_keeps_one_set_of_faces(external_redis):
    a = LibraryStore(redis.Redis.from_url(external_redis.url))
    b = LibraryStore(redis.Redis.from_url(external_redis.url))
    face = NewFace([0, 0, 10, 10], template(1, "p").quality, template(1, "p").vector)
    # B decided the photo was new before A's write landed (the check and the write are on different servers).
    first = a.photos.add("c", [NewPhoto("same", ["a.jpg"], [face]), NewPhoto("only-a", ["x.jpg"], [face])])
    second = b.photos.add("c", [NewPhoto("same", ["b.jpg"], [face, face]), NewPhoto("only-b", ["y.jpg"], [])])
    assert first[0] is not None and first[1] is not None
    assert second[0] is None and second[1] is not None
    assert a.photos.get("c", ["same"])["same"].face_ids == first[0].face_ids
    assert sorted(a.faces.ids("c")) == sorted(first[0].face_ids + first[1].face_ids)
    assert len(list(external_redis.client().scan_iter("{fg:c:c}:face:*"))) == 2  # B's two faces of it are gone
