"""Clustering over stored vectors: k-means, face grouping for an unknown number of people, incremental assignment.

- `kmeans`: FAISS k-means (on the GPU when FAISS sees one); k given or chosen by a
  rule of thumb.
- `group_faces`: faces of an unknown number of people. A kNN graph (exact up to
  50k faces, IVF beyond) keeps the pairs scoring at least `threshold`; groups linked by those pairs are merged
  best first while their *average* pairwise score stays at or above `threshold`
  (average linkage; `linkage="single"` merges on the best pair alone, which chains
  look-alikes together). A merge that would put two faces of the same photo in one
  group is refused (cannot-link: one photo never shows the same person twice).
  Groups smaller than `min_size` stay unassigned (-1).

Average linkage is cheap here: for unit vectors, the mean score between all pairs
of groups A and B equals (sum of A / |A|) . (sum of B / |B|), so each group
carries only its vector sum.
- `assign`: new faces join the nearest existing group when close enough, else
  wait (-1) for the next clustering.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import faiss
import numpy as np

from .checks import check_vectors
from .gpu import gpu_count
from .settings import IndexSettings

UNASSIGNED = -1


@dataclass(frozen=True)
class KMeansResult:
    """What k-means found: the centroids, each vector's cluster and the k used."""

    centroids: np.ndarray  # (k, dim) float32
    labels: np.ndarray  # (n,) int64
    k: int


def choose_k(n: int) -> int:
    """Rule of thumb when k is not given: sqrt(n / 2), at least 1."""
    return max(1, int(round(math.sqrt(n / 2))))


def kmeans(
    vectors: np.ndarray,
    k: int | None = None,
    iterations: int = 20,
    restarts: int = 1,
    seed: int = 1,
    spherical: bool = True,
    settings: IndexSettings = IndexSettings(),
) -> KMeansResult:
    """k-means with FAISS (on the GPU where the settings allow and faiss-gpu sees one); spherical
    (unit centroids, for cosine data) by default; best of `restarts` runs."""
    vectors = check_vectors(vectors, np.asarray(vectors).shape[-1])
    k = k or choose_k(len(vectors))
    if not 1 <= k <= len(vectors):
        raise ValueError(f"k must be between 1 and the number of vectors ({len(vectors)}), got {k}")
    clustering = faiss.Kmeans(
        vectors.shape[1], k, niter=iterations, nredo=restarts, seed=seed, spherical=spherical, gpu=gpu_count(settings) > 0,
        max_points_per_centroid=max(256, math.ceil(len(vectors) / k)),
    )
    clustering.train(vectors)
    _, labels = clustering.index.search(vectors, 1)
    return KMeansResult(clustering.centroids.copy(), labels[:, 0].astype(np.int64), k)


class _Groups:
    """Union-find that refuses merges which would put two faces of one photo, or two different
    user-pinned people, in one group."""

    def __init__(self, photos: np.ndarray, pins: np.ndarray | None = None) -> None:
        self.parent = np.arange(len(photos))
        # Photos and pins present in each group, kept at the root only.
        self.photos: dict[int, set] = {i: {p} for i, p in enumerate(photos.tolist())}
        pins = [""] * len(photos) if pins is None else pins.tolist()
        self.pins: dict[int, set] = {i: ({p} if p else set()) for i, p in enumerate(pins)}
        by_pin: dict[str, list[int]] = {}
        for index, pin in enumerate(pins):
            if pin:
                by_pin.setdefault(pin, []).append(index)
        # Must-link: faces the user put together start in one group.
        for members in by_pin.values():
            for other in members[1:]:
                self.merge(members[0], other, force=True)

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def merge(self, a: int, b: int, force: bool = False) -> bool:
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return True
        small, large = (ra, rb) if len(self.photos[ra]) < len(self.photos[rb]) else (rb, ra)
        if not force:
            if not self.photos[small].isdisjoint(self.photos[large]):
                return False  # cannot-link: one photo
            if self.pins[small] and self.pins[large] and self.pins[small] != self.pins[large]:
                return False  # cannot-link: two people the user told apart
        self.parent[small] = large
        self.photos[large] |= self.photos.pop(small)
        self.pins[large] |= self.pins.pop(small)
        return True


EXACT_KNN_MAX = 50_000  # above this many faces the kNN graph is built approximately (IVF)


def knn_index(vectors: np.ndarray, exact_up_to: int = EXACT_KNN_MAX, probes: int = 16) -> faiss.Index:
    """An index over `vectors` for their kNN graph: exact up to `exact_up_to` vectors, IVF beyond.

    Exact search costs n^2 * dim (100k x 256-d: ~30 s on 2 cores, 1M: ~50 min). IVF with
    4 * sqrt(n) lists and `probes` of them searched visits ~probes / (4 sqrt(n)) of the vectors per
    query; faces of one person sit close together, so their pairs are rarely lost
    (docs/benchmarks.md gives the measured recall).
    """
    n, dim = vectors.shape
    if n <= exact_up_to:
        index = faiss.IndexFlatIP(dim)
    else:
        lists = int(4 * math.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, min(n, 64 * lists), replace=False)
        index.train(vectors[np.sort(sample)])
        index.nprobe = probes
    index.add(vectors)
    return index


