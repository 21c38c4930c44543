"""Clustering: k-means, face grouping with cannot-link, incremental assignment, and the metrics."""

from __future__ import annotations

import numpy as np
import pytest

from facegrid.evaluation.cluster_metrics import score_clustering
from facegrid.index.cluster import UNASSIGNED, assign, group_faces, group_vectors, kmeans, knn_index, knn_pairs


def people(count: int, photos: int, dim: int = 64, spread: float = 0.35, seed: int = 0):
    """Unit vectors around `count` random identities; (vectors, true labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((count, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.repeat(centres, photos, axis=0) + spread * rng.standard_normal((count * photos, dim)) / np.sqrt(dim)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), np.repeat(np.arange(count), photos)


def test_metrics_on_known_cases():
    perfect = score_clustering([0, 0, 1, 1], [5, 5, 7, 7])
    assert perfect.bcubed_f == pytest.approx(1) and perfect.pairwise_f == pytest.approx(1)
    lumped = score_clustering([0, 0, 1, 1], [1, 1, 1, 1])
    assert lumped.bcubed_precision == pytest.approx(0.5) and lumped.bcubed_recall == pytest.approx(1)
    split = score_clustering([0, 0, 0, 0], [-1, -1, -1, -1])  # all unassigned: four singletons
    assert split.bcubed_precision == pytest.approx(1) and split.bcubed_recall == pytest.approx(0.25)
    assert split.groups == 4


@pytest.mark.parametrize("linkage", ["average", "single"])
def test_group_faces_recovers_people(linkage):
    vectors, truth = people(30, 6)
    labels = group_faces(vectors, threshold=0.6, linkage=linkage)
    scores = score_clustering(truth, labels)
    assert scores.bcubed_f > 0.98 and scores.groups == 30


def test_large_collections_use_an_approximate_knn_graph_that_keeps_the_close_pairs():
    vectors, truth = people(3000, 5)
    assert knn_index(vectors, exact_up_to=len(vectors)).__class__.__name__ == "IndexFlatIP"
    assert knn_index(vectors, exact_up_to=len(vectors) - 1).__class__.__name__ == "IndexIVFFlat"
    exact = knn_pairs(vectors, 8, 0.6, exact_up_to=len(vectors))
    approximate = knn_pairs(vectors, 8, 0.6, exact_up_to=0)
    found = set(zip(*approximate[:2])) & set(zip(*exact[:2]))
    assert len(found) >= 0.98 * len(exact[0])
    labels = group_faces(vectors, threshold=0.6, exact_up_to=0)
    assert score_clustering(truth, labels).bcubed_f > 0.99


def test_cannot_link_keeps_two_faces_of_one_photo_apart():
    vectors, _ = people(1, 4)
    labels = group_faces(vectors, threshold=0.5)
    assert len(set(labels.tolist())) == 1
    photos = np.array([0, 0, 1, 2])  # the first two faces are in the same photo
    labels = group_faces(vectors, threshold=0.5, photos=photos)
    assert labels[0] != labels[1]


def test_min_size_leaves_small_groups_unassigned_and_labels_are_largest_first():
    vectors, truth = people(3, 5)
    loner, _ = people(1, 1, seed=9)
    labels = group_faces(np.vstack([vectors, loner]), threshold=0.6, min_size=2)
    assert labels[-1] == UNASSIGNED
    assert sorted(set(labels[:-1].tolist())) == [0, 1, 2]
    assert group_faces(np.zeros((0, 8), np.float32), 0.5).shape == (0,)


def test_assign_new_faces_to_existing_groups_or_wait():
    vectors, truth = people(5, 6, seed=2)
    labels = group_faces(vectors[::2], threshold=0.6)
    ids, means = group_vectors(vectors[::2], labels)
    newcomers = assign(vectors[1::2], ids, means, threshold=0.6)
    # Every newcomer lands in the group of its own person.
    for label, person in zip(newcomers, truth[1::2]):
        assert label != UNASSIGNED and set(truth[::2][labels == label]) == {person}
    stranger, _ = people(1, 1, seed=99)
    assert assign(stranger, ids, means, threshold=0.6)[0] == UNASSIGNED


def test_kmeans_finds_well_separated_clusters():
    vectors, truth = people(8, 40, spread=0.2)
    result = kmeans(vectors, k=8, restarts=5)
    assert result.centroids.shape == (8, 64) and score_clustering(truth, result.labels).bcubed_f > 0.95
    assert kmeans(vectors).k == 13  # sqrt(320 / 2) when k is not given
    with pytest.raises(ValueError):
        kmeans(vectors, k=1000)


@pytest.mark.slow
def test_eval_cluster_on_lfw(faces_dir):
    from helpers import facegrid, last_json

    # The images of pairs.txt, which test_cli's `eval lfw` has embedded into this run's cache: the whole of LFW
    # (10,054 photos of 4,492 people, BCubed F 0.990: docs/benchmarks.md) would embed ~5,500 more, minutes of CI.
    run = facegrid("eval", "cluster", "--pairs-images", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    report = last_json(run.stdout)
    print({k: v for k, v in report.items() if k != "sweep"})
    assert report["images"] == "pairs.txt" and report["photos"] == 4437 and report["people"] == 2982
    assert report["bcubed_f"] > 0.98  # measured 0.990
    assert report["faceapi_bbt"]["bcubed_f"] > 0.9


def test_pins_keep_user_corrections():
    vectors, truth = people(2, 4, seed=4)
    pins = np.array(["", "", "", "", "", "", "", ""], dtype=object)
    assert len(set(group_faces(vectors, 0.6, pins=pins).tolist())) == 2
    pins[0], pins[1:4] = "split-0", "rest"  # the user took face 0 out of its group
    labels = group_faces(vectors, 0.6, pins=pins)
    assert labels[0] not in labels[1:4]
    pins[:] = ""
    pins[[0, 4]] = "same"  # the user merged a face of each person
    labels = group_faces(vectors, 0.6, pins=pins)
    assert labels[0] == labels[4]
