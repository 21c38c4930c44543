"""Which FAISS index a collection of n vectors gets, and how an approximate one is built and tuned.

The choice, by size first and then by memory (every figure: `facegrid bench scale`, docs/benchmarks.md):
- **exact** (`IndexFlatIP`) while the vectors take up to `exact_max_mb` (256 MB by default: 524k
  vectors of 128-d, 262k of 256-d, 131k of 512-d): recall 1, removal exact, nothing to tune, and
  one query is a scan of at most 256 MB, about 10 ms on two cores (1M x 128: 20 ms, measured).
- **IVF** beyond: an inverted file of about 4 * sqrt(n) lists (k-means on a sample); a query scans
  only the `nprobe` lists nearest to it, the smallest `nprobe` that reaches the recall target on a
  sample of the collection's own vectors, measured against exact search. The vectors in the lists
  are stored with the most precise codes that fit `memory_gib`:
  - **IVF-SQfp16** (2 bytes a dimension): half of IVF-Flat's memory, the same recall (face vectors
    sit in a narrow cone, neighbours are near-ties, and fp16 keeps their order), and as fast;
  - **IVF-SQ8** (1 byte a dimension) when fp16 does not fit: a quarter of the memory, recall a
    couple of points lower at the same nprobe (8-bit steps flip near-ties), so it scans more lists;
  - **IVF-PQ** (up to dim / 2 bytes) when even SQ8 does not fit: far lower recall on face vectors
    (measured), the sign that the collection wants more machines (Milvus, docs/scaling.md).
HNSW is not chosen: FAISS's HNSW cannot remove vectors, and a gate must forget people at once
(`facegrid bench scale` measures it beside the others at the sizes where it builds in time).
Every kind removes by id (IVF through a hash-table direct map), so deletions keep working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

from .settings import ApproximateSettings

EXACT = "flat"
IVF_FLAT = "ivf_flat"
IVF_FP16 = "ivf_fp16"
IVF_SQ8 = "ivf_sq8"
IVF_PQ = "ivf_pq"
NPROBES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 80, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)
TRAIN_PER_LIST = 40  # k-means sample per list: FAISS wants at least 39 points per centroid
KMEANS_ITERATIONS = 10  # FAISS's default is 25; lists for a coarse quantiser settle in 10 (2.5x less k-means at 10M)
TUNE_QUERIES = 200


@dataclass(frozen=True)
class IndexPlan:
    """The index a collection of `size` vectors gets."""

    kind: str  # EXACT, IVF_FLAT, IVF_FP16, IVF_SQ8 or IVF_PQ
    size: int  # the number of vectors it was planned for
    nlist: int = 0  # inverted lists (IVF kinds)
    pq_bytes: int = 0  # bytes per vector of the PQ codes (IVF_PQ)

    def bytes_per_vector(self, dim: int) -> float:
        """Index memory per vector: codes plus the 8-byte id (plus the direct map's hash entry for IVF)."""
        if self.kind == EXACT:
            return 4 * dim + 8
        codes = {IVF_FLAT: 4 * dim, IVF_FP16: 2 * dim, IVF_SQ8: dim, IVF_PQ: self.pq_bytes}[self.kind]
        return codes + 8 + 16  # + the id in its list and its entry in the id -> list hash table

    @property
    def approximate(self) -> bool:
        """Whether the plan is an approximate index (IVF or HNSW) rather than exact search."""
        return self.kind != EXACT

    def describe(self) -> str:
        """The plan in FAISS's index_factory words (IVF-PQ: plus its re-ranking codes)."""
        codes = {IVF_FLAT: "Flat", IVF_FP16: "SQfp16", IVF_SQ8: "SQ8", IVF_PQ: f"PQ{self.pq_bytes}"}.get(self.kind)
        return f"IVF{self.nlist},{codes}" if codes else "Flat"


def list_count(n: int) -> int:
    """Inverted lists for n vectors: a power of two near 4 * sqrt(n), at most 65536, with 39+ vectors each to train on."""
    near = 2 ** round(math.log2(4 * math.sqrt(max(n, 1))))
    trainable = 2 ** int(math.log2(max(n // 39, 1)))
    return int(max(1, min(65536, near, trainable)))


def plan_index(n: int, dim: int, settings: ApproximateSettings = ApproximateSettings(), kind: str = "") -> IndexPlan:
    """The index for n vectors of dim (or the given kind, for benchmarks), as the module docstring says."""
    if kind == EXACT or (not kind and n <= settings.exact_max(dim)):
        return IndexPlan(EXACT, n)
    nlist = list_count(n)
    budget = settings.memory_gib * 2**30
    if kind in (IVF_FLAT, IVF_FP16, IVF_SQ8):
        return IndexPlan(kind, n, nlist)
    for tier in (IVF_FP16, IVF_SQ8):  # the most precise codes that fit
        plan = IndexPlan(tier, n, nlist)
        if not kind and n * plan.bytes_per_vector(dim) <= budget:
            return plan
    # Memory binds: the most PQ bytes that fit, from dim / 2 down to dim / 16 (divisors of dim: FAISS needs one).
    # Fewer bytes than dim / 16 find next to nothing on face vectors: past that the budget is exceeded (over_budget
    # says so) rather than recall given up; such a collection wants Milvus across machines (docs/scaling.md).
    room = budget / max(n, 1) - 24
    smallest = max(1, dim // 16)
    fitting = [m for m in range(smallest, dim // 2 + 1) if dim % m == 0 and m <= room]
    return IndexPlan(IVF_PQ, n, nlist, max(fitting) if fitting else smallest)


def over_budget(plan: IndexPlan, dim: int, settings: ApproximateSettings) -> bool:
    """Whether the plan's index is bigger than the memory budget (only the smallest PQ codes can be)."""
    return plan.size * plan.bytes_per_vector(dim) > settings.memory_gib * 2**30


def _owning(outer, inner):
    """`outer` takes ownership of `inner` (SWIG would free it with its Python proxy otherwise)."""
    outer.own_fields = True
    inner.this.disown()
    return outer


def _ivf(plan: IndexPlan, dim: int) -> faiss.IndexIVF:
    quantizer = faiss.IndexFlatIP(dim)
    ip = faiss.METRIC_INNER_PRODUCT
    if plan.kind == IVF_FLAT:
        index = faiss.IndexIVFFlat(quantizer, dim, plan.nlist, ip)
    elif plan.kind == IVF_PQ:
        index = faiss.IndexIVFPQ(quantizer, dim, plan.nlist, plan.pq_bytes, 8, ip)
    else:
        codes = faiss.ScalarQuantizer.QT_fp16 if plan.kind == IVF_FP16 else faiss.ScalarQuantizer.QT_8bit
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, plan.nlist, codes, ip)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
    index.cp.niter = KMEANS_ITERATIONS
    return _owning(index, quantizer)


def new_index(plan: IndexPlan, dim: int):
    """An empty index of the plan (IVF kinds still to be trained), scoring by inner product, removable by id."""
    if plan.kind == EXACT:
        flat = faiss.IndexFlatIP(dim)
        return _owning(faiss.IndexIDMap2(flat), flat)
    return _ivf(plan, dim)


def index_bytes(index) -> int:
    """The memory an index's codes, ids and maps take (its serialised size)."""
    return int(faiss.serialize_index(index).nbytes)


def ivf_of(index) -> faiss.IndexIVF | None:
    """The inverted file inside an index, or None for exact search."""
    return index if isinstance(index, faiss.IndexIVF) else None


def stored_ids(index) -> np.ndarray:
    """Every id an index holds."""
    if isinstance(index, faiss.IndexIDMap2):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    lists = index.invlists
    parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy() for i in range(index.nlist) if lists.list_size(i)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def training_sample(vectors: np.ndarray, nlist: int, seed: int = 0) -> np.ndarray:
    """The vectors an IVF of nlist lists is trained on: TRAIN_PER_LIST a list, drawn at random, in stored order."""
    rows = np.sort(np.random.default_rng(seed).choice(len(vectors), min(len(vectors), nlist * TRAIN_PER_LIST), replace=False))
    return np.ascontiguousarray(vectors[rows])


def train(index, plan: IndexPlan, vectors: np.ndarray, seed: int = 0) -> None:
    """Train an IVF index on a sample of the vectors (k-means for the lists, the codes' ranges)."""
    if not index.is_trained:
        index.train(training_sample(vectors, plan.nlist, seed))


def set_nprobe(index, nprobe: int) -> None:
    """Lists scanned per query."""
    ivf = ivf_of(index)
    if ivf is not None:
        ivf.nprobe = int(nprobe)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true neighbours that were found (ids, -1 padding ignored)."""
    hits = [len(set(f[f >= 0]) & set(t[t >= 0])) / max(1, int((t >= 0).sum())) for f, t in zip(found, truth)]
    return float(np.mean(hits)) if hits else 1.0


def search_without(index, queries: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k best per query, each query's own id (a stored vector used as a query) left out."""
    found = index.search(queries, k + 1)[1]
    return np.array([[i for i in row if i != me][:k] for row, me in zip(found, own)], dtype=np.int64)


def tune_nprobe(index, sample: "TuningSample", target: float) -> tuple[int, float]:
    """The smallest nprobe whose recall@k reaches the target on the sample, and that recall.

    Where no nprobe reaches it, the largest tried (the best recall there is) is kept.
    """
    nlist = ivf_of(index).nlist
    recall, nprobe = 0.0, 1
    for nprobe in [p for p in NPROBES if p <= nlist] or [nlist]:
        set_nprobe(index, nprobe)
        recall = recall_at(search_without(index, sample.queries, sample.own, sample.k), sample.truth)
        if recall >= target:
            break
    return nprobe, recall


@dataclass(frozen=True)
class TuningSample:
    """Stored vectors used as queries, with their true neighbours by exact search (their own id left out)."""

    queries: np.ndarray  # (q, dim) float32
    own: np.ndarray  # (q,) the queries' own ids
    truth: np.ndarray  # (q, k) true neighbour ids
    k: int


def tuning_sample(ids: np.ndarray, vectors: np.ndarray, k: int = 10, queries: int = TUNE_QUERIES, seed: int = 1) -> TuningSample:
    """Tuning queries from the collection itself: stored vectors, each with its true top k by exact search.

    Each query's own id is left out of its truth and of what the index finds, so a vector finding
    itself (which an IVF always does) does not inflate the recall.
    """
    rows = np.random.default_rng(seed).choice(len(ids), min(queries, len(ids)), replace=False)
    sample = np.ascontiguousarray(vectors[rows])
    _, positions = faiss.knn(sample, vectors, k + 1, metric=faiss.METRIC_INNER_PRODUCT)  # exact, in blocks
    own = ids[rows]
    truth = np.array([[i for i in ids[row] if i != me][:k] for row, me in zip(positions, own)], dtype=np.int64)
    return TuningSample(sample, own, truth, k)
