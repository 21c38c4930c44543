"""The one suite of the `VectorStore` protocol (index/store.py), run against both vector engines: FAISS in process
and a real Milvus server (milvus-lite on loopback). Every method of the protocol is exercised by it.

Then what only Milvus has (another dimension under the name, the server killed and back), the engine
setting, and a real `facegrid serve` on Milvus: rebuilding a collection from Redis after a restart, catching
up the writes that missed Milvus while it was down, refilling what a Milvus back without its data lost.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid

import grpc
import numpy as np
import pytest

from facegrid.index.checks import MAX_K
from facegrid.index.errors import EngineMismatch, EngineUnavailable, VectorError
from facegrid.index.settings import IndexSettings
from facegrid.index.store import VectorStore
from facegrid.index.stores import VectorStores

DIM = 16


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(params=["faiss", "milvus"])
def settings(request) -> IndexSettings:
    """The engine under test; Milvus through the run's real server."""
    if request.param == "faiss":
        return IndexSettings(engine="faiss")
    return IndexSettings(engine="milvus", milvus_uri=request.getfixturevalue("milvus_server").uri)


@pytest.fixture
def store(settings):
    """An empty collection with a name no other test uses (Milvus keeps collections between tests); a facegrid
    name with the characters Milvus refuses in its names."""
    return VectorStores(settings).open(f"subjects:test/{uuid.uuid4().hex[:8]}", DIM)


