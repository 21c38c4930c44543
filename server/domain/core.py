"""The one service core: every use case a transport serves, built once in server/main.py and handed to each.

server/rpc/ (gRPC) and the REST layer translate requests into these typed calls and their results into messages;
errors are typed (errors.py) and their kind, gRPC code and HTTP status come from one table (error_kinds.py). None
of this imports grpc.
"""

from __future__ import annotations

from dataclasses import dataclass

from .admin_core import AdminCore
from .embedding import Embedder
from .gate_core import GateCore
from .library_core import LibraryCore


@dataclass(frozen=True)
class ServiceCore:
    """The use cases of one server (the encoder role has models alone; the index role has no Embedder)."""

    gate: GateCore | None = None  # enroll, verify, identify, forget, subjects, Pass
    library: LibraryCore | None = None  # photo libraries: indexing, search, groups, plain vectors, whole photos
    admin: AdminCore | None = None  # keys, the audit log, doors
    embedder: Embedder | None = None  # vectors of the caller's own faces, photos, texts and audio

    def close(self) -> None:
        """Stop what the use cases run beside the calls (the bulk-indexing workers)."""
        if self.library is not None:
            self.library.close()
