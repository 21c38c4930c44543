"""Typed results of the SDK (gate outcomes and refusals, search, stats), built from the server's messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from google.rpc import error_details_pb2
from grpc_status import rpc_status

from facegrid.v1 import encoder_pb2, gate_pb2, index_pb2

Box = tuple[float, float, float, float]  # x, y, width, height in the photo's pixels


def _box(message) -> Box:
    return (message.x, message.y, message.width, message.height)


@dataclass(frozen=True)
class Reembed:
    """The background embedding of photos indexed before their collection had its image model."""

    state: str  # "running", "done", or "" where none was needed
    done: int  # photos with a whole-photo vector
    total: int  # photos of the collection
    missing: int  # photos none of whose stored paths holds them any more


@dataclass(frozen=True)
class Stats:
    """Counts of a collection: photos and faces in a face collection, vectors in a plain-vector one."""

    collection: str
    model: str  # "vectors" for a collection of plain vectors
    dim: int
    photos: int
    faces: int
    vectors: int
    image_model: str = ""  # the model of its whole-photo vectors, "" where none
    image_dim: int = 0
    photo_vectors: int = 0
    reembed: Reembed | None = None
    index: str = ""  # how its vectors are searched: "Flat" (exact) or the approximate index chosen for its size

    @classmethod
    def from_message(cls, reply: index_pb2.StatsResponse) -> "Stats":
        r = reply.reembed
        return cls(reply.collection, reply.model, reply.dim, reply.photos, reply.faces, reply.vectors, reply.image_model,
                   reply.image_dim, reply.photo_vectors,
                   Reembed(r.state, r.done, r.total, r.missing) if reply.HasField("reembed") else None, reply.index)


@dataclass(frozen=True)
class PhotoHit:
    """A photo found by whole-photo search (or a member of a near-duplicate group: score = its best link)."""

    score: float
    photo_sha256: str
    paths: list[str]

    @classmethod
    def from_message(cls, hit: index_pb2.PhotoHit) -> "PhotoHit":
        return cls(hit.score, hit.photo_sha256, list(hit.paths))


@dataclass(frozen=True)
class PhotoSearchResult:
    """Photos found by SearchPhotos, best first, and the image model the query was embedded with."""

    hits: list[PhotoHit]  # best first
    model: str  # the image model the query was embedded with
    text_truncated: bool = False  # the text was cut to the model's context length

    @classmethod
    def from_message(cls, reply: index_pb2.SearchPhotosResponse) -> "PhotoSearchResult":
        return cls([PhotoHit.from_message(h) for h in reply.hits], reply.model, reply.text_truncated)


@dataclass(frozen=True)
class NearDuplicates:
    """Groups of near-duplicate photos, largest first, and the threshold that linked them."""

    groups: list[list[PhotoHit]]
    threshold: float
    threshold_source: str  # "given", or the calibration file of the image model
    photos: int  # photo vectors looked at

    @classmethod
    def from_message(cls, reply: index_pb2.SimilarPhotosResponse) -> "NearDuplicates":
        return cls([[PhotoHit.from_message(p) for p in g.photos] for g in reply.groups], reply.threshold,
                   reply.threshold_source, reply.photos)


@dataclass(frozen=True)
class Clusters:
    """k-means: each vector's id (and, over photo vectors, its photo) with its cluster; the clusters' sizes."""

    k: int
    ids: list[int]
    clusters: list[int]
    sizes: list[int]
    photo_sha256: list[str] = field(default_factory=list)  # over photo vectors: each id's photo ...
    paths: list[list[str]] = field(default_factory=list)  # ... and its paths

    @classmethod
    def from_message(cls, reply: index_pb2.KMeansResponse) -> "Clusters":
        return cls(reply.k, list(reply.ids), list(reply.clusters), list(reply.sizes), [p.photo_sha256 for p in reply.photos],
                   [list(p.paths) for p in reply.photos])


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
    """Search's answer: the hits of each query face (or of the query vector)."""

    queries: list[QueryHits]  # one per query face, largest first; one for a vector query

    @classmethod
    def from_message(cls, reply: index_pb2.SearchResponse) -> "SearchResult":
        return cls([
            QueryHits(_box(q.face) if q.HasField("face") else None, [SearchHit.from_message(h) for h in q.hits])
            for q in reply.queries
        ])


