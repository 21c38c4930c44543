"""`facegrid bench index`: bulk indexing against face_recognition, k-means, clustering and search at scale.

- Indexing: a real `facegrid serve` is started in this process (embedded Redis,
  temporary data directory) and photos are streamed to it through the SDK, the
  way `facegrid index` does; face_recognition embeds the same photos with the
  same number of processes (`bench.pipeline`). Pool start-up is excluded from
  both (facegrid indexes a few warm-up photos first, in another collection).
- k-means: 200k x 128 random vectors into 1,000 centroids with `index.cluster.kmeans`
  and with raw `faiss.Kmeans`, same settings.
- Grouping: 100k synthetic face vectors (20k people, 5 each, 256-d) with `group_faces`:
  by default (an IVF kNN graph at this size) and with the exact graph, and the share of
  the exact graph's pairs the IVF graph keeps.
- Search: 1M x 128 vectors, exact search at batch 1 against a numpy matrix-vector scan
  (the two alternate query by query; medians); then 1M whole-photo vectors (512-d) against
  1M face vectors (256-d) the same way (`bench_photo_search`).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from facegrid.clients.sdk import Facegrid
from facegrid.evaluation.datasets import faces_dir
from facegrid.index.cluster import group_faces, kmeans, knn_pairs
from facegrid.index.faiss_store import FaissStore
from facegrid.server.config import Settings
from facegrid.server.main import start

from .pipeline import baseline_chunk, start_baseline, timed_pool, baseline_available, lfw_sample


def _index_rate(client: Facegrid, paths: list[Path], collection: str) -> tuple[float, int]:
    started = time.perf_counter()
    faces = sum(r.faces for r in client.index_photos(((str(p), p.read_bytes()) for p in paths), collection))
    return len(paths) / (time.perf_counter() - started), faces


def bench_indexing(paths: list[Path], model: str, workers: int, baseline: bool) -> dict:
    """Photos per second indexed through a real server and the SDK, beside face_recognition's rate when asked."""
    with tempfile.TemporaryDirectory(prefix="facegrid-bench-") as folder:
        running = start(Settings().with_overrides(address="127.0.0.1:0", data_dir=folder, model=model, redis_url=""))
        try:
            with Facegrid(f"127.0.0.1:{running.port}", timeout=600) as client:
                _index_rate(client, paths[: workers * 2], "warm-up")
                rate, faces = _index_rate(client, paths, "bench")
        finally:
            running.stop()
    report = {"photos": len(paths), "photos_per_s": round(rate, 2), "faces": faces}
    if baseline:
        chunks = [[str(p) for p in paths[i : i + 4]] for i in range(0, len(paths), 4)]
        seconds, found = timed_pool(start_baseline, (), baseline_chunk, chunks, workers)
        report.update(baseline_photos_per_s=round(len(paths) / seconds, 2), baseline_faces=sum(found),
                      ratio=round(rate / (len(paths) / seconds), 2))
    return report


