"""Synthetic unit vectors clustered like face embeddings, for index benchmarks at sizes no photo set reaches.

How they are made, fitted to real faces (2,500 LFW photos of 1,500 people embedded with facegrid's
dlib model, unit length): real face vectors sit in a narrow cone (their mean has norm 0.915: two
strangers score 0.84 +- 0.035, two photos of one person 0.96 +- 0.02), and around that mean the
spread is anisotropic: the person-to-person variance falls off with the eigen-direction as about
j^-1.65 and the photo-to-photo variance within a person as about j^-1.2 (top 20 of 128 directions:
64% of the variance). So a vector here is normalise(mean + person + photo):
- `mean`: one random direction with squared norm 0.837 (the real cone);
- `person`: Gaussian with variances (1 + j/6)^-1.65 over random orthogonal directions, summing to
  0.128 (the real between-person variance);
- `photo`: Gaussian with variances (1 + j/12)^-1.2, summing to 0.035 (the real within-person variance).
This gives genuine pairs at cosine about 0.96 and strangers at about 0.84, like the real set, which
is what matters to an index: how close the true neighbours sit against everything else.
- People have a geometric number of photos (mean `photos_per_person`, at least one: a library
  holds many people with one photo and a few with dozens).
- Queries: new photos of people already stored (a probe of someone enrolled), so the true
  neighbours are mostly that person's photos and then the closest strangers, as in a real search.
The generator is seeded and makes vectors in chunks, so 10M x 128 costs only the 5 GB it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1 << 20


@dataclass(frozen=True)
class FaceLikeVectors:
    """A stored set and probes of the same people."""

    vectors: np.ndarray  # (n, dim) float32, unit rows
    queries: np.ndarray  # (q, dim) float32, unit rows
    people: int


def _normalise(rows: np.ndarray) -> np.ndarray:
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _scales(dim: int, width: float, power: float, total: float) -> np.ndarray:
    """Standard deviations along each direction: variances (1 + j / width)^-power summing to total."""
    variances = (1.0 + np.arange(dim) / width) ** -power
    return np.sqrt(variances * total / variances.sum()).astype(np.float32)


def face_like_vectors(n: int, dim: int = 128, queries: int = 1000, photos_per_person: float = 10.0, seed: int = 0) -> FaceLikeVectors:
    """n stored vectors and `queries` probes, as the module docstring describes."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)  # random orthogonal directions
    mean = basis[:, 0] * np.float32(np.sqrt(0.837))
    person_scale = _scales(dim, 6.0, 1.65, 0.128)
    photo_scale = _scales(dim, 12.0, 1.2, 0.035)
    counts = rng.geometric(1.0 / photos_per_person, size=int(n / photos_per_person * 1.2) + 16)
    owner = np.repeat(np.arange(len(counts)), counts)[:n]
    people = int(owner[-1]) + 1
    centres = np.empty((people, dim), np.float32)
    for start in range(0, people, CHUNK):
        block = rng.standard_normal((min(CHUNK, people - start), dim), dtype=np.float32) * person_scale
        centres[start:start + len(block)] = block @ basis.T + mean

    def photos(of: np.ndarray) -> np.ndarray:
        noise = rng.standard_normal((len(of), dim), dtype=np.float32) * photo_scale
        return _normalise(centres[of] + noise @ basis.T)

    vectors = np.empty((n, dim), np.float32)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        vectors[start:stop] = photos(owner[start:stop])
    probes = photos(owner[rng.integers(0, n, size=queries)])
    return FaceLikeVectors(vectors, probes, people)
