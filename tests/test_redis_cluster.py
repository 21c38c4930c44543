"""The metadata on a real Redis Cluster (3 masters + 3 replicas from Debian's redis-server): the store layer,
a `facegrid serve` on it, a master SIGKILLed while enrollments go on, and slots moving during load."""

from __future__ import annotations

import threading
import traceback
import time

import numpy as np
import pytest
import redis
from grpc_health.v1 import health, health_pb2

from facegrid.encoder.quality import FaceQuality
from facegrid.server.rpc.redis_health import RedisWatchdog
from facegrid.server.store import feed as kinds
from facegrid.server.store.api_keys import KeyStore
from facegrid.server.store.audit import AuditEntry, AuditStore
from facegrid.server.store.connection import ReplicaLag, connect, is_cluster, redact, wait_until_ready
from facegrid.server.store.feed import ChangeFeed
from facegrid.server.store.forget_scrub import ForgetScrub
from facegrid.server.store.migrate import upgrade_layout
from facegrid.server.store.faces import NewFace
from facegrid.server.store.library import LibraryStore
from facegrid.server.store.photos import NewPhoto
from facegrid.server.store.schema import SUBJECTS, photos_key, subject_key
from facegrid.server.store.snapshot import dump_records, facegrid_keys
from facegrid.server.store.subjects import NewTemplate, SubjectStore

from helpers import RedisClusterProcesses, facegrid, last_json

QUALITY = FaceQuality(size=100.0, interocular=40.0, sharpness=50.0, yaw=0.0, pitch=0.0, roll=0.0, detector_score=0.9)


@pytest.fixture
def cluster(tmp_path):
    """A fresh 3 + 3 cluster for this test (about 2 s to make)."""
    made = RedisClusterProcesses(tmp_path / "cluster").start()
    yield made
    made.stop()


def unit(seed: int, dim: int = 8) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def template(seed: int, photo: str) -> NewTemplate:
    return NewTemplate("test", unit(seed), photo, QUALITY)


def face(seed: int) -> NewFace:
    return NewFace([0, 0, 10, 10], QUALITY, unit(seed, 4))


def until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.05)


