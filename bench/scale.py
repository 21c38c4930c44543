"""`facegrid bench scale`: index types at millions of vectors: memory, build time, recall@10 against latency.

Vectors: synthetic, shaped like real face embeddings (bench/face_like_vectors.py says how they are
fitted to LFW). Truth: exact search (FAISS's blocked BLAS k-NN) for every probe. Each type is built
the way a collection builds it (index/approximate.py): k-means lists on a sample (shared by the IVF
types here, and counted in each one's build time), codes trained, vectors added, then `nprobe` tuned
on a sample of the stored vectors, as the server does, never on the probes it is scored with. Its
recall@10 and latency at batch 1 are measured on the probes at the tuned nprobe, and along a curve
of nprobes. "exact" is the collection's exact path (one BLAS scan per query); HNSW, which FAISS
cannot remove from, is measured for reference where it builds in reasonable time (`--hnsw-max`).
With `--milvus-vectors M`, the first M vectors also go through a real Milvus server (milvus-lite on
loopback) beside FAISS's exact and IVF-SQfp16 indexes of the same M vectors.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

from facegrid.index.approximate import (EXACT, IVF_FLAT, IVF_FP16, IVF_PQ, IVF_SQ8, NPROBES, ApproximateSettings, IndexPlan, index_bytes,
                                        ivf_of, list_count, new_index, plan_index, recall_at, set_nprobe, tune_nprobe,
                                        training_sample, tuning_sample)

from .face_like_vectors import face_like_vectors

GIB = 2**30
Progress = Callable[[str], None]


def _latencies(search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids found for each query searched one at a time, and each call's milliseconds."""
    found, times = [], []
    search(queries[:1])  # warm
    for row in range(len(queries)):
        started = time.perf_counter()
        found.append(search(queries[row:row + 1])[0])
        times.append((time.perf_counter() - started) * 1000)
    return np.array(found), np.array(times)


def _figures(found: np.ndarray, times: np.ndarray, truth: np.ndarray) -> dict:
    return {"recall_at_10": round(recall_at(found, truth), 4), "ms_per_query": round(float(times.mean()), 3),
            "p50_ms": round(float(np.percentile(times, 50)), 3), "p99_ms": round(float(np.percentile(times, 99)), 3)}


def _exact(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    """The collection's exact path: one BLAS product over the stored vectors per query, top 10 by partition."""
    def search(query: np.ndarray) -> np.ndarray:
        scores = query @ vectors.T
        top = np.argpartition(-scores, 9, axis=1)[:, :10]
        return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)

    found, times = _latencies(search, queries)
    return {"type": EXACT, "index": "Flat", **_figures(found, times, truth), "index_gib": round(vectors.nbytes / GIB, 3),
            "bytes_per_vector": 4 * vectors.shape[1] + 8, "build_s": 0.0, "nprobe": 0}


def _kmeans(vectors: np.ndarray, nlist: int, progress: Progress) -> tuple[np.ndarray, float]:
    """The IVF lists' centroids, trained as IndexIVF trains them (same sample size and clustering settings)."""
    started = time.perf_counter()
    dim = vectors.shape[1]
    ivf = ivf_of(new_index(IndexPlan(IVF_SQ8, len(vectors), nlist), dim))
    sample = training_sample(vectors, nlist)
    progress(f"  k-means: {nlist} lists on {len(sample):,} vectors")
    clustering = faiss.Clustering(dim, nlist, ivf.cp)
    clustering.train(sample, faiss.IndexFlatIP(dim))
    return faiss.vector_to_array(clustering.centroids).reshape(nlist, dim), time.perf_counter() - started


def _assign(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, float]:
    """Each vector's list (its nearest centroid by inner product), once for every IVF type, and the seconds taken."""
    started = time.perf_counter()
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    quantizer.add(centroids)
    lists = np.empty(len(vectors), np.int64)
    for start in range(0, len(vectors), 1 << 20):
        lists[start:start + (1 << 20)] = quantizer.search(vectors[start:start + (1 << 20)], 1)[1][:, 0]
    return lists, time.perf_counter() - started