def knn_pairs(
    vectors: np.ndarray, neighbours: int, threshold: float, exact_up_to: int = EXACT_KNN_MAX
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique pairs (i < j, score) among each vector's `neighbours` nearest, keeping scores >= threshold."""
    index = knn_index(vectors, exact_up_to)
    scores, ids = index.search(vectors, min(neighbours + 1, len(vectors)))
    rows = np.repeat(np.arange(len(vectors), dtype=np.int64), ids.shape[1])
    cols, values = ids.reshape(-1), scores.reshape(-1)
    keep = (cols >= 0) & (cols != rows) & (values >= threshold)
    # Either end may list the pair: key each pair by (min, max) and keep one.
    low, high, values = np.minimum(rows, cols)[keep], np.maximum(rows, cols)[keep], values[keep]
    _, first = np.unique(low * len(vectors) + high, return_index=True)
    return low[first], high[first], values[first]


def _single_linkage(vectors, groups: _Groups, first, second, scores) -> np.ndarray:
    for index in np.argsort(-scores, kind="stable"):
        groups.merge(int(first[index]), int(second[index]))
    return np.array([groups.root(i) for i in range(len(vectors))])


def _average_linkage(vectors, groups: _Groups, first, second, threshold) -> np.ndarray:
    # Start from the groups as they are (pinned faces already together).
    roots = [groups.root(i) for i in range(len(vectors))]
    sums: dict[int, np.ndarray] = {}
    sizes: dict[int, int] = {}
    for index, root in enumerate(roots):
        sums[root] = sums.get(root, 0) + vectors[index].astype(np.float64)
        sizes[root] = sizes.get(root, 0) + 1
    neighbours: dict[int, set] = {root: set() for root in sizes}
    for a, b in zip(first.tolist(), second.tolist()):
        ra, rb = roots[a], roots[b]
        if ra != rb:
            neighbours[ra].add(rb)
            neighbours[rb].add(ra)

    def average(a: int, b: int) -> float:
        return float(sums[a] @ sums[b]) / (sizes[a] * sizes[b])

    heap = [(-average(a, b), a, b, sizes[a], sizes[b]) for a in neighbours for b in neighbours[a] if a < b]
    heapq.heapify(heap)
    while heap:
        negative, a, b, size_a, size_b = heapq.heappop(heap)
        if a not in sizes or b not in sizes or sizes[a] != size_a or sizes[b] != size_b:
            continue  # one side has changed since this entry was pushed
        if -negative < threshold:
            break
        if not groups.merge(a, b):
            continue
        keep, gone = (a, b) if groups.root(a) == a else (b, a)
        sums[keep] = sums[keep] + sums.pop(gone)
        sizes[keep] += sizes.pop(gone)
        neighbours[keep] = (neighbours[keep] | neighbours.pop(gone)) - {keep, gone}
        for other in neighbours[keep]:
            neighbours[other].discard(gone)
            neighbours[other].add(keep)
            score = average(keep, other)
            if score >= threshold:
                heapq.heappush(heap, (-score, keep, other, sizes[keep], sizes[other]))
    return np.array([groups.root(i) for i in range(len(vectors))])


def group_faces(
    vectors: np.ndarray,
    threshold: float,
    photos: np.ndarray | None = None,
    neighbours: int = 32,
    min_size: int = 1,
    linkage: str = "average",
    pins: np.ndarray | None = None,
    exact_up_to: int = EXACT_KNN_MAX,
) -> np.ndarray:
    """Group labels (0..g-1, largest first, or -1 for groups under `min_size`) for faces of unknown people.

    `pins` (one string per face, "" for none) carries user corrections: faces with the same pin
    are always together, faces with different pins never.
    """
    vectors = check_vectors(vectors, np.asarray(vectors).shape[-1])
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    photos = np.arange(n) if photos is None else np.asarray(photos)
    first, second, scores = knn_pairs(vectors, neighbours, threshold, exact_up_to)
    groups = _Groups(photos, None if pins is None else np.asarray(pins))
    if linkage == "average":
        roots = _average_linkage(vectors, groups, first, second, threshold)
    elif linkage == "single":
        roots = _single_linkage(vectors, groups, first, second, scores)
    else:
        raise ValueError(f"linkage must be 'average' or 'single', got {linkage!r}")
    _, labels, sizes = np.unique(roots, return_inverse=True, return_counts=True)
    labels = labels.astype(np.int64)
    labels[sizes[labels] < min_size] = UNASSIGNED
    # Renumber the kept groups 0..g-1, largest first.
    kept = np.unique(labels[labels >= 0])
    order = kept[np.argsort(-sizes[kept], kind="stable")]
    renumber = np.full(len(sizes), UNASSIGNED, dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return np.where(labels >= 0, renumber[np.maximum(labels, 0)], UNASSIGNED)


def group_vectors(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group ids, unit mean vector of each group) for labels >= 0."""
    ids = np.unique(labels[labels >= 0])
    means = np.stack([vectors[labels == g].mean(axis=0) for g in ids]) if len(ids) else np.zeros((0, vectors.shape[1]))
    means = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return ids, means.astype(np.float32)


def assign(vectors: np.ndarray, group_ids: np.ndarray, group_means: np.ndarray, threshold: float) -> np.ndarray:
    """For each new face: the nearest group's id if its score reaches `threshold`, else -1."""
    vectors = check_vectors(vectors, group_means.shape[1])
    if len(group_ids) == 0:
        return np.full(len(vectors), UNASSIGNED, dtype=np.int64)
    scores = vectors @ group_means.T
    best = scores.argmax(axis=1)
    return np.where(scores[np.arange(len(vectors)), best] >= threshold, group_ids[best], UNASSIGNED).astype(np.int64)