def test_the_store_layer_works_on_a_cluster_without_crossslot_errors(cluster):
    client = connect(cluster.url)
    assert is_cluster(client)
    assert wait_until_ready(client, redact(cluster.url), timeout=5) == 0
    feed = ChangeFeed(client)
    subjects, library, keys = SubjectStore(client, feed), LibraryStore(client, feed), KeyStore(client, feed)
    audit = AuditStore(client)

    # Another server follows the changes: the gate's, and each collection's stream (one created after it started too).
    other_client = connect(cluster.url)
    follower = ChangeFeed(other_client, block_ms=200)
    got: list[tuple[str, str]] = []
    for kind in (kinds.SUBJECT_CHANGED, kinds.SUBJECT_FORGOTTEN, kinds.FACES_ADDED, kinds.GROUPING_CHANGED, kinds.KEY_REVOKED,
                 kinds.VECTORS_ADDED, kinds.COLLECTION_CHANGED):
        follower.subscribe(kind, lambda change: got.append((change.kind, change.fields.get("collection") or change.fields.get("number", ""))))
    library.collections.create("before", "test", 4)
    follower.mark()
    follower.start()
    try:
        # Gate: watched transactions, bulk import, reads in pipelines and MGET.
        stored = subjects.add_templates("ann", [template(1, "p1"), template(2, "p2")], display_name="Ann")
        assert stored.new_subject and stored.total == 2
        assert subjects.add_templates("ann", [template(1, "p1")]).created == [False]
        subjects.add_subjects_bulk([(f"bulk-{i}", template(10 + i, f"b{i}")) for i in range(20)])
        assert subjects.count_subjects() == 21
        assert subjects.subject_ids_of([stored.subject.number]) == {stored.subject.number: "ann"}
        assert [len(t) for _, t in subjects.everything(batch=7)] == [2] + [1] * 20
        assert subjects.remove_templates("ann", [stored.template_ids[1]]) == [stored.template_ids[1]]
        bulk_3 = subjects.subject("bulk-3").number
        assert subjects.delete_subject("bulk-3")[1] == 1 and subjects.count_subjects() == 20
        ForgetScrub(client).scrub()  # every primary asked to rewrite its append-only file

        # Photo collections, each in its own slot: they spread over the masters.
        names = [f"lib{i}" for i in range(8)]
        for name in names:
            library.collections.create(name, "test", 4)
            records = library.photos.add(name, [NewPhoto(f"{name}-a", ["a.jpg"], [face(1), face(2)], unit(3)), NewPhoto(f"{name}-b", ["b.jpg"], [face(4)])])
            assert all(records)
            assert library.photos.add(name, [NewPhoto(f"{name}-a", ["again.jpg"], [face(5)])]) == [None]  # one photo, one set of faces
        assert len({cluster.master_of(photos_key(name)) for name in names}) >= 2
        assert library.photos.count("lib0") == 2 and len(list(library.faces.all("lib0"))) == 3
        settings, changed = library.collections.set_image_model("lib1", "img", 8)
        assert changed and library.reembed.state("lib1").state == "running"
        assert library.photo_vectors.add("lib1", [("lib1-b", unit(9))], {}) != [None]
        assert library.photo_vectors.count("lib1") == 2
        version = library.grouping.save("lib0", {1: 0, 2: 0}, 0.5, 1)
        library.grouping.apply_correction("lib0", {1: "ann"}, {1: 7}, {"what": "test"})
        library.grouping.assign("lib0", lambda seen: {3: 0} if seen == version + 1 else {})
        assert library.grouping.groups("lib0") == {1: 7, 2: 0, 3: 0} and library.grouping.pins("lib0") == {1: "ann"}
        with library.grouping.lock("lib0", wait=1):
            pass
        library.plain_vectors.add("before", np.array([5, 6]), np.ones((2, 4), np.float32))
        assert sorted(library.plain_vectors.get("before", [5, 6, 7])) == [5, 6]

        # Keys and the audit log.
        assert keys.create("desk", ("gate",), "d" * 64) is not None
        assert keys.revoke("desk").revoked and not keys.all()[0].scopes == ()
        audit.append(client, AuditEntry(key_name="desk", rpc="GateService/Verify", decision="match", subject_id="ann"))
        entries, _ = audit.read(subject_id="ann")
        assert [e.decision for e in entries] == ["match"]

        until(lambda: (kinds.KEY_REVOKED, "") in got and (kinds.GROUPING_CHANGED, "lib0") in got
              and (kinds.VECTORS_ADDED, "before") in got and (kinds.COLLECTION_CHANGED, "lib1") in got, what="the follower")
        assert (kinds.SUBJECT_CHANGED, str(stored.subject.number)) in got and (kinds.SUBJECT_FORGOTTEN, str(bulk_3)) in got
        # A backup's logical dump reaches every primary's keys.
        assert len(list(dump_records(client))) == sum(1 for _ in facegrid_keys(client)) > 40
        assert {c for k, c in got if k == kinds.FACES_ADDED} == set(names)  # collections made after the follower started
    finally:
        follower.stop()


def test_keys_of_the_untagged_layout_are_moved_on_a_cluster(cluster):
    client = connect(cluster.url)
    wait_until_ready(client, "cluster", timeout=5)
    # What `redis-cli --cluster import` of an older single Redis leaves: the untagged names, anywhere.
    client.hset("fg:subject:old", mapping={"number": 1, "display_name": "", "created_at": 1.0})
    client.zadd("fg:subjects", {"old": 0})
    client.set("fg:subject_number:1", "old")
    client.hset("fg:c:lib:photos", "sha", '{"paths": ["a.jpg"], "faces": [], "indexed_at": 1.0}')
    client.set("fg:c:lib:grouping_lock", "token", px=60_000)
    # A start that died halfway through a move (restored under the new name, the old one not deleted yet).
    client.restore("{fg}:subject_number:1", 0, client.dump("fg:subject_number:1"))
    assert upgrade_layout(client) == 5
    assert upgrade_layout(client) == 0  # once done, later starts skip the scan
    assert SubjectStore(client).subject("old").number == 1 and client.zrange(SUBJECTS, 0, -1) == [b"old"]
    assert LibraryStore(client).photos.count("lib") == 1
    assert 0 < client.pttl("{fg:c:lib}:grouping_lock") <= 60_000  # expiry kept
    assert not list(client.scan_iter(match="fg:*"))


def test_health_and_start_wait_follow_the_cluster(cluster, tmp_path):
    servicer = health.HealthServicer()
    watchdog = RedisWatchdog(connect(cluster.url, timeout=1.0), servicer, ("",), redact(cluster.url))
    assert watchdog.check()
    assert servicer.Check(health_pb2.HealthCheckRequest(service=""), None).status == health_pb2.HealthCheckResponse.SERVING
    cluster.stop()
    assert not watchdog.check()
    assert servicer.Check(health_pb2.HealthCheckRequest(service=""), None).status == health_pb2.HealthCheckResponse.NOT_SERVING
    # A cluster that does not answer at all: start-up gives up after its timeout, naming no password.
    url = "redis+cluster://facegrid:hunter2@" + ",".join(f"127.0.0.1:{p}" for p in cluster.ports[:2])
    with pytest.raises(RuntimeError) as failure:
        wait_until_ready(connect(url, timeout=0.5), redact(url), timeout=0.5)
    assert "hunter2" not in str(failure.value) and "***" in redact(url)


