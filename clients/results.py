"""Typed results of the SDK's library calls (search, stats), built from the server's messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from facegrid.v1 import index_pb2

Box = tuple[float, float, float, float]  # x, y, width, height in the photo's pixels


def _box(message) -> Box:
    return (message.x, message.y, message.width, message.height)


@dataclass(frozen=True)
class Stats:
    """Counts of a collection: photos and faces in a face collection, vectors in a plain-vector one."""

    collection: str
    model: str  # "vectors" for a collection of plain vectors
    dim: int
    photos: int
    faces: int
    vectors: int

    @classmethod
    def from_message(cls, reply: index_pb2.StatsResponse) -> "Stats":
        return cls(reply.collection, reply.model, reply.dim, reply.photos, reply.faces, reply.vectors)


@dataclass(frozen=True)
class SearchHit:
    """One nearest neighbour: a face (face_id, its photo and box) or a plain vector (vector_id)."""

    score: float
    face_id: str = ""  # empty for a plain vector
    vector_id: int | None = None  # None for a face
    photo_sha256: str = ""
    paths: list[str] = field(default_factory=list)
    box: Box | None = None

    @classmethod
    def from_message(cls, hit: index_pb2.Hit) -> "SearchHit":
        if not hit.face_id:
            return cls(hit.score, vector_id=hit.vector_id)
        return cls(hit.score, hit.face_id, None, hit.photo_sha256, list(hit.paths), _box(hit.box))


@dataclass(frozen=True)
class QueryHits:
    """The hits of one query: a face of the query photo (its box), or the query vector (face None)."""

    face: Box | None
    hits: list[SearchHit]


@dataclass(frozen=True)
class SearchResult:
    queries: list[QueryHits]  # one per query face, largest first; one for a vector query

    @classmethod
    def from_message(cls, reply: index_pb2.SearchResponse) -> "SearchResult":
        return cls([
            QueryHits(_box(q.face) if q.HasField("face") else None, [SearchHit.from_message(h) for h in q.hits])
            for q in reply.queries
        ])
