"""The photo library's JSON over REST: requests with explicit bounds, and answers that name the same fields as
index.proto's messages (snake_case, absent values as null), built from LibraryCore's typed results. No stored vector
and no centroid is among them: hits carry scores and ids, clusters carry labels and sizes."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, Field

from ..domain.error_kinds import item_message, kind_of
from ..domain.grouping import Grouping
from ..domain.library import Hit, IndexOutcome
from ..domain.library_core import (MAX_HASHES, MAX_ITERATIONS, MAX_K, MAX_PHOTO_PAGE, Clusters, CollectionReport, FaceHits,
                                   GroupsView, PhotoRef)
from ..domain.photo_search import NearDuplicates, PhotoHit, PhotoHits
from ..domain.vectors import MAX_DIM
from .schemas import BoxOut

COLLECTION_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"  # domain/collections.py's rule
INT32_MAX = 2**31 - 1
INT64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
SHA256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
MAX_VECTORS_PER_CALL = 10_000  # plain vectors added or removed by one request (the body cap bounds it too)
MAX_TEXT = 1000  # a search text (the model's own context length cuts it shorter)

Collection = Annotated[str, Field(pattern=COLLECTION_PATTERN, max_length=64,
                                  description="1 to 64 letters, digits, '.', '_' or '-'")]
Vector = Annotated[list[float], Field(min_length=1, max_length=MAX_DIM)]
ModelName = Annotated[str, Field(max_length=128)]


def _finite(value: float) -> float | None:
    """None for NaN or infinity (JSON has neither): e.g. the link score of a collection never clustered."""
    return float(value) if math.isfinite(value) else None


def _box(box) -> BoxOut:
    x, y, w, h = box
    return BoxOut(x=float(x), y=float(y), width=float(w), height=float(h))


# --- requests ------------------------------------------------------------------------------------

class KnownIn(BaseModel):
    """Which of these photos (by sha256) the collection holds."""

    collection: Collection = "photos"
    photo_sha256: list[SHA256] = Field(max_length=MAX_HASHES)


class FaceVectorQuery(BaseModel):
    """Search faces (or the caller's own plain vectors) with a vector. Against faces of photos this needs scope admin."""

    collection: Collection = "photos"
    vector: Vector
    k: int = Field(10, ge=1, le=MAX_K)
    model: ModelName = Field("", description="the model that made the vector: it must be the collection's")


class PhotoQueryIn(BaseModel):
    """Search whole photos by words (`text`) or by a vector of the collection's image model (scope admin); exactly one."""

    collection: Collection = "photos"
    text: str | None = Field(None, min_length=1, max_length=MAX_TEXT, description="words: 'a dog on the beach'")
    vector: Vector | None = None
    k: int = Field(10, ge=1, le=MAX_K)
    model: ModelName = Field("", description="with a vector: the model that made it (it must be the collection's image model)")


class ClusterIn(BaseModel):
    """Group a collection's faces by person."""

    collection: Collection = "photos"
    min_size: int = Field(0, ge=0, le=INT32_MAX, description="smaller groups are left unassigned; 0 means 1")
    link_far: float = Field(0.0, ge=0.0, lt=1.0, description="faces link at the score with this false-accept rate; 0 means 1e-5")


class CollectionIn(BaseModel):
    """A collection named in the body."""

    collection: Collection = "photos"


class MergeIn(BaseModel):
    """Two groups are one person: `other_group_id` joins `group_id`."""

    collection: Collection = "photos"
    group_id: int = Field(ge=0, le=INT32_MAX)
    other_group_id: int = Field(ge=0, le=INT32_MAX)


class SplitIn(BaseModel):
    """This face is not the person of its group ("not this person")."""

    collection: Collection = "photos"
    face_id: str = Field(pattern=r"^[0-9]{1,19}$")


class NameIn(BaseModel):
    """Name a group as a gate subject (its faces are enrolled under Enroll's rules)."""

    collection: Collection = "photos"
    subject_id: str = Field(min_length=1, max_length=128, description="the gate's subject id rules apply")


class KMeansIn(BaseModel):
    """k-means over a collection's face or plain vectors, or with `photos` its whole-photo vectors."""

    collection: Collection = "photos"
    k: int = Field(0, ge=0, le=INT32_MAX, description="0: chosen (sqrt(n / 2), at most n / 5)")
    iterations: int = Field(0, ge=0, le=MAX_ITERATIONS, description="0: 20")
    photos: bool = False


class SimilarIn(BaseModel):
    """Groups of near-duplicate photos."""

    collection: Collection = "photos"
    threshold: float = Field(0.0, ge=-1.0, le=1.0, description="0: the one measured for the collection's image model")
    min_size: int = Field(0, ge=0, le=INT32_MAX, description="smallest group to list; 0 means 2")


class CreateCollectionIn(BaseModel):
    """A collection of the caller's own vectors."""

    collection: Collection
    dim: int = Field(ge=1, le=MAX_DIM)


class VectorsIn(BaseModel):
    """Vectors to add or replace, one id each (stored as given: normalise them for cosine scores)."""

    ids: list[INT64] = Field(max_length=MAX_VECTORS_PER_CALL)
    vectors: list[Vector] = Field(max_length=MAX_VECTORS_PER_CALL)


class ImageModelIn(BaseModel):
    """The image model a photo collection gets."""

    image_model: str = Field(min_length=1, max_length=256, description="a folder model with an image tower (GET /v1/models)")


# --- answers -------------------------------------------------------------------------------------

class ReembedOut(BaseModel):
    """The background embedding of photos indexed before the collection had its image model."""

    state: str = Field(description='"running", "done", or "" where none was needed')
    done: int
    total: int
    missing: int


class StatsOut(BaseModel):
    """A collection's counts (index.proto's StatsResponse)."""

    collection: str
    model: str = Field(description='"vectors" for a collection of plain vectors')
    dim: int
    photos: int
    faces: int
    vectors: int
    image_model: str
    image_dim: int
    photo_vectors: int
    index: str = Field(description='how its vectors are searched: "Flat" (exact) or the approximate index')
    reembed: ReembedOut | None = None

    @classmethod
    def of(cls, report: CollectionReport) -> "StatsOut":
        """A collection's report."""
        s, r = report.stats, report.reembed
        return cls(collection=s.collection, model=s.model, dim=s.dim, photos=s.photos, faces=s.faces, vectors=s.vectors,
                   image_model=s.image_model, image_dim=s.image_dim, photo_vectors=s.photo_vectors, index=s.index,
                   reembed=ReembedOut(state=r.state, done=r.done, total=r.total, missing=r.missing) if r is not None else None)


class IndexedPhotoOut(BaseModel):
    """What became of one photo (index.proto's IndexPhotoResult)."""

    path: str
    photo_sha256: str
    already_indexed: bool
    faces: int
    error: str = Field("", description="empty on success")
    error_code: str = Field("", description="the gRPC code the photo alone would have had: INVALID_ARGUMENT, ...")

    @classmethod
    def of(cls, outcome: IndexOutcome) -> "IndexedPhotoOut":
        """One photo's outcome; its failure in words and by code (the others go on)."""
        error = outcome.error
        return cls(path=outcome.path, photo_sha256=outcome.photo_sha256, already_indexed=outcome.already_indexed,
                   faces=outcome.faces, error=item_message(error) if error else "", error_code=kind_of(error).name if error else "")


class IndexOut(BaseModel):
    """Each photo's result, in the order sent, and the counts."""

    collection: str
    photos: list[IndexedPhotoOut]
    indexed: int = Field(description="new photos stored")
    already_indexed: int
    failed: int


class PhotoRefOut(BaseModel):
    """A photo by its sha256 and the paths it was seen under."""

    photo_sha256: str
    paths: list[str]

    @classmethod
    def of(cls, ref: PhotoRef) -> "PhotoRefOut":
        """A photo reference."""
        return cls(photo_sha256=ref.photo_sha256, paths=list(ref.paths))


class PhotosOut(BaseModel):
    """A collection's counts and one page of its photos; `next_page_token` is "" after the last page."""

    stats: StatsOut
    photos: list[PhotoRefOut] = Field(description=f"about page_size photos (at most {MAX_PHOTO_PAGE} asked for; a small "
                                                  "collection comes whole), in no set order across pages")
    next_page_token: str


class KnownOut(BaseModel):
    """The photos of the request the collection already holds."""

    photo_sha256: list[str]


class HitOut(BaseModel):
    """One nearest neighbour: a face of a photo (`face_id`), or a plain vector (`vector_id`)."""

    score: float = Field(description="cosine similarity")
    face_id: str | None = None
    vector_id: int | None = Field(None, description="the id a plain vector was added under")
    photo_sha256: str = ""
    paths: list[str] = []
    box: BoxOut | None = None

    @classmethod
    def of(cls, hit: Hit) -> "HitOut":
        """A face hit, or a plain vector's id."""
        if hit.face is None:
            return cls(score=float(hit.score), vector_id=int(hit.id))
        return cls(score=float(hit.score), face_id=str(hit.id), photo_sha256=hit.face.photo_sha256,
                   paths=list(hit.photo.paths) if hit.photo else [], box=_box(hit.face.box))


class QueryHitsOut(BaseModel):
    """The hits of one query face (`face` null for a vector query)."""

    face: BoxOut | None = None
    hits: list[HitOut]


class FaceSearchOut(BaseModel):
    """One entry per query face, largest first (one for a vector)."""

    queries: list[QueryHitsOut]

    @classmethod
    def of(cls, found: list[FaceHits]) -> "FaceSearchOut":
        """The core's hits per query."""
        return cls(queries=[QueryHitsOut(face=BoxOut.of(q.face) if q.face is not None else None,
                                         hits=[HitOut.of(h) for h in q.hits]) for q in found])


class PhotoHitOut(BaseModel):
    """A photo found by whole-photo search."""

    score: float
    photo_sha256: str
    paths: list[str]

    @classmethod
    def of(cls, hit: PhotoHit) -> "PhotoHitOut":
        """A photo hit."""
        return cls(score=float(hit.score), photo_sha256=hit.photo_sha256, paths=list(hit.paths))


class PhotoSearchOut(BaseModel):
    """Photos best first, and the image model the query was embedded with."""

    hits: list[PhotoHitOut]
    model: str
    text_truncated: bool = Field(description="the text was cut to the model's context length")

    @classmethod
    def of(cls, found: PhotoHits) -> "PhotoSearchOut":
        """The core's photo hits."""
        return cls(hits=[PhotoHitOut.of(h) for h in found.hits], model=found.model, text_truncated=found.text_truncated)


class GroupFaceOut(BaseModel):
    """A face of a group, with its photo's paths."""

    face_id: str
    photo_sha256: str
    paths: list[str]
    box: BoxOut


class GroupOut(BaseModel):
    """A person's faces; `name` is the subject id it was named as, if any."""

    group_id: int
    faces: list[GroupFaceOut]
    name: str = ""


class NamedFaceOut(BaseModel):
    """What naming did with one face of the group."""

    face_id: str
    accepted: bool
    template_id: str | None = None
    reason: str = ""
    warnings: list[str] = []


class NamingOut(BaseModel):
    """What naming a group enrolled at the gate (undo removes exactly this)."""

    subject_id: str
    created: bool = Field(description="the subject did not exist before")
    faces: list[NamedFaceOut]


class GroupsOut(BaseModel):
    """A collection's groups by person, largest first."""

    groups: list[GroupOut]
    unassigned: int = Field(description="faces in no group")
    threshold: float | None = Field(description="the link score used; null before the first clustering")
    naming: NamingOut | None = None

    @classmethod
    def of(cls, view: GroupsView) -> "GroupsOut":
        """The core's grouping with each face's photo paths."""
        grouping: Grouping = view.grouping
        groups = [GroupOut(group_id=group_id, name=grouping.names.get(group_id, ""),
                           faces=[GroupFaceOut(face_id=str(f.face_id), photo_sha256=f.photo_sha256,
                                               paths=list(view.paths.get(f.photo_sha256, [])), box=_box(f.box)) for f in faces])
                  for group_id, faces in grouping.groups]
        naming = None
        if grouping.naming is not None:
            n = grouping.naming
            naming = NamingOut(subject_id=n.subject_id, created=n.created, faces=[
                NamedFaceOut(face_id=str(f.face_id), accepted=f.accepted, reason=f.reason, warnings=list(f.warnings),
                             template_id=str(f.template_id) if f.template_id is not None else None) for f in n.faces])
        return cls(groups=groups, unassigned=grouping.unassigned, threshold=_finite(grouping.threshold), naming=naming)


class ClustersOut(BaseModel):
    """k-means: each vector's cluster and the clusters' sizes, never a centroid."""

    k: int
    ids: list[int] = Field(description="every vector's id ...")
    clusters: list[int] = Field(description="... and its cluster, in the same order")
    sizes: list[int] = Field(description="vectors in each cluster, by cluster number 0..k-1")
    photos: list[PhotoRefOut] = Field([], description="with `photos`: each id's photo, in the same order")

    @classmethod
    def of(cls, clusters: Clusters) -> "ClustersOut":
        """The core's clusters."""
        return cls(k=clusters.k, ids=list(clusters.ids), clusters=list(clusters.labels), sizes=list(clusters.sizes),
                   photos=[PhotoRefOut.of(p) for p in clusters.photos])


class PhotoGroupOut(BaseModel):
    """Near-duplicate photos; each one's score is its best link inside the group."""

    photos: list[PhotoHitOut]


class SimilarOut(BaseModel):
    """Groups of near-duplicate photos, largest first."""

    groups: list[PhotoGroupOut]
    threshold: float
    threshold_source: str = Field(description='"given", or the calibration file it came from')
    photos: int = Field(description="photo vectors looked at")

    @classmethod
    def of(cls, found: NearDuplicates) -> "SimilarOut":
        """The core's near-duplicate groups."""
        return cls(groups=[PhotoGroupOut(photos=[PhotoHitOut.of(h) for h in g]) for g in found.groups],
                   threshold=float(found.threshold), threshold_source=found.threshold_source, photos=found.photos)
