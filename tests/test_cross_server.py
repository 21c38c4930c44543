"""Two real servers on one external redis-server stay in step through the change feed."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest

from facegrid.clients.sdk import FacegridError

from helpers import RedisServer, ServerProcess

ANGELINA = "deepface/id01_angelina_jolie"
KATY = "deepface/id10_katy_perry"
MATT = "deepface/id11_matt_damon"
STEP = 1.0  # seconds within which B must see what A did


def photos(faces_dir, folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def servers(tmp_path_factory, redis_server, faces_dir):
    """Servers A and B, each with its own data directory, both on the one Redis."""
    env = {"FACEGRID_REDIS_URL": redis_server.url}
    pair = [ServerProcess(tmp_path_factory.mktemp(name) / "data", env) for name in ("a", "b")]
    threads = [threading.Thread(target=s.start) for s in pair]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in pair:
        assert s.address, "server did not start"
    yield pair
    for s in pair:
        s.kill()


def until(condition, limit: float = STEP) -> float:
    """Poll `condition()` until true; the seconds it took (fails past `limit`)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, f"not within {limit} s"
    return time.monotonic() - started


def test_enrolled_on_a_identified_on_b_within_a_second(servers, faces_dir):
    a, b = servers
    pictures = photos(faces_dir, ANGELINA)
    with a.client(timeout=60) as on_a, b.client(timeout=60) as on_b:
        on_b.identify(pictures[3])  # warm B's models before timing
        assert on_a.enroll("angelina", pictures[:2]).templates == 2
        until(lambda: on_b.identify(pictures[3]).subject == "angelina")
        assert on_b.verify("angelina", pictures[4]).match


def test_forgotten_on_a_never_named_by_b_again(servers, faces_dir):
    a, b = servers
    pictures = photos(faces_dir, KATY)
    with a.client(timeout=60) as on_a, b.client(timeout=60) as on_b:
        on_a.enroll("katy", pictures[:2])
        until(lambda: on_b.identify(pictures[3]).subject == "katy")
        assert on_a.forget("katy") == 2
        until(lambda: on_b.identify(pictures[3]).subject is None)
        ending = time.monotonic() + 3
        while time.monotonic() < ending:
            result = on_b.identify(pictures[3])
            assert result.subject is None and "katy" not in [c for c, _ in result.candidates]


def test_a_number_redis_no_longer_names_is_no_one(servers, faces_dir, redis_server):
    """Redis is the system of record: where a server's vector index still holds a subject Redis no longer names
    (a change not applied there yet), Identify names no one, says why, and lists no such candidate."""
    from facegrid.server.store.schema import subject_number_key
    from facegrid.server.store.subjects import SubjectStore

    a, _ = servers
    pictures = photos(faces_dir, MATT)
    with a.client(timeout=60) as client:
        client.enroll("katy-beside", photos(faces_dir, KATY)[:2])  # a candidate that Redis still names
        client.enroll("matt-drift", pictures[:2])
        assert client.identify(pictures[3]).subject == "matt-drift"
        store = SubjectStore.connect(redis_server.url)
        store.redis.delete(subject_number_key(store.subject("matt-drift").number))  # no change-feed entry
        result = client.identify(pictures[3])
        assert result.subject is None and result.unknown_reason == "NOT_ENROLLED" and "no longer enrolled" in result.reason
        named = [name for name, _ in result.candidates]  # the number Redis no longer names is left out
        assert "katy-beside" in named and "matt-drift" not in named and not [n for n in named if n.startswith("#")]
        client.forget("matt-drift")
        client.forget("katy-beside")


