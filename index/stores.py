"""Opens the vector stores behind a deployment's collections: FAISS in this process, or a Milvus server.

`IndexSettings.engine` (FACEGRID_VECTOR_ENGINE) decides once for every collection of a deployment;
pymilvus is imported only where Milvus is chosen, so a FAISS deployment needs none of it. Callers hold a
`VectorStores` and see only the `VectorStore` protocol (index/store.py), whichever engine is behind it.
"""

from __future__ import annotations

from .errors import EngineError
from .outages import EngineOutages
from .settings import IndexSettings
from .store import VectorStore


class VectorStores:
    """The factory of one deployment's vector stores, and the count of its engine's outages they share."""

    def __init__(self, settings: IndexSettings = IndexSettings()) -> None:
        self.settings = settings
        self.outages = EngineOutages()  # calls that found the engine unreachable (the server's catch-up watches it)

    @property
    def remote(self) -> bool:
        """Whether the engine is a server of its own (Milvus) that can be unreachable, rather than this process."""
        return self.settings.engine == "milvus"

    def open(self, name: str, dim: int) -> VectorStore:
        """The collection `name` of `dim`-dimensional vectors in the configured engine."""
        if self.remote:
            from .milvus_store import MilvusStore

            return MilvusStore(name, dim, self.settings.milvus_uri, outages=self.outages)
        from .faiss_store import FaissStore

        return FaissStore(name, dim, self.settings)

    def check(self, timeout: float = 10.0) -> None:
        """EngineError where the engine cannot be used now: pymilvus missing, or Milvus not answering (naming its URI,
        never its credentials). FAISS, in this process, always can."""
        check_engine(self.settings, timeout)

    def where(self) -> str:
        """The engine's address as logs may show it (no credentials), or "in process"."""
        if not self.remote:
            return "in process"
        from .milvus_store import safe_uri

        return safe_uri(self.settings.milvus_uri)


def check_engine(settings: IndexSettings, timeout: float = 10.0) -> None:
    """At start, before anything else is built: EngineUnavailable (naming the URI) where Milvus does not answer."""
    if settings.engine == "milvus":
        try:
            import pymilvus  # noqa: F401 - only to say at once what is missing
        except ImportError:
            raise EngineError("FACEGRID_VECTOR_ENGINE=milvus needs pymilvus: pip install 'facegrid[cpu,milvus]'") from None
        from .milvus_store import probe

        probe(settings.milvus_uri, timeout)
