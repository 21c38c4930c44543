"""FAISS collection, calibration tables and open-set decisions (index/ as a library)."""

from __future__ import annotations

import numpy as np
import pytest

from facegrid.index.calibration import Calibration, load_calibration, save_calibration
from facegrid.index.checks import MAX_K
from facegrid.index.errors import VectorError
from facegrid.index.faiss_store import FaissStore
from facegrid.index.identify import Policy, identify, subject_vector, verify


def unit(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_search_is_exact_and_matches_numpy():
    vectors = unit(500, 64)
    collection = FaissStore("test", 64)
    ids = np.arange(1000, 1500)
    collection.add(ids, vectors)
    queries = unit(7, 64, seed=1)
    hits = collection.search(queries, 10)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :10] + 1000
    np.testing.assert_array_equal(hits.ids, expected)
    np.testing.assert_allclose(hits.scores[:, 0], (queries @ vectors.T).max(axis=1), atol=1e-5)


def test_remove_and_replace():
    collection = FaissStore("test", 8)
    vectors = unit(3, 8)
    collection.add([1, 2, 3], vectors)
    assert collection.remove([2, 99]) == 1
    assert collection.count() == 2 and 2 not in collection
    assert collection.search(vectors[1], 3).ids[0].tolist().count(2) == 0
    collection.add([1], vectors[2])  # replaces id 1
    assert collection.count() == 2
    np.testing.assert_allclose(collection.vector(1), vectors[2])
    assert collection.vector(42) is None
    assert sorted(collection.ids().tolist()) == [1, 3]


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 7), np.float32), "8-dimensional"),
        (np.full((1, 8), np.nan, np.float32), "NaN"),
        (np.full((1, 8), np.inf, np.float32), "NaN or infinite"),
        (np.zeros((2, 2, 8), np.float32), "shape"),
        (np.array([["a"] * 8]), "numbers"),
    ],
)
def test_bad_vectors_are_refused(bad, message):
    collection = FaissStore("test", 8)
    with pytest.raises(VectorError, match=message):
        collection.add(np.arange(len(bad)), bad)
    with pytest.raises(VectorError, match=message):
        collection.search(bad, 1)
    assert collection.count() == 0


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1, 10**9])
def test_absurd_k_is_refused(k):
    collection = FaissStore("test", 4)
    collection.add([1], unit(1, 4))
    with pytest.raises(VectorError, match="k must be"):
        collection.search(unit(1, 4), k)


def test_k_larger_than_the_collection_returns_what_exists():
    collection = FaissStore("test", 4)
    collection.add([5, 6], unit(2, 4))
    hits = collection.search(unit(1, 4, seed=3), 50)
    assert sorted(hits.ids[0].tolist()) == [5, 6]


def synthetic_calibration() -> Calibration:
    impostor = np.random.default_rng(0).normal(0.1, 0.1, 1_000_000)
    edges = np.linspace(-1, 1, 200_001)
    counts, _ = np.histogram(impostor, edges)
    return Calibration.from_histogram("test", edges[:-1], counts, "synthetic normal(0.1, 0.1)")


def test_calibration_thresholds_match_the_impostor_distribution(tmp_path):
    table = synthetic_calibration()
    # For N(0.1, 0.1): 1% of impostors lie above 0.1 + 2.326 * 0.1.
    assert table.threshold(1e-2) == pytest.approx(0.3326, abs=0.003)
    assert table.threshold(1e-3) == pytest.approx(0.4090, abs=0.005)
    assert table.estimated_far(table.threshold(1e-3)) == pytest.approx(1e-3, rel=0.15)
    assert table.estimated_far(-1.0) == pytest.approx(1.0)
    assert table.estimated_far(0.99) < 1e-6
    scores = np.linspace(-0.5, 0.9, 50)
    fars = [table.estimated_far(s) for s in scores]
    assert all(a >= b for a, b in zip(fars, fars[1:]))  # rarer as the score grows
    path = save_calibration(table, tmp_path)
    again = load_calibration("test", tmp_path)
    assert again.threshold(1e-3) == pytest.approx(table.threshold(1e-3), abs=1e-4)
    with pytest.raises(ValueError):
        table.threshold(0)
    assert path.name == "test.json"


@pytest.mark.parametrize("model", ["fused", "sface", "dlib"])
def test_shipped_tables_are_sane(model):
    table = load_calibration(model)
    assert table.impostor_pairs > 80_000_000
    assert -1 < table.threshold(1e-2) < table.threshold(1e-3) < table.threshold(1e-5) < 1


def test_open_set_decisions():
    policy = Policy(synthetic_calibration(), target_far=1e-3, margin=0.05)
    gallery = unit(100, 512, seed=5)  # random 512-d directions: cosines of strangers ~ N(0, 0.044)
    subjects = FaissStore("subjects", 512)
    subjects.add(np.arange(100), gallery)
    near = gallery[17] + 0.5 * unit(1, 512, seed=9)[0]
    near /= np.linalg.norm(near)
    known = identify(near, subjects, policy)
    assert known.subject == 17 and known.decision.accepted and known.margin > 0.05
    assert known.candidates[0].subject == 17
    stranger = identify(unit(1, 512, seed=11)[0], subjects, policy)
    assert stranger.subject is None and "threshold" in stranger.reason
    twin = gallery[3].copy()
    subjects.add([1000], twin)  # two subjects with the same face: never resolved by a hair
    assert identify(twin, subjects, policy).reason == "too close to the runner-up"
    assert verify(near, gallery[17], policy).accepted
    assert not verify(near, gallery[18], policy).accepted
    assert identify(near, FaissStore("empty", 512), policy).reason == "no subjects enrolled"


def test_subject_vector_is_the_unit_mean():
    templates = unit(3, 16)
    vector = subject_vector(templates)
    assert np.linalg.norm(vector) == pytest.approx(1, abs=1e-6)
    np.testing.assert_allclose(vector, templates.mean(0) / np.linalg.norm(templates.mean(0)), atol=1e-6)


def test_identification_threshold_grows_with_the_gallery():
    policy = Policy(synthetic_calibration(), target_far=1e-3)
    assert policy.identification_threshold(1) == pytest.approx(policy.threshold)
    assert policy.identification_threshold(100) == pytest.approx(policy.calibration.threshold(1e-5))
    assert policy.identification_threshold(10_000) > policy.identification_threshold(100) > policy.threshold
    decision = policy.decide_identification(policy.identification_threshold(100), 100)
    assert decision.accepted and decision.estimated_far == pytest.approx(1e-3, rel=0.3)


def test_the_faiss_collection_implements_the_vector_store_interface():
    from facegrid.index.store import VectorStore

    assert isinstance(FaissStore("any", 4), VectorStore)
