"""The index library's settings: which engine holds the vectors, whether FAISS may use a GPU, and when a
collection leaves exact search. Plain data (no FAISS import), passed down from the server's Settings."""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("faiss", "milvus")  # the vector engines a deployment may choose (index/stores.py opens them)


@dataclass(frozen=True)
class ApproximateSettings:
    """When a collection leaves exact search, and what an approximate index must reach (index/approximate.py)."""

    exact_max_mb: float = 256  # collections whose vectors take up to this are searched exactly; beyond, an IVF index
    recall_target: float = 0.95  # recall@10 an approximate index is tuned to (against exact search)
    memory_gib: float = 4.0  # index memory a collection may take; IVF-PQ when SQ8 codes do not fit

    def exact_max(self, dim: int) -> int:
        """The most vectors of dim searched exactly."""
        return int(self.exact_max_mb * 2**20 // (4 * dim))


@dataclass(frozen=True)
class IndexSettings:
    """Passed down from the server's Settings (or defaulted for library use)."""

    gpu: bool = True  # FAISS on the GPU where faiss-gpu sees one; False keeps it on the CPU
    approximate: ApproximateSettings = ApproximateSettings()  # when and how collections leave exact search
    engine: str = "faiss"  # the engine behind every collection: faiss (in process) or milvus (a server, milvus_uri)
    milvus_uri: str = ""  # e.g. http://milvus:19530 (user:password@ in it become the pymilvus token)

    def __post_init__(self) -> None:
        # Checked here so that a wrong setting stops the server at start, not at the first collection.
        if self.engine not in ENGINES:
            raise ValueError(f"FACEGRID_VECTOR_ENGINE must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.engine == "milvus" and not self.milvus_uri:
            raise ValueError("FACEGRID_VECTOR_ENGINE=milvus needs FACEGRID_MILVUS_URI (e.g. http://127.0.0.1:19530)")