def test_a_master_killed_while_enrolling_loses_no_acknowledged_enrollment(cluster):
    store = SubjectStore(connect(cluster.url, timeout=2.0))
    library = LibraryStore(store.redis, store.feed)
    library.collections.create("lib", "test", 4)
    gate_master = cluster.master_of(subject_key("x"))
    acknowledged, photos, failures, stop = [], [], [0], threading.Event()

    def enroll(worker: int) -> None:
        n = 0
        while not stop.is_set():
            subject = f"s{worker}-{n}"
            try:
                store.add_templates(subject, [template(n, f"{subject}.jpg")])
                acknowledged.append(subject)
                if library.photos.add("lib", [NewPhoto(f"{subject}-photo", ["p.jpg"], [face(n)])])[0] is not None:
                    photos.append(f"{subject}-photo")
                n += 1
            except (redis.RedisError, ReplicaLag):
                failures[0] += 1  # not acknowledged: tried again (the same subject: enrollment is idempotent)
                time.sleep(0.05)

    threads = [threading.Thread(target=enroll, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    until(lambda: len(acknowledged) >= 40, 20, "enrollments before the kill")
    before = len(acknowledged)
    cluster.kill(gate_master)  # SIGKILL: its replica is promoted after the node timeout (1 s)
    until(lambda: len(acknowledged) >= before + 40, 30, "enrollments after the failover")
    stop.set()
    for t in threads:
        t.join()
    assert gate_master not in cluster.masters_now() and len(cluster.masters_now()) == 3  # the replica took over
    # Every acknowledged enrollment is on the promoted replica, with its template; every acknowledged photo too.
    check = SubjectStore(connect(cluster.url))
    missing = [s for s in acknowledged if check.subject(s) is None or len(check.templates(s)) != 1]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged enrollments lost: {missing[:5]}"
    held = LibraryStore(check.redis).photos.get("lib", photos)
    assert len(held) == len(photos) and all(len(r.face_ids) == 1 for r in held.values())
    assert failures[0] > 0  # the kill was felt: calls failed meanwhile and were tried again


def test_moving_slots_during_load_fails_no_acknowledged_write(cluster):
    client = connect(cluster.url, timeout=2.0)
    store, library = SubjectStore(client), LibraryStore(client)
    names = [f"lib{i}" for i in range(6)]
    for name in names:
        library.collections.create(name, "test", 4)
    gate_master = cluster.master_of(subject_key("x"))
    target = next(p for p in cluster.masters_now() if p != gate_master)
    acknowledged, photos, failures, stop = [], [], [], threading.Event()

    def load(worker: int) -> None:
        n = 0
        while not stop.is_set():
            subject, name = f"r{worker}-{n}", names[n % len(names)]
            try:
                store.add_templates(subject, [template(n, f"{subject}.jpg")])
                acknowledged.append(subject)
                if library.photos.add(name, [NewPhoto(f"{subject}-photo", ["p.jpg"], [face(n)])])[0] is not None:
                    photos.append((name, f"{subject}-photo"))
                n += 1
            except redis.RedisError as error:
                failures.append("".join(traceback.format_exception(error))[-3000:])
                time.sleep(0.05)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    until(lambda: len(acknowledged) >= 20, 20, "writes before the resharding")
    # All but a few of the gate master's slots (redis-cli moves the lowest first; the gate's slot is among them).
    moved = cluster.reshard(gate_master, target, 5000)
    assert moved.returncode == 0, moved.stdout[-2000:] + moved.stderr[-2000:]
    until(lambda: cluster.master_of(subject_key("x")) == target, 10, "the gate's slot on its new master")
    count = len(acknowledged)
    until(lambda: len(acknowledged) >= count + 20, 20, "writes after the resharding")
    stop.set()
    for t in threads:
        t.join()
    check = SubjectStore(connect(cluster.url))
    missing = [s for s in acknowledged if check.subject(s) is None or len(check.templates(s)) != 1]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged writes lost: {missing[:5]}"
    for name in names:
        mine = [sha for n, sha in photos if n == name]
        assert len(LibraryStore(check.redis).photos.get(name, mine)) == len(mine)
    # redis-py followed the redirections: calls did not fail because slots moved.
    assert not failures, "\n".join(failures[:2])


def _until_ok(call, timeout: float = 30.0):
    """A gRPC call tried again while it fails UNAVAILABLE (Redis failing over), as a client would; its reply."""
    import grpc

    from facegrid.clients.sdk import FacegridError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except FacegridError as error:
            if error.code != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serve_on_a_cluster_enrolls_and_verifies_through_a_failover(server_factory, cluster, tmp_path, faces_dir):
    angelina = sorted((faces_dir / "deepface" / "id01_angelina_jolie").iterdir())
    scarlett = sorted((faces_dir / "deepface" / "id03_scarlett_johansson").iterdir())
    server = server_factory(tmp_path / "data", {"FACEGRID_REDIS_URL": cluster.url})
    with server.client(timeout=60) as client:
        assert client.enroll("angelina", [angelina[0].read_bytes()]).templates == 1
        assert client.verify("angelina", angelina[2].read_bytes()).match
        assert not client.verify("angelina", scarlett[1].read_bytes()).match
        cluster.kill(cluster.master_of(subject_key("x")))  # the gate's master, while the server runs
        assert _until_ok(lambda: client.enroll("scarlett", [scarlett[0].read_bytes()])).templates == 1
        assert client.verify("scarlett", scarlett[2].read_bytes()).match
    # The system of record is the cluster (no embedded Redis), with the audit log; a restarted server rebuilds from it.
    assert not (tmp_path / "data" / "redis").exists()
    records = connect(cluster.url)
    until(lambda: any(f.get(b"decision") == b"match" for _, f in records.xrange("{fg:audit}")), 10, "the audit entries")
    server.kill()
    # The first admin key made on the server's machine, straight into the cluster (`facegrid keys --redis-url`).
    made = facegrid("keys", "create", "--scope", "gate", "--scope", "enroll", "--name", "desk", "--json", "--redis-url", cluster.url)
    assert made.returncode == 0, made.stderr[-2000:]
    key = last_json(made.stdout)["key"]
    again = server_factory(tmp_path / "data2", {"FACEGRID_REDIS_URL": cluster.url})
    with again.client(api_key=key, timeout=60) as client:
        assert client.verify("angelina", angelina[3].read_bytes()).match
        assert sorted(s.subject_id for s in client.subjects()) == ["angelina", "scarlett"]


def _to_legacy_names(client: redis.Redis) -> int:
    """Rename every key to the untagged name the layout before hash tags gave it (what an older version wrote)."""
    count = 0
    for raw in list(client.scan_iter()):
        name = raw.decode()
        if name == "{fg}:layout" or (name.startswith("{fg:c:") and name.endswith(("}:changes", "}:seq"))):
            client.delete(name)  # the older layout had no such key
            continue
        legacy = "fg:audit" if name == "{fg:audit}" else name.replace("{fg}:", "fg:", 1) if name.startswith("{fg}:") else \
            "fg:c:" + name[len("{fg:c:"):].replace("}:", ":", 1)
        client.rename(name, legacy)
        count += 1
    return count


def test_a_data_folder_of_the_untagged_layout_still_works_after_the_upgrade(server_factory, tmp_path, faces_dir):
    from facegrid.server.store.embedded_redis import EmbeddedRedis

    angelina = sorted((faces_dir / "deepface" / "id01_angelina_jolie").iterdir())
    data = tmp_path / "data"
    server = server_factory(data)
    with server.client(timeout=60) as client:
        client.enroll("angelina", [angelina[0].read_bytes()], display_name="Angelina")
        key = client.create_key("desk", ["gate", "enroll"]).key
    server.stop()
    # The same data under the names of before (embedded Redis, as an older version left its data folder).
    embedded = EmbeddedRedis(data / "redis").start()
    old = redis.Redis(unix_socket_path=str(embedded.socket))
    assert _to_legacy_names(old) >= 6 and old.exists("fg:subjects", "fg:keys", "fg:seq") == 3
    # A crash halfway through an earlier upgrade: some keys already renamed.
    old.rename("fg:subjects", "{fg}:subjects")
    embedded.stop()
    server = server_factory(data)  # upgrades at start
    with server.client(api_key=key, timeout=60) as desk:
        assert desk.verify("angelina", angelina[2].read_bytes()).match  # its templates, and its key, kept
        assert [s.display_name for s in desk.subjects()] == ["Angelina"]
    server.stop()
    embedded = EmbeddedRedis(data / "redis").start()
    try:
        after = redis.Redis(unix_socket_path=str(embedded.socket))
        assert not list(after.scan_iter(match="fg:*")) and after.get("{fg}:layout") == b"2"
    finally:
        embedded.stop()