# --- the gate ----------------------------------------------------------------------------

def issue_name(value: int) -> str | None:
    """A PhotoIssue as its name (e.g. "FACE_TOO_SMALL"), None when unspecified."""
    return gate_pb2.PhotoIssue.Name(value) if value else None


@dataclass(frozen=True)
class Quality:
    """How usable a face is (the server's measures)."""

    size: float  # shorter side of the face box, pixels
    interocular: float
    sharpness: float  # variance of the Laplacian on the 112x112 chip
    yaw: float  # degrees
    pitch: float
    roll: float
    detector_score: float

    @classmethod
    def from_message(cls, q: encoder_pb2.Quality) -> "Quality":
        return cls(q.size, q.interocular, q.sharpness, q.yaw, q.pitch, q.roll, q.detector_score)


@dataclass(frozen=True)
class PhotoOutcome:
    """One Enroll photo: accepted (with its template), or refused with the reason in words and `issue` in a word."""

    index: int
    accepted: bool
    template_id: str = ""
    reason: str = ""
    # NO_FACE, SEVERAL_FACES, FACE_TOO_SMALL, BLURRED, TURNED_AWAY, UNCLEAR, UNREADABLE, NOT_LIKE_SUBJECT
    issue: str | None = None
    warnings: list[str] = field(default_factory=list)
    duplicate: bool = False
    quality: Quality | None = None
    resembles: str = ""  # accepted, but as like this other subject as Identify's threshold (flagged, never merged)

    @classmethod
    def from_message(cls, o: gate_pb2.PhotoOutcome) -> "PhotoOutcome":
        return cls(o.index, o.accepted, o.template_id, o.reason, issue_name(o.issue), list(o.warnings), o.duplicate,
                   Quality.from_message(o.quality) if o.HasField("quality") else None, o.resembles)


@dataclass(frozen=True)
class EnrollResult:
    """Enroll's answer: the subject, each photo's outcome and how many templates it now has."""

    subject_id: str
    photos: list[PhotoOutcome]
    templates: int  # the subject's templates after the call
    templates_removed: int = 0  # with replace: the older templates removed

    @classmethod
    def from_message(cls, reply: gate_pb2.EnrollResponse) -> "EnrollResult":
        return cls(reply.subject_id, [PhotoOutcome.from_message(o) for o in reply.photos], reply.templates,
                   reply.templates_removed)


@dataclass(frozen=True)
class ProbeRefusal:
    """Why a Verify or Identify probe was refused: `issue` in a word, `reason` in words, and the face judged."""

    issue: str | None
    reason: str
    face: Box | None
    quality: Quality | None

    @classmethod
    def from_message(cls, r: gate_pb2.PhotoRefusal) -> "ProbeRefusal":
        return cls(issue_name(r.issue), r.reason, _box(r.face) if r.HasField("face") else None,
                   Quality.from_message(r.quality) if r.HasField("quality") else None)


def decode_details(error) -> list:
    """The detail messages of a failed call (google.rpc.Status in grpc-status-details-bin), decoded where known."""
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):  # a status that does not match its details, or not a call
        return []
    known = (error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo, gate_pb2.EnrollResponse, gate_pb2.PhotoRefusal)
    decoded = []
    for detail in status.details if status is not None else []:
        for kind in known:
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                decoded.append(message)
                break
        else:
            decoded.append(detail)  # left packed: a kind this client does not know
    return decoded


@dataclass(frozen=True)
class ModelInfo:
    """A model the server can run: its modalities ("face", or towers such as "image" and "text") and space."""

    name: str
    modalities: tuple[str, ...]
    dim: int
    metric: str
    is_default: bool
    source: str  # "shipped", or "folder" for an operator-supplied model folder

    @classmethod
    def from_message(cls, m) -> "ModelInfo":
        return cls(m.name, tuple(m.modalities) or (m.modality,), m.dim, m.metric, m.is_default, m.source or "shipped")


@dataclass(frozen=True)
class Embedding:
    """A vector of one photo or text; `truncated` when the text was cut to the model's context length."""

    vector: np.ndarray  # (dim,) float32, unit length
    model: str
    truncated: bool = False
    id: str = ""
