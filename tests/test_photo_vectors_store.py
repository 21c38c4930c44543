"""Whole-photo vectors in Redis against a real redis-server: one vector per photo whoever writes first, the
re-embedding's writes, and a second server's FAISS copy following through the change feed."""

from __future__ import annotations

import threading

import numpy as np

from facegrid.encoder.quality import FaceQuality
from facegrid.server.domain.collections import Collections
from facegrid.server.store.feed import ChangeFeed
from facegrid.server.store.faces import NewFace
from facegrid.server.store.library import LibraryStore
from facegrid.server.store.photos import NewPhoto

QUALITY = FaceQuality(size=100.0, interocular=40.0, sharpness=50.0, yaw=0.0, pitch=0.0, roll=0.0, detector_score=0.9)


def unit(seed: int, dim: int = 8) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def store(external_redis) -> LibraryStore:
    client = external_redis.client()
    return LibraryStore(client, ChangeFeed(client))


def test_one_photo_stored_by_two_servers_at_once_keeps_one_photo_vector(external_redis):
    a, b = store(external_redis), store(external_redis)
    a.collections.create("c", "test", 4, "img", 8)
    face = NewFace([0, 0, 10, 10], QUALITY, unit(0, 4))
    for round_ in range(10):
        barrier, results = threading.Barrier(2), {}

        def write(name, target, seed):
            barrier.wait()
            results[name] = target.photos.add("c", [NewPhoto(f"same-{round_}", ["x.jpg"], [face], unit(seed))])[0]

        threads = [threading.Thread(target=write, args=("a", a, 1)), threading.Thread(target=write, args=("b", b, 2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [results["a"], results["b"]].count(None) == 1
    vectors = list(a.photo_vectors.all("c"))
    assert len(vectors) == a.photo_vectors.count("c") == 10 and len({v.photo_sha256 for v in vectors}) == 10
    client = external_redis.client()
    assert len(list(client.scan_iter("{fg:c:c}:photo:*"))) == 10  # the losers' vectors are gone, not orphaned


def test_reembedding_writes_skip_photos_that_have_a_vector_and_count_the_missing(external_redis):
    library = store(external_redis)
    library.collections.create("c", "test", 4)
    library.photos.add("c", [NewPhoto(f"p{i}", [f"{i}.jpg"], []) for i in range(4)])
    settings, changed = library.collections.set_image_model("c", "img", 8)
    assert changed and settings.image_model == "img" and library.reembed.state("c").state == "running"
    assert library.collections.set_image_model("c", "other", 8) == (settings, False)  # first writer wins
    todo = [r.photo_sha256 for batch in library.reembed.photos_without_vectors("c", 2) for r in batch]
    assert sorted(todo) == ["p0", "p1", "p2", "p3"]
    ids = library.photo_vectors.add("c", [("p0", unit(1)), ("p1", unit(2))], {"p3": "gone"})
    assert None not in ids and library.photo_vectors.add("c", [("p0", unit(3))], {}) == [None]  # had one already
    assert [r.photo_sha256 for batch in library.reembed.photos_without_vectors("c") for r in batch] == ["p2"]
    assert library.reembed.state("c").missing == 1 and library.photo_vectors.count("c") == 2
    (kept,) = [r for r in library.photo_vectors.all("c") if r.photo_sha256 == "p0"]
    assert np.allclose(kept.vector, unit(1))
    assert len(list(external_redis.client().scan_iter("{fg:c:c}:photo:*"))) == 2


def test_a_second_server_follows_an_added_image_model_and_its_photo_vectors(external_redis):
    here, there = store(external_redis), store(external_redis)
    mine, theirs = Collections(here), Collections(there)
    here.collections.create("c", "test", 4)
    here.photos.add("c", [NewPhoto("p0", ["0.jpg"], []), NewPhoto("p1", ["1.jpg"], [])])
    mine.rebuild(), theirs.rebuild()
    info, changed = mine.set_image_model("c", "img", 8)
    assert changed and info.image_model == "img"
    ids = here.photo_vectors.add("c", [("p0", unit(1))], {})
    mine.add_photo_vectors("c", ids, np.stack([unit(1)]))
    # What the change feed hands the other server: the collection changed, then photo vectors added.
    theirs.follow_changed("c")
    assert theirs.info("c").image_model == "img" and theirs.photo_vectors("c").count() == 1
    more = here.photo_vectors.add("c", [("p1", unit(2))], {})
    theirs.follow_photo_vectors("c", more)
    hits = theirs.photo_vectors("c").search(unit(2), 1)
    assert hits.ids[0][0] == more[0] and hits.scores[0][0] > 0.9999
    again = Collections(store(external_redis))
    again.rebuild()  # a restart: everything from Redis
    assert again.photo_vectors("c").count() == 2
