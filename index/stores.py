"""Opens the vector store behind a collection: FAISS in this process, or a Milvus server (the deployment's choice).

`IndexSettings.engine` (FACEGRID_VECTOR_ENGINE) decides once for every collection of a deployment;
pymilvus is imported only where Milvus is chosen, so a FAISS deployment needs none of it.
"""

from __future__ import annotations

from .collection import Collection
from .errors import EngineError
from .gpu import IndexSettings


def open_store(name: str, dim: int, settings: IndexSettings = IndexSettings()):
    """The collection `name` of `dim`-dimensional vectors in the configured engine (Collection or MilvusCollection)."""
    if settings.engine == "milvus":
        from .milvus_store import MilvusCollection

        return MilvusCollection(name, dim, settings.milvus_uri)
    return Collection(name, dim, settings)


def check_engine(settings: IndexSettings) -> None:
    """At start, before anything else is built: EngineUnavailable (naming the URI) where Milvus does not answer."""
    if settings.engine == "milvus":
        try:
            import pymilvus  # noqa: F401 - only to say at once what is missing
        except ImportError:
            raise EngineError("FACEGRID_VECTOR_ENGINE=milvus needs pymilvus: pip install 'facegrid[cpu,milvus]'") from None
        from .milvus_store import probe

        probe(settings.milvus_uri)