def test_one_new_id_enrolled_on_both_at_once_is_one_subject(servers, faces_dir, redis_server):
    a, b = servers
    pictures = photos(faces_dir, ANGELINA)
    barrier = threading.Barrier(2)
    replies = {}

    def enroll(server, subject, photo):
        with server.client(timeout=60) as client:
            barrier.wait()
            replies[server.address, subject] = client.enroll(subject, [photo])

    # Different photos: one subject with both templates. The same photo (a retry on another
    # server racing the first try): one subject with one template.
    for subject, photo_a, photo_b in (("twins", pictures[0], pictures[1]), ("retried", pictures[2], pictures[2])):
        threads = [threading.Thread(target=enroll, args=(s, subject, p)) for s, p in ((a, photo_a), (b, photo_b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r.photos[0].accepted for (_, s), r in replies.items() if s == subject)
    client = redis_server.client()
    for subject, templates in (("twins", 2), ("retried", 1)):
        for server in servers:
            with server.client() as c:
                assert len(c.subject(subject).templates) == templates
        number = int(client.hget(f"{{fg}}:subject:{subject}", "number"))
        assert client.get(f"{{fg}}:subject_number:{number}") == subject.encode()
        assert [k for k in client.scan_iter("{fg}:subject_number:*") if client.get(k) == subject.encode()] == [f"{{fg}}:subject_number:{number}".encode()]
    ids = {replies[s.address, "retried"].photos[0].template_id for s in servers}
    assert len(ids) == 1  # both answers name the one template


def test_vectors_added_on_a_are_searchable_on_b(servers):
    a, b = servers
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((20, 16)).astype(np.float32)
    with a.client() as on_a, b.client() as on_b:
        on_a.create_collection("shared-vectors", 16)
        on_a.add_vectors("shared-vectors", range(100, 120), vectors)

        def found(i: int) -> bool:
            try:
                hits = on_b.search(vector=vectors[i], k=1, collection="shared-vectors").queries[0].hits
            except Exception:  # noqa: BLE001 - NOT_FOUND until B knows the collection
                return False
            return bool(hits) and hits[0].vector_id == 100 + i

        until(lambda: found(19))
        assert all(found(i) for i in range(20))
        assert on_b.stats("shared-vectors").vectors == 20
        on_a.remove_vectors("shared-vectors", [119])
        until(lambda: on_b.stats("shared-vectors").vectors == 19)
        assert not found(19)


def test_a_photo_indexed_on_a_is_found_by_search_on_b(servers, faces_dir):
    a, b = servers
    pictures = photos(faces_dir, KATY)
    with a.client(timeout=60) as on_a, b.client(timeout=60) as on_b:
        results = list(on_a.index_photos([("katy-0.jpg", pictures[0])], collection="shared-photos"))
        assert results[0].faces == 1 and not results[0].error

        def found() -> bool:
            try:
                reply = on_b.search(photo=pictures[1], k=1, collection="shared-photos")
            except Exception:  # noqa: BLE001 - NOT_FOUND until B knows the collection
                return False
            return bool(reply.queries) and list(reply.queries[0].hits[0].paths) == ["katy-0.jpg"]

        until(found, limit=STEP + 2)  # the search itself embeds the query photo (~0.5 s here)


def test_faces_indexed_on_b_after_clustering_on_a_join_its_groups(servers, faces_dir):
    a, b = servers
    pictures = photos(faces_dir, ANGELINA)
    with a.client(timeout=120) as on_a, b.client(timeout=120) as on_b:
        list(on_a.index_photos([(f"a-{i}.jpg", p) for i, p in enumerate(pictures[:4])], collection="shared-groups"))
        grouping = on_a.cluster("shared-groups")
        assert grouping.groups
        until(lambda: on_b.stats("shared-groups").faces == 4)
        late = list(on_b.index_photos([("late.jpg", pictures[4])], collection="shared-groups"))
        assert late[0].faces == 1
        grouped = {f.photo_sha256 for g in on_a.groups("shared-groups").groups for f in g.faces}
        assert late[0].photo_sha256 in grouped  # B used the grouping A stored


def test_a_key_revoked_on_a_is_refused_by_b_at_once(tmp_path, server_factory):
    # Its own Redis: once a key exists every call needs one, which the other tests here do not send.
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        env = {"FACEGRID_REDIS_URL": redis_server.url}
        a, b = server_factory(tmp_path / "a", env), server_factory(tmp_path / "b", env)
        with a.client() as on_a:
            admin = on_a.create_key("admin", ["admin"]).key
        with a.client(api_key=admin) as on_a:
            desk = on_a.create_key("desk", ["enroll"]).key
        with b.client(api_key=desk, retries=0) as on_b:
            assert on_b.subjects() is not None and list(on_b.subjects()) == []  # B knows (and caches) the key
            with a.client(api_key=admin) as on_a:
                on_a.revoke_key("desk")

            def refused() -> bool:
                try:
                    list(on_b.subjects())
                except FacegridError as error:
                    return error.code == grpc.StatusCode.UNAUTHENTICATED
                return False

            # Well within B's one-second key cache: the revocation came through the feed.
            until(refused, limit=0.5)
    finally:
        redis_server.kill()
