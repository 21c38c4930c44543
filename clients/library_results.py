"""Typed results of the SDK's photo-library calls (indexing, search, groups, collections): plain frozen records.

clients/convert.py makes them from the server's messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .results import Box


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


@dataclass(frozen=True)
class IndexedPhoto:
    """What IndexPhotos did with one photo: indexed (its faces), already indexed, or refused (`error`)."""

    path: str
    photo_sha256: str
    already_indexed: bool
    faces: int
    error: str = ""  # empty on success
    # the gRPC status name the photo alone would have had (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, FAILED_PRECONDITION,
    # UNAVAILABLE: send it again); empty on success
    error_code: str = ""


@dataclass(frozen=True)
class PhotoHit:
    """A photo found by whole-photo search (or a member of a near-duplicate group: score = its best link)."""

    score: float
    photo_sha256: str
    paths: list[str]


@dataclass(frozen=True)
class PhotoSearchResult:
    """Photos nearest to words, a photo or a vector, best first."""

    hits: list[PhotoHit]  # best first
    model: str  # the image model the query was embedded with
    text_truncated: bool = False  # the text was cut to the model's context length


@dataclass(frozen=True)
class NearDuplicates:
    """Groups of near-duplicate photos, largest first, and the threshold that linked them."""

    groups: list[list[PhotoHit]]
    threshold: float
    threshold_source: str  # "given", or the calibration file of the image model
    photos: int  # photo vectors looked at


@dataclass(frozen=True)
class Clusters:
    """k-means: each vector's id (and, over photo vectors, its photo) with its cluster; the clusters' sizes."""

    k: int
    ids: list[int]
    clusters: list[int]
    sizes: list[int]
    photo_sha256: list[str] = field(default_factory=list)  # over photo vectors: each id's photo ...
    paths: list[list[str]] = field(default_factory=list)  # ... and its paths


@dataclass(frozen=True)
class SearchHit:
    """One nearest neighbour: a face (face_id, its photo and box) or a plain vector (vector_id)."""

    score: float
    face_id: str = ""  # empty for a plain vector
    vector_id: int | None = None  # None for a face
    photo_sha256: str = ""
    paths: list[str] = field(default_factory=list)
    box: Box | None = None


@dataclass(frozen=True)
class QueryHits:
    """The hits of one query: a face of the query photo (its box), or the query vector (face None)."""

    face: Box | None
    hits: list[SearchHit]


@dataclass(frozen=True)
class SearchResult:
    """Search's answer: the nearest indexed faces (or vectors) to each query face."""

    queries: list[QueryHits]  # one per query face, largest first; one for a vector query


# --- face groups -------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupFace:
    """A face of a group: its id, its photo and where in it."""

    face_id: str
    photo_sha256: str
    paths: list[str]
    box: Box


@dataclass(frozen=True)
class Group:
    """One person's faces as the grouping found them; `name`: the subject it was named as ("" : none)."""

    group_id: int
    faces: list[GroupFace]
    name: str = ""


@dataclass(frozen=True)
class NamedFace:
    """A face of a named group: enrolled at the gate (its template) or not (why)."""

    face_id: str
    accepted: bool
    template_id: str = ""  # set when accepted
    reason: str = ""  # why not enrolled
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Naming:
    """What naming a group enrolled at the gate (undone exactly by Undo)."""

    subject_id: str
    created: bool  # the subject did not exist before
    faces: list[NamedFace]


@dataclass(frozen=True)
class Groups:
    """A collection's faces grouped by person, largest group first, after a clustering or a correction."""

    groups: list[Group]  # largest first
    unassigned: int  # faces in no group
    threshold: float  # the link score used
    naming: Naming | None = None  # a correction that named a group: what was enrolled at the gate