def bench_kmeans(n: int = 200_000, dim: int = 128, k: int = 1_000, iterations: int = 10) -> dict:
    """The time of our k-means against raw faiss.Kmeans with the same settings."""
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    started = time.perf_counter()
    kmeans(vectors, k, iterations=iterations, spherical=False)
    ours = time.perf_counter() - started
    raw = faiss.Kmeans(dim, k, niter=iterations, seed=1, max_points_per_centroid=max(256, n // k))
    started = time.perf_counter()
    raw.train(vectors)
    faiss.IndexFlatL2(dim).add(vectors)
    raw.index.search(vectors, 1)
    theirs = time.perf_counter() - started
    return {"kmeans_s": round(ours, 2), "faiss_kmeans_s": round(theirs, 2), "kmeans_ratio": round(ours / theirs, 2)}


def bench_grouping(people: int = 20_000, photos: int = 5, dim: int = 256) -> dict:
    """The time of face grouping at scale by the IVF kNN graph and the exact one, and the pairs the IVF graph keeps."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((people, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.repeat(centres, photos, axis=0) + 0.5 * rng.standard_normal((people * photos, dim)).astype(np.float32) / np.sqrt(dim)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    labels = group_faces(vectors, threshold=0.6)  # past EXACT_KNN_MAX: an IVF kNN graph
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    exact_labels = group_faces(vectors, threshold=0.6, exact_up_to=len(vectors))
    exact_seconds = time.perf_counter() - started
    approximate = knn_pairs(vectors, 32, 0.6)
    exact = knn_pairs(vectors, 32, 0.6, exact_up_to=len(vectors))
    recall = len(set(zip(*approximate[:2])) & set(zip(*exact[:2]))) / max(len(exact[0]), 1)
    return {"group_faces": len(vectors), "group_s": round(seconds, 2), "groups_found": int(labels.max() + 1),
            "groups_true": people, "group_exact_s": round(exact_seconds, 2), "groups_found_exact": int(exact_labels.max() + 1),
            "knn_pair_recall": round(recall, 4)}


def bench_search(n: int = 1_000_000, dim: int = 128, queries: int = 50) -> dict:
    """The median time of one exact search in a large collection against a numpy scan of the same vectors."""
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    collection = FaissStore("bench", dim)
    collection.add(np.arange(n), vectors)
    probes = vectors[rng.integers(0, n, queries)]
    collection.search(probes[0], 10)
    # Interleaved, one query each in turn, medians: drift in a shared machine's memory bandwidth
    # hits both sides alike.
    ours, numpy_times = [], []
    for probe in probes:
        started = time.perf_counter()
        collection.search(probe, 10)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        scores = vectors @ probe
        np.argpartition(-scores, 10)[:10]
        numpy_times.append(time.perf_counter() - started)
    ours, numpy_time = float(np.median(ours)), float(np.median(numpy_times))
    return {"search_vectors": n, "search_dim": dim, "search_ms": round(ours * 1000, 2),
            "numpy_scan_ms": round(numpy_time * 1000, 2), "search_vs_numpy_ratio": round(ours / numpy_time, 2),
            "search_index": "exact IndexFlatIP in IndexIDMap2 (recall 1.0)"}


def bench_index(data: str | Path | None, images: int, model: str, workers: int | None, baseline: bool = True,
                progress=print) -> dict:
    """Every figure of `facegrid bench index`."""
    workers = workers or os.cpu_count() or 1
    if baseline and not baseline_available():
        raise FileNotFoundError("face_recognition is not installed: pip install --no-deps face_recognition==1.3.0")
    report: dict = {"model": model, "workers": workers}
    lfw = lfw_sample(data, images)
    report["lfw"] = bench_indexing(lfw, model, workers, baseline)
    progress(f"indexing LFW: {report['lfw']}")
    hires = sorted(p for p in (faces_dir(data) / "deepface").glob("id*/*") if p.is_file())
    report["deepface"] = bench_indexing(hires, model, workers, baseline)
    progress(f"indexing deepface (high resolution): {report['deepface']}")
    report.update(photos_per_s=report["lfw"]["photos_per_s"], baseline_photos_per_s=report["lfw"].get("baseline_photos_per_s"),
                  ratio=report["lfw"].get("ratio"))
    for part in (bench_kmeans, bench_grouping, bench_search):
        figures = part()
        progress(f"{part.__name__.removeprefix('bench_')}: {figures}")
        report.update(figures)
    report["photo_search"] = bench_photo_search()
    progress(f"photo search: {report['photo_search']}")
    return report


def bench_photo_search(n: int = 1_000_000, queries: int = 50) -> dict:
    """Whole-photo vectors (512-d, a ViT-B/32 tower's) against face vectors (256-d, fused), 1M each, same run:
    the same exact index, so photo search costs what its dimension costs, near the numpy scan."""
    faces = bench_search(n, 256, queries)
    photos = bench_search(n, 512, queries)
    return {"vectors": n, "face_256d_ms": faces["search_ms"], "photo_512d_ms": photos["search_ms"],
            "photo_numpy_scan_ms": photos["numpy_scan_ms"], "photo_vs_numpy_ratio": photos["search_vs_numpy_ratio"],
            "photo_vs_face_ratio": round(photos["search_ms"] / faces["search_ms"], 2)}