def exact(stored: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ stored.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


def test_search_matches_numpy_exact_results(store):
    rng = np.random.default_rng(1)
    vectors, ids = unit(rng, 300), np.arange(1000, 1300, dtype=np.int64)
    store.add(ids, vectors)
    assert store.count() == 300 and isinstance(store, VectorStore)  # every member of the protocol, data ones too
    assert store.dim == DIM and store.name.startswith("subjects:test/") and isinstance(store.on_gpu, bool)
    assert store.describe() in ("Flat", "Milvus FLAT IP (Strong)")  # what Stats shows: exact search in both
    for queries in (unit(rng, 1), unit(rng, 7)):  # one query (FAISS's BLAS scan) and a batch
        hits = store.search(queries, 10)
        want_scores, want_ids = exact(vectors, ids, queries, 10)
        assert hits.ids.shape == (len(queries), 10) and hits.ids.dtype == np.int64
        np.testing.assert_array_equal(hits.ids, want_ids)
        np.testing.assert_allclose(hits.scores, want_scores, atol=1e-5)  # inner product, as FAISS's


def test_add_replaces_an_id_and_remove_is_seen_by_the_next_search(store):
    rng = np.random.default_rng(2)
    vectors = unit(rng, 20)
    store.add(np.arange(20), vectors)
    moved = unit(rng, 1)
    store.add([3], moved)
    assert store.count() == 20  # replaced, not added twice
    np.testing.assert_allclose(store.vector(3), moved[0], atol=1e-6)
    hits = store.search(moved, 1)
    assert hits.ids[0, 0] == 3 and hits.scores[0, 0] == pytest.approx(1.0, abs=1e-5)

    assert store.remove([3, 999]) == 1  # the absent id is not counted
    assert store.remove([3]) == 0
    assert store.count() == 19 and 3 not in store and 4 in store and store.vector(3) is None
    store.compact()  # after a Forget: Milvus rewrites the segments its soft delete only marked
    assert store.count() == 19 and 3 not in store
    assert 3 not in store.search(moved, 19).ids  # the very next search, no wait
    assert store.take_unsynced() == set()  # every write reached the engine: nothing for the catch-up


def test_items_ids_replace_and_clear(store):
    rng = np.random.default_rng(3)
    vectors, ids = unit(rng, 50), np.arange(50, dtype=np.int64) * 7
    store.add(ids, vectors)
    got_ids, got_vectors = store.items()
    order = np.argsort(got_ids)
    np.testing.assert_array_equal(got_ids[order], ids)
    np.testing.assert_allclose(got_vectors[order], vectors, atol=1e-6)
    assert sorted(store.ids().tolist()) == ids.tolist()

    fresh = unit(rng, 3)
    store.replace([1, 2, 3], fresh)  # a rebuild: the old contents are gone at once
    assert store.count() == 3 and sorted(store.ids().tolist()) == [1, 2, 3]
    hits = store.search(fresh[:1], 5)
    assert hits.ids.shape == (1, 3) and hits.ids[0, 0] == 1  # k past the count: the count's width

    store.clear()
    assert store.count() == 0 and store.items()[0].size == 0
    hits = store.search(fresh[:1], 5)
    assert hits.ids.tolist() == [[-1]] and hits.scores[0, 0] < -1e38  # FAISS's padding


def test_searches_during_a_rebuild_see_the_old_contents_or_the_new_never_half(store):
    rng = np.random.default_rng(7)
    old_ids, new_ids = np.arange(100), np.arange(1000, 1300)
    store.add(old_ids, unit(rng, 100))
    fresh, probe = unit(rng, 300), unit(rng, 1)
    seen: list[frozenset] = []
    done = threading.Event()

    def search_meanwhile() -> None:
        while not done.is_set():
            found = store.search(probe, 500).ids[0]
            seen.append(frozenset(found[found >= 0].tolist()))

    searcher = threading.Thread(target=search_meanwhile)
    searcher.start()
    try:
        time.sleep(0.05)
        store.replace(new_ids, fresh)
        time.sleep(0.05)
    finally:
        done.set()
        searcher.join()
    after = store.search(probe, 500).ids[0]
    assert frozenset(after[after >= 0].tolist()) == frozenset(new_ids.tolist())  # the very next search: the new contents
    assert seen and all(ids in (frozenset(old_ids.tolist()), frozenset(new_ids.tolist())) for ids in seen)


def test_bad_input_is_refused_and_changes_nothing(store):
    rng = np.random.default_rng(4)
    store.add([1, 2], unit(rng, 2))
    bad_calls = [
        lambda: store.add([5], unit(rng, 1, DIM + 1)),  # wrong dimension
        lambda: store.add([5], np.full((1, DIM), np.nan, np.float32)),
        lambda: store.add([5, 6], unit(rng, 1)),  # two ids, one vector
        lambda: store.search(unit(rng, 1, DIM - 1), 3),
        lambda: store.search(np.full((1, DIM), np.inf, np.float32), 3),
        lambda: store.search(unit(rng, 1), 0),
        lambda: store.search(unit(rng, 1), MAX_K + 1),
        lambda: store.replace([1], unit(rng, 1, 3)),
    ]
    for call in bad_calls:
        with pytest.raises(VectorError):
            call()
    assert store.count() == 2 and sorted(store.ids().tolist()) == [1, 2]


# ---- Milvus only ---------------------------------------------------------------------------------------------------

def test_milvus_collection_of_another_dimension_is_refused_not_dropped(milvus_server):
    from facegrid.index.milvus_store import MilvusStore

    name = f"photos-{uuid.uuid4().hex[:8]}"
    first = MilvusStore(name, 8, milvus_server.uri)
    first.add([1, 2], np.eye(2, 8, dtype=np.float32))
    with pytest.raises(EngineMismatch) as refused:
        MilvusStore(name, 16, milvus_server.uri)
    assert "8-dimensional" in str(refused.value) and name in str(refused.value)
    assert MilvusStore(name, 8, milvus_server.uri).count() == 2  # still there


def test_milvus_unreachable_names_the_uri_without_secrets(milvus_server):
    from facegrid.index.milvus_store import MilvusStore
    from helpers import free_port

    port = free_port()  # nothing listens there
    with pytest.raises(EngineUnavailable) as down:
        MilvusStore("gone", 8, f"http://alice:s3cret@127.0.0.1:{port}?token=t0ken")
    message = str(down.value)
    assert f"127.0.0.1:{port}" in message and "s3cret" not in message and "t0ken" not in message and "alice" not in message


def test_messages_never_carry_the_uri_secrets():
    from facegrid.index.milvus_store import safe_uri, scrub, split_credentials

    uri = "http://alice:s3cret@milvus:19530?token=t0ken"
    assert split_credentials(uri) == ("http://milvus:19530?token=t0ken", "alice:s3cret")
    assert safe_uri(uri) == "http://milvus:19530"
    assert scrub(f"failed on {uri} with alice:s3cret", uri) == "failed on http://***@milvus:19530?*** with ***"


def test_milvus_killed_then_restarted_works_again(milvus_server):
    from facegrid.index.milvus_store import UNSYNCED_MAX

    rng = np.random.default_rng(5)
    vectors = unit(rng, 10)
    stores = VectorStores(IndexSettings(engine="milvus", milvus_uri=milvus_server.uri))
    store = stores.open(f"gate:{uuid.uuid4().hex[:8]}", DIM)
    store.add(np.arange(10), vectors)
    assert stores.outages.count == 0
    milvus_server.kill()
    try:
        for call in (lambda: store.search(vectors[:1], 3), lambda: store.add([11], vectors[:1]), store.count, store.items):
            with pytest.raises(EngineUnavailable) as down:
                call()
            assert milvus_server.uri.split("://")[1] in str(down.value)
        with pytest.raises(EngineUnavailable):
            store.remove([3])
        assert stores.outages.count >= 5  # counted where the factory's owner (the server's catch-up) looks
        with pytest.raises(EngineUnavailable):
            stores.check(timeout=1.0)
    finally:
        milvus_server.start()  # the same port: the client reconnects by itself
    stores.check()
    assert store.search(vectors[4:5], 1).ids[0, 0] == 4  # loaded again after the restart released it
    store.add([11], vectors[:1])
    assert store.count() == 11
    # The writes that missed it are kept for the catch-up, until a later write of the id succeeds.
    assert store.take_unsynced() == {3} and store.take_unsynced() == set()
    store.mark_unsynced({3, 4})
    store.remove([4])
    assert store.take_unsynced() == {3}
    store.mark_unsynced(set(range(UNSYNCED_MAX + 1)))  # too many to list: the owner refills it whole
    assert store.take_unsynced() is None and store.take_unsynced() == set()


def test_engine_setting_is_checked_at_start():
    with pytest.raises(ValueError, match="FACEGRID_VECTOR_ENGINE"):
        IndexSettings(engine="qdrant")
    with pytest.raises(ValueError, match="FACEGRID_MILVUS_URI"):
        IndexSettings(engine="milvus")
    from facegrid.server.config import Settings

    with pytest.raises(ValueError, match="qdrant"):
        Settings(vector_engine="qdrant").index()
    assert Settings(vector_engine="milvus", milvus_uri="http://m:19530").index().milvus_uri == "http://m:19530"


# ---- a real server on Milvus ---------------------------------------------------------------------------------------

def until_answered(check, failure: str, timeout: float = 60.0):
    """check()'s value once it is truthy, calls failing with FacegridError meanwhile (Milvus catching up)."""
    from facegrid.clients.sdk import FacegridError

    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
            if found:
                return found
        except FacegridError:
            pass
        assert time.monotonic() < deadline, failure
        time.sleep(0.5)


def logged(server, line: str, timeout: float = 30.0) -> None:
    """Wait until the server's log has `line` (the catch-up logs once its last store is done)."""
    log = server.data_dir / "server.log"
    deadline = time.monotonic() + timeout
    while line not in log.read_text():
        assert time.monotonic() < deadline, f"{line!r} not in the server's log: {log.read_text()[-3000:]}"
        time.sleep(0.2)


def test_server_on_milvus_serves_vectors_and_rebuilds_them_from_redis(milvus_server, server_factory, tmp_path):
    from pymilvus import MilvusClient

    from facegrid.clients.sdk import FacegridError
    from facegrid.index.milvus_store import milvus_name

    env = {"FACEGRID_VECTOR_ENGINE": "milvus", "FACEGRID_MILVUS_URI": milvus_server.uri}
    name = f"points-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(6)
    vectors = unit(rng, 40, 3)
    server = server_factory(tmp_path / "data", env)
    with server.client() as client:
        assert client.create_collection(name, 3).dim == 3
        assert client.add_vectors(name, range(100, 140), vectors).vectors == 40
        hits = client.search(vector=vectors[7], k=3, collection=name).queries[0].hits
        assert hits[0].vector_id == 107 and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert client.remove_vectors(name, [107]).vectors == 39
        assert client.search(vector=vectors[7], k=1, collection=name).queries[0].hits[0].vector_id != 107

        if getattr(milvus_server, "killable", True):  # Milvus goes away: UNAVAILABLE with its address, the server keeps running
            milvus_server.kill()
            try:
                with pytest.raises(FacegridError) as down:
                    client.search(vector=vectors[7], k=1, collection=name)
                assert down.value.code == grpc.StatusCode.UNAVAILABLE and milvus_server.uri.split("://")[1] in down.value.message
                with pytest.raises(FacegridError) as lost:  # Redis takes it, Milvus cannot: UNAVAILABLE
                    client.add_vectors(name, [107], vectors[7:8])
                assert lost.value.code == grpc.StatusCode.UNAVAILABLE
                with pytest.raises(FacegridError) as lost:  # a removal too: gone from Redis, still in Milvus
                    client.remove_vectors(name, [108])
                assert lost.value.code == grpc.StatusCode.UNAVAILABLE
            finally:
                milvus_server.start()
            # Once Milvus answers, the server's catch-up re-reads from Redis the two ids whose writes missed it
            # (not everything): the vector Redis kept is found and the one it removed is gone, without a restart.
            def caught_up() -> bool:
                top = [client.search(vector=vectors[i], k=1, collection=name).queries[0].hits[0].vector_id for i in (7, 8)]
                return top[0] == 107 and top[1] != 108

            until_answered(caught_up, "the writes kept in Redis never reached Milvus")
            logged(server, "caught up from Redis, 2 vectors set again")
            client.remove_vectors(name, [107])
            client.add_vectors(name, [108], vectors[8:9])
        stats = client.stats(name)
        assert stats.vectors == 39 and stats.index == "Milvus FLAT IP (Strong)"  # back: calls work again
    server.stop()

    # Milvus loses the collection's contents; Redis, the system of record, still holds them.
    milvus = MilvusClient(uri=milvus_server.uri)
    alias = milvus_name(name)
    milvus.delete(alias, filter="id >= 0")
    assert milvus.query(alias, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"] == 0
    assert any(c.startswith(milvus_name("subjects:fused") + "__g") for c in milvus.list_collections())  # the gate's too

    server = server_factory(tmp_path / "data", env)  # the same data directory: its embedded Redis
    with server.client() as client:
        assert client.stats(name).vectors == 39  # rebuilt from Redis at start
        hits = client.search(vector=vectors[8], k=1, collection=name).queries[0].hits
        assert hits[0].vector_id == 108 and hits[0].score == pytest.approx(1.0, abs=1e-5)
    server.stop()

    # Milvus holds the name with another dimension now: the server refuses to start, and drops nothing.
    from facegrid.index.milvus_store import MilvusStore

    milvus.drop_collection(milvus.describe_alias(alias)["collection_name"])
    milvus.drop_alias(alias)
    MilvusStore(name, 5, milvus_server.uri).add([1], np.ones((1, 5), np.float32))
    with pytest.raises(RuntimeError, match="5-dimensional vectors, but facegrid's collection"):
        server_factory(tmp_path / "data", env)
    assert MilvusStore(name, 5, milvus_server.uri).count() == 1


def test_gate_writes_that_missed_milvus_reach_it_when_it_is_back(milvus_server, server_factory, tmp_path, faces_dir):
    """A subject forgotten while Milvus was down leaves Milvus once it answers (no face of a forgotten person
    is matched), and one enrolled meanwhile is found: the catch-up re-reads just those two from Redis."""
    from facegrid.clients.sdk import FacegridError

    if not getattr(milvus_server, "killable", True):
        pytest.skip("the Milvus under test is not this run's to kill")
    people = {who: [p.read_bytes() for p in sorted((faces_dir / "deepface" / folder).iterdir()) if p.is_file()]
              for who, folder in (("angelina", "id01_angelina_jolie"), ("katy", "id10_katy_perry"), ("matt", "id11_matt_damon"))}
    server = server_factory(tmp_path / "data", {"FACEGRID_VECTOR_ENGINE": "milvus", "FACEGRID_MILVUS_URI": milvus_server.uri})
    with server.client(timeout=60, retries=0) as client:
        for who in ("angelina", "katy"):
            assert client.enroll(who, people[who][:2]).templates == 2
        assert client.identify(people["angelina"][3]).subject == "angelina"
        milvus_server.kill()
        try:
            for call in (lambda: client.forget("angelina"), lambda: client.enroll("matt", people["matt"][:2])):
                with pytest.raises(FacegridError) as lost:  # Redis took it, Milvus could not
                    call()
                assert lost.value.code == grpc.StatusCode.UNAVAILABLE
        finally:
            milvus_server.start()
        def caught_up() -> bool:
            angelina, matt = client.identify(people["angelina"][3]), client.identify(people["matt"][3])
            # Until then her number is still in Milvus: named by no one (NOT_ENROLLED), but there
            return angelina.subject is None and angelina.unknown_reason != "NOT_ENROLLED" and matt.subject == "matt"

        until_answered(caught_up, "Milvus never caught up with Redis")
        assert client.identify(people["katy"][3]).subject == "katy"
        logged(server, "caught up from Redis, 2 vectors set again")

        # Milvus back without its data: the first call finds the collection gone (UNAVAILABLE), and the catch-up
        # refills it from Redis.
        milvus_server.kill()
        shutil.rmtree(milvus_server.folder / "data")
        milvus_server.start()
        with pytest.raises(FacegridError) as lost:
            client.identify(people["katy"][3])
        assert lost.value.code == grpc.StatusCode.UNAVAILABLE and "no longer holds" in lost.value.message
        until_answered(lambda: client.identify(people["katy"][3]).subject == "katy", "the collection Milvus lost was never refilled")
        assert client.identify(people["matt"][3]).subject == "matt" and client.identify(people["angelina"][3]).subject is None
    logged(server, "Milvus lost collection 'subjects:fused': refilled from Redis")


def test_serve_refuses_at_once_when_milvus_does_not_answer(tmp_path, milvus_server):
    from helpers import facegrid, free_port

    port = free_port()
    env = {"FACEGRID_VECTOR_ENGINE": "milvus", "FACEGRID_MILVUS_URI": f"http://admin:pw123@127.0.0.1:{port}"}
    done = facegrid("serve", "--address", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"), env=env, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"Milvus at http://127.0.0.1:{port} does not answer" in done.stderr and "pw123" not in done.stderr
    assert not (tmp_path / "data" / "redis").exists()  # refused before Redis was started


@pytest.mark.slow
def test_bench_catch_up_json_on_a_small_run():
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'facegrid[cpu,milvus]')")
    from helpers import facegrid, last_json

    run = facegrid("bench", "catch-up", "--vectors", "3000", "--missed", "20", "--json", timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = last_json(run.stdout)
    assert report["catch_up"]["vectors_set"] == 20 and report["catch_up"]["ms"] >= 0
    assert report["refill"]["vectors"] == 3020 and report["refill"]["ms"] > 0 and report["refill_over_catch_up"] > 0