def _ivf(plan: IndexPlan, vectors: np.ndarray, centroids: np.ndarray, lists: np.ndarray, shared_s: float, sample,
         queries: np.ndarray, truth: np.ndarray, target: float, progress: Progress) -> dict:
    """Build one IVF type on the shared lists, tune it on the collection's own sample, measure it on the probes.

    Its build time counts the shared k-means and list assignment (`shared_s`) as well as its own work.
    """
    started = time.perf_counter()
    index = new_index(plan, vectors.shape[1])
    ivf = ivf_of(index)
    ivf.quantizer.add(centroids)  # trained lists: IndexIVF.train then trains only the codes
    rows = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 65536), replace=False)
    index.train(np.ascontiguousarray(vectors[np.sort(rows)]))
    ids = np.arange(len(vectors), dtype=np.int64)
    step = 1 << 20
    for start in range(0, len(vectors), step):
        part = np.ascontiguousarray(vectors[start:start + step])
        index.add_core(len(part), faiss.swig_ptr(part), faiss.swig_ptr(ids[start:start + step]),
                       faiss.swig_ptr(np.ascontiguousarray(lists[start:start + step])))
    build_s = shared_s + time.perf_counter() - started
    nprobe, tuned = tune_nprobe(index, sample, target)
    progress(f"  {plan.describe()}: built in {build_s:.0f} s, nprobe {nprobe} (recall {tuned:.3f} on its own sample)")

    def search(query: np.ndarray) -> np.ndarray:
        return index.search(query, 10)[1]

    curve = []
    for probes in [p for p in NPROBES if p <= plan.nlist and p <= 4 * nprobe and p >= nprobe // 8]:
        set_nprobe(index, probes)
        found, times = _latencies(search, queries[:200])
        curve.append({"nprobe": probes, **_figures(found, times, truth[:200])})
    set_nprobe(index, nprobe)
    found, times = _latencies(search, queries)
    size = index_bytes(index)
    return {"type": plan.kind, "index": plan.describe(), **_figures(found, times, truth), "index_gib": round(size / GIB, 3),
            "bytes_per_vector": round(size / len(vectors), 1), "build_s": round(build_s, 1), "nprobe": nprobe,
            "tuned_recall": round(tuned, 4), "curve": curve}


def _hnsw(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, target: float, progress: Progress) -> dict:
    """HNSW (32 links), for reference: FAISS cannot remove from it, so no collection chooses it."""
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    index.add(vectors)
    build_s = time.perf_counter() - started
    result = {}
    for ef in (16, 32, 64, 128, 256, 512):
        index.hnsw.efSearch = ef
        found, times = _latencies(lambda q: index.search(q, 10)[1], queries)
        result = {"type": "hnsw", "index": f"HNSW32,Flat efSearch {ef}", **_figures(found, times, truth),
                  "index_gib": round(index_bytes(index) / GIB, 3), "bytes_per_vector": round(index_bytes(index) / len(vectors), 1),
                  "build_s": round(build_s, 1), "nprobe": 0, "removable": False}
        if result["recall_at_10"] >= target:
            break
    progress(f"  HNSW: built in {build_s:.0f} s, efSearch {ef}")
    return result


def _milvus(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, progress: Progress) -> dict:
    """The same vectors through a real Milvus server (milvus-lite on loopback), by the engine facegrid uses."""
    try:
        from facegrid.index.milvus_server import MilvusLiteServer
        from facegrid.index.milvus_store import MilvusStore
    except ImportError as error:
        return {"type": "milvus", "skipped": f"Milvus engine not available: {error}"}
    with tempfile.TemporaryDirectory(prefix="facegrid-milvus-") as folder:
        server = MilvusLiteServer(Path(folder))
        uri = server.start()
        try:
            started = time.perf_counter()
            collection = MilvusStore("bench-scale", vectors.shape[1], uri)
            ids = np.arange(len(vectors), dtype=np.int64)
            for start in range(0, len(vectors), 50_000):
                collection.add(ids[start:start + 50_000], vectors[start:start + 50_000])
            build_s = time.perf_counter() - started
            progress(f"  Milvus: {len(vectors):,} vectors inserted and indexed in {build_s:.0f} s")
            # milvus-lite scans every row per query (about 1 s at 1M): 100 probes time it well enough.
            found, times = _latencies(lambda q: collection.search(q, 10).ids, queries[:100])
            return {"type": "milvus", "index": collection.describe() + " (milvus-lite)", **_figures(found, times, truth[:100]),
                    "build_s": round(build_s, 1),
                    "index_gib": None, "bytes_per_vector": None, "nprobe": 0}
        finally:
            server.stop()


def _measure(vectors: np.ndarray, queries: np.ndarray, types: list[str], settings: ApproximateSettings, hnsw_max: int,
             progress: Progress) -> dict:
    """Every requested type over these vectors; the planner's choice for their size among them."""
    n, dim = vectors.shape
    progress(f"{n:,} x {dim}: exact truth for {len(queries)} probes")
    _, truth = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    chosen = plan_index(n, dim, settings)
    results: dict[str, dict] = {}
    if EXACT in types:  # a scan of everything per query: 100 probes time it well enough
        results[EXACT] = _exact(vectors, queries[:100], truth[:100])
        progress(f"  exact: {results[EXACT]['ms_per_query']} ms per query")
    ivf_types = [t for t in (IVF_FLAT, IVF_FP16, IVF_SQ8, IVF_PQ) if t in types]
    if ivf_types:
        nlist = list_count(n)
        centroids, kmeans_s = _kmeans(vectors, nlist, progress)
        lists, assign_s = _assign(vectors, centroids)
        progress(f"  k-means {kmeans_s:.0f} s, list assignment {assign_s:.0f} s (shared by the IVF types)")
        sample = tuning_sample(np.arange(n, dtype=np.int64), vectors)
        for kind in ivf_types:
            plan = plan_index(n, dim, settings, kind=kind) if kind != IVF_PQ else (
                chosen if chosen.kind == IVF_PQ else IndexPlan(IVF_PQ, n, nlist, dim // 4))
            results[kind] = _ivf(plan, vectors, centroids, lists, kmeans_s + assign_s, sample, queries, truth,
                                 settings.recall_target, progress)
    if "hnsw" in types and n <= hnsw_max:
        results["hnsw"] = _hnsw(vectors, queries, truth, settings.recall_target, progress)
    report = {"vectors": n, "dim": dim, "queries": len(queries), "types": results, "chosen_type": chosen.kind}
    if chosen.kind in results:
        report["chosen"] = {"type": chosen.kind, **{k: v for k, v in results[chosen.kind].items() if k != "curve"}}
    return report, truth


def bench_scale(vectors: int = 10_000_000, dim: int = 128, queries: int = 1000, types: str = "flat,ivf_flat,ivf_fp16,ivf_sq8,ivf_pq,hnsw",
                milvus_vectors: int = 0, hnsw_max: int = 2_000_000, settings: ApproximateSettings = ApproximateSettings(),
                progress: Progress = print) -> dict:
    """The whole benchmark: FAISS types at `vectors`, and Milvus beside FAISS at `milvus_vectors`."""
    started = time.perf_counter()
    data = face_like_vectors(vectors, dim=dim, queries=queries)
    progress(f"generated {vectors:,} face-like vectors of {data.people:,} people in {time.perf_counter() - started:.0f} s")
    wanted = [t.strip() for t in types.split(",") if t.strip()]
    report, _ = _measure(data.vectors, data.queries, wanted, settings, hnsw_max, progress)
    report["target"] = {"recall_at_10": settings.recall_target, "ms_per_query": 10.0, "index_gib": 4.0}
    chosen = report.get("chosen", {})
    report["met"] = bool(chosen) and chosen["recall_at_10"] >= settings.recall_target and chosen["ms_per_query"] <= 10.0 \
        and chosen["index_gib"] <= 4.0
    if milvus_vectors:
        m = min(milvus_vectors, vectors)
        beside, truth = _measure(np.ascontiguousarray(data.vectors[:m]), data.queries, [EXACT, IVF_FP16], settings, 0, progress)
        beside["types"]["milvus"] = _milvus(np.ascontiguousarray(data.vectors[:m]), data.queries, truth, progress)
        report["milvus"] = beside
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
