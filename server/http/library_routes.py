"""The photo library over HTTP: /v1/photos, /v1/search, /v1/groups, /v1/kmeans, /v1/similar and /v1/collections,
each the LibraryCore call its gRPC twin (rpc/index_service.py) makes, with the same scope and the same extra scopes
(rpc/auth.py REQUEST_SCOPES): naming a group needs `enroll`, a raw vector against stored face or photo vectors needs
`admin` (one search per basis vector would read them back from the scores). No answer holds a stored vector."""

from __future__ import annotations

import numpy as np
from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from ..domain.callers import Caller, NotPermitted
from ..domain.enrollment import subject_of
from ..domain.errors import BadRequest
from ..domain.keys import SCOPES
from ..domain.library import IndexOutcome, PhotoToIndex
from ..domain.library_core import MAX_K, MAX_PHOTO_PAGE, FaceSearch, LibraryCore, PhotoQuery
from . import forms, problems
from .access import AccessRefused
from .forms import BINARY
from .library_schemas import (COLLECTION_PATTERN, INT32_MAX, INT64, MAX_VECTORS_PER_CALL, ClusterIn, ClustersOut, CollectionIn,
                              CreateCollectionIn, FaceSearchOut, FaceVectorQuery, GroupsOut, ImageModelIn, IndexedPhotoOut,
                              IndexOut, KMeansIn, KnownIn, KnownOut, MergeIn, NameIn, PhotoQueryIn, PhotoRefOut, PhotosOut,
                              PhotoSearchOut, SimilarIn, SimilarOut, SplitIn, StatsOut, VectorsIn)
from .routes import audit, failed_decision, library, needs, router

router = router("library")

MAX_PHOTOS_PER_REQUEST = 64  # photos of one POST /v1/photos (the body cap bounds their bytes too)
BATCH_PHOTOS = 8  # photos per worker task, as IndexPhotos batches them: their chips share model batches
MAX_PATH = 4096
COLLECTION_FIELD = {"type": "string", "pattern": COLLECTION_PATTERN, "maxLength": 64, "default": "photos"}
K_FIELD = {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}


def _problems(*statuses: int) -> dict:
    """More failures a route may answer with than every route's (problems.PROBLEM_RESPONSES)."""
    return {status: {"model": problems.Problem, "content": {problems.PROBLEM_JSON: {}}} for status in statuses}


def _limit(request: Request) -> int:
    return request.app.state.limits.max_photo_bytes


def _collection(name: str) -> str:
    """The collection name of a multipart form ("photos" when absent)."""
    return name or "photos"


def _refuse(request: Request, caller: Caller, method: str, missing: str, why: str) -> AccessRefused:
    """A refusal for a scope this request needs beyond its route's, counted and audited as gRPC's interceptor does."""
    held = ", ".join(s for s in SCOPES if caller.may(s))
    return AccessRefused(request.app.state.access.refused(request, NotPermitted(
        f"key {caller.key_name!r} (scopes {held}) may not call {method.split('/')[-1]} with this request: it needs scope "
        f"{missing} ({why})", caller, f"missing scope {missing}"), method))


async def _json_or_form(request: Request, model: type[BaseModel], max_files: int) -> tuple[BaseModel | None, FormData | None]:
    """A JSON body as `model`, or a multipart form (415 for anything else); a JSON body that breaks `model` is 400."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        try:
            return model.model_validate_json(await request.body()), None
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_url=False, include_context=False, include_input=False)) from None
    if content_type.startswith("multipart/form-data"):
        return None, await forms.read_form(request, max_files, _limit(request))
    raise AccessRefused(problems.problem(415, "INVALID_ARGUMENT", f"send application/json or multipart/form-data, "
                                                                  f"not {content_type[:60] or 'none'}"))


def _form_k(form: FormData) -> int:
    k = forms.integer(form, "k", 10)
    if not 1 <= k <= MAX_K:
        raise BadRequest(f"k must be between 1 and {MAX_K}, got {k}")
    return k


def _both_bodies(json_schema: dict, form_properties: dict, form_required: list[str]) -> dict:
    """The OpenAPI requestBody of a route that takes JSON or a multipart form."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": json_schema},
        "multipart/form-data": {"schema": {"type": "object", "required": form_required, "properties": form_properties}}}}}


# --- photos --------------------------------------------------------------------------------------

async def _uploads(form: FormData) -> list[tuple[str, bytes]]:
    """(filename, bytes) of every `photos` file part."""
    found = []
    for value in form.getlist("photos"):
        if not isinstance(value, UploadFile):
            raise BadRequest("photos must be file parts (filename=...), not text fields")
        found.append((value.filename or "", await value.read()))
    if not found:
        raise BadRequest("send at least one photos file part")
    return found


def _paths(form: FormData, uploads: list[tuple[str, bytes]]) -> list[str]:
    """Each photo's path: the `paths` text fields in order where sent (one per photo), else each upload's filename."""
    given = form.getlist("paths")
    if not given:
        return [name for name, _ in uploads]
    if any(not isinstance(p, str) for p in given):
        raise BadRequest("paths must be text fields, not files")
    if len(given) != len(uploads):
        raise BadRequest(f"{len(given)} paths for {len(uploads)} photos: send one per photo, in the same order, or none")
    if any(len(p) > MAX_PATH for p in given):
        raise BadRequest(f"a path is longer than {MAX_PATH} characters")
    return list(given)


def _index(core: LibraryCore, photos: list[PhotoToIndex]) -> list[IndexOutcome]:
    """Index photos as IndexPhotos does: batches embedded while the next are stored; outcomes in the order sent."""
    run = core.index_run()
    outcomes: list[IndexOutcome] = []
    try:
        for start in range(0, len(photos), BATCH_PHOTOS):
            run.submit(photos[start:start + BATCH_PHOTOS])
            outcomes += [o for batch in run.finished() for o in batch.outcomes]
        outcomes += [o for batch in run.rest() for o in batch.outcomes]
    finally:
        run.close()
    return outcomes


@router.post("/photos", response_model=IndexOut, responses=_problems(415), openapi_extra=forms.multipart_body(
    ["photos"], {"collection": COLLECTION_FIELD,
                 "photos": {"type": "array", "items": BINARY, "minItems": 1, "maxItems": MAX_PHOTOS_PER_REQUEST},
                 "paths": {"type": "array", "items": {"type": "string", "maxLength": MAX_PATH},
                           "description": "each photo's path, in order (default: its filename)"},
                 "image_model": {"type": "string", "maxLength": 256,
                                 "description": "a new collection's image model: each photo gets a whole-photo vector too"}}))
async def index_photos(request: Request, caller: Caller = Depends(needs("library", "IndexService/IndexPhotos"))) -> IndexOut:
    """Index photos into a collection (made on first use): each photo's faces found and stored, in the order sent; a
    photo already held only gains its path; a bad photo fails in its own result and the others go on (scope library)."""
    form = await forms.read_form(request, MAX_PHOTOS_PER_REQUEST, _limit(request))
    collection = _collection(forms.text(form, "collection", max_length=64))
    image_model = forms.text(form, "image_model", max_length=256)
    uploads = await _uploads(form)
    paths = _paths(form, uploads)
    photos = [PhotoToIndex(collection, path, data, image_model=image_model) for path, (_, data) in zip(paths, uploads)]
    outcomes = await run_in_threadpool(_index, library(request), photos)
    failed = sum(1 for o in outcomes if o.error)
    held = sum(1 for o in outcomes if o.already_indexed and not o.error)
    return IndexOut(collection=collection, photos=[IndexedPhotoOut.of(o) for o in outcomes],
                    indexed=len(outcomes) - failed - held, already_indexed=held, failed=failed)


@router.get("/photos", response_model=PhotosOut)
def list_photos(request: Request, collection: str = Query("photos", pattern=COLLECTION_PATTERN, max_length=64),
                page_token: str = Query("", max_length=64), page_size: int = Query(0, ge=0, le=MAX_PHOTO_PAGE),
                caller: Caller = Depends(needs("library", "IndexService/Stats"))) -> PhotosOut:
    """A collection's counts and a page of its photos by sha256 with their paths (scope library; page_size 0: 100);
    pass `next_page_token` back for the next page."""
    core = library(request)
    stats = core.stats(collection)
    page = core.list_photos(collection, page_token, page_size)
    return PhotosOut(stats=StatsOut.of(stats), photos=[PhotoRefOut.of(p) for p in page.photos],
                     next_page_token=page.next_page_token)


@router.post("/photos/known", response_model=KnownOut)
def known_photos(request: Request, body: KnownIn,
                 caller: Caller = Depends(needs("library", "IndexService/KnownPhotos"))) -> KnownOut:
    """Which of these photos (by sha256) the collection already holds: a resumed run sends only the others."""
    return KnownOut(photo_sha256=library(request).known(body.collection, list(body.photo_sha256)))


# --- search --------------------------------------------------------------------------------------

PHOTO_FORM = {"collection": COLLECTION_FIELD, "k": K_FIELD, "photo": BINARY}


@router.post("/search", response_model=PhotoSearchOut, responses=_problems(415), openapi_extra=_both_bodies(
    PhotoQueryIn.model_json_schema(), PHOTO_FORM, ["photo"]))
async def search_photos(request: Request, caller: Caller = Depends(needs("library", "IndexService/SearchPhotos"))) -> PhotoSearchOut:
    """Whole photos of a collection with an image model, nearest to words (JSON `text`), to a dropped photo (multipart
    `photo`) or to a vector of the image model (JSON `vector`: scope admin too). Scope library."""
    body, form = await _json_or_form(request, PhotoQueryIn, 1)
    if form is not None:
        query = PhotoQuery(_collection(forms.text(form, "collection", max_length=64)), _form_k(form),
                           photo=(await forms.files(form, "photo"))[0])
    else:
        if (body.text is None) == (body.vector is None):
            raise BadRequest("give exactly one of text and vector (or send a photo as multipart/form-data)")
        if body.vector is not None and not caller.may("admin"):
            raise _refuse(request, caller, "IndexService/SearchPhotos", "admin", "a raw vector against stored photo vectors "
                          "reads them back from the scores; search by words or by photo")
        query = PhotoQuery(body.collection, body.k, text=body.text, model=body.model,
                           vector=_vector(body.vector) if body.vector is not None else None)
    return PhotoSearchOut.of(await run_in_threadpool(library(request).search_photos, query))


def _vector(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def _search_faces(request: Request, caller: Caller, query: FaceSearch) -> FaceSearchOut:
    core = library(request)
    if query.vector is not None and not caller.may("admin") and not core.holds_plain_vectors(query.collection):
        raise _refuse(request, caller, "IndexService/Search", "admin",
                      "a raw vector against stored face vectors reads them back from the scores; search by photo")
    return FaceSearchOut.of(core.search(query))


@router.post("/search/faces", response_model=FaceSearchOut, responses=_problems(415), openapi_extra=_both_bodies(
    FaceVectorQuery.model_json_schema(), PHOTO_FORM, ["photo"]))
async def search_faces(request: Request, caller: Caller = Depends(needs("library", "IndexService/Search"))) -> FaceSearchOut:
    """The k nearest stored faces to each face of a photo (multipart `photo`, largest face first), or to a vector
    (JSON: scope admin too, unless the collection holds the caller's own plain vectors). Scope library."""
    body, form = await _json_or_form(request, FaceVectorQuery, 1)
    if form is not None:
        query = FaceSearch(_collection(forms.text(form, "collection", max_length=64)), _form_k(form),
                           photo=(await forms.files(form, "photo"))[0])
    else:
        query = FaceSearch(body.collection, body.k, vector=_vector(body.vector), model=body.model)
    return await run_in_threadpool(_search_faces, request, caller, query)


# --- groups by person ------------------------------------------------------------------------------

GROUP_ID = Path(ge=0, le=INT32_MAX)


@router.get("/groups", response_model=GroupsOut)
def groups(request: Request, collection: str = Query("photos", pattern=COLLECTION_PATTERN, max_length=64),
           caller: Caller = Depends(needs("library", "IndexService/Groups"))) -> GroupsOut:
    """The groups by person as they stand (the last clustering plus faces assigned since), each face with its photo's
    paths (scope library)."""
    return GroupsOut.of(library(request).groups(collection))


@router.post("/groups/cluster", response_model=GroupsOut, responses=_problems(409))
def cluster(request: Request, body: ClusterIn, caller: Caller = Depends(needs("library", "IndexService/Cluster"))) -> GroupsOut:
    """Group the collection's faces by person, keeping users' corrections (scope library)."""
    return GroupsOut.of(library(request).cluster(body.collection, body.min_size, body.link_far))


@router.post("/groups/{group_id}/name", response_model=GroupsOut, responses=_problems(409))
def name_group(request: Request, body: NameIn, group_id: int = GROUP_ID,
               caller: Caller = Depends(needs("library", "IndexService/Correct"))) -> GroupsOut:
    """Name a group as a gate subject: its best faces are enrolled under Enroll's rules (`naming` says which);
    scope library and enroll. Audited."""
    if not caller.may("enroll"):
        raise _refuse(request, caller, "IndexService/Correct", "enroll", "naming a group enrolls its faces at the gate")
    fields = {"subject_id": subject_of(body.subject_id),
              "detail": f"named group {group_id} of collection {body.collection[:64]!r}"}
    try:
        view = library(request).name(body.collection, group_id, body.subject_id)
    except Exception as error:
        audit(request, caller, "IndexService/Correct", decision=failed_decision(error), **fields)
        raise
    audit(request, caller, "IndexService/Correct", decision="named", **fields)
    return GroupsOut.of(view)


@router.post("/groups/merge", response_model=GroupsOut, responses=_problems(409))
def merge_groups(request: Request, body: MergeIn,
                 caller: Caller = Depends(needs("library", "IndexService/Correct"))) -> GroupsOut:
    """Two groups are one person: `other_group_id` joins `group_id`, in every later clustering too (scope library)."""
    return GroupsOut.of(library(request).merge(body.collection, body.group_id, body.other_group_id))


@router.post("/groups/split", response_model=GroupsOut, responses=_problems(409))
@router.post("/groups/not-this-person", response_model=GroupsOut, responses=_problems(409))
def split_face(request: Request, body: SplitIn, caller: Caller = Depends(needs("library", "IndexService/Correct"))) -> GroupsOut:
    """Not this person: the face leaves its group, in every later clustering too (scope library)."""
    return GroupsOut.of(library(request).split(body.collection, body.face_id))


@router.post("/groups/undo", response_model=GroupsOut, responses=_problems(409))
def undo(request: Request, body: CollectionIn, caller: Caller = Depends(needs("library", "IndexService/Undo"))) -> GroupsOut:
    """Take back the last correction (a naming: exactly the templates it enrolled); 400 FAILED_PRECONDITION when there
    is none (scope library)."""
    return GroupsOut.of(library(request).undo(body.collection))


# --- k-means and near-duplicates --------------------------------------------------------------------

@router.post("/kmeans", response_model=ClustersOut)
def kmeans(request: Request, body: KMeansIn, caller: Caller = Depends(needs("library", "IndexService/KMeans"))) -> ClustersOut:
    """k-means over a collection's face or plain vectors, or with `photos` its whole-photo vectors: each vector's
    cluster and the sizes, never a centroid; at least 5 vectors per cluster (scope library)."""
    return ClustersOut.of(library(request).kmeans(body.collection, body.k, body.iterations, body.photos))


@router.post("/similar", response_model=SimilarOut)
def similar_photos(request: Request, body: SimilarIn,
                   caller: Caller = Depends(needs("library", "IndexService/SimilarPhotos"))) -> SimilarOut:
    """Groups of near-duplicate photos of a collection with an image model (scope library)."""
    return SimilarOut.of(library(request).similar_photos(body.collection, body.threshold, body.min_size))


# --- collections of plain vectors ------------------------------------------------------------------

NAME = Path(pattern=COLLECTION_PATTERN, max_length=64)


@router.post("/collections", response_model=StatsOut, responses=_problems(409))
def create_collection(request: Request, body: CreateCollectionIn,
                      caller: Caller = Depends(needs("library", "IndexService/CreateCollection"))) -> StatsOut:
    """A collection of the caller's own vectors of one dimension (idempotent; 409 where the name is taken otherwise)."""
    return StatsOut.of(library(request).create_collection(body.collection, body.dim))


@router.get("/collections/{name}", response_model=StatsOut)
def collection_stats(request: Request, name: str = NAME,
                     caller: Caller = Depends(needs("library", "IndexService/Stats"))) -> StatsOut:
    """A collection's counts (and its re-embedding's progress where it has an image model); scope library."""
    return StatsOut.of(library(request).stats(name))


@router.post("/collections/{name}/vectors", response_model=StatsOut)
def add_vectors(request: Request, body: VectorsIn, name: str = NAME,
                caller: Caller = Depends(needs("library", "IndexService/AddVectors"))) -> StatsOut:
    """Add or replace the caller's vectors under their int64 ids (scope library)."""
    return StatsOut.of(library(request).add_vectors(name, list(body.ids), [list(v) for v in body.vectors]))


@router.delete("/collections/{name}/vectors", response_model=StatsOut)
def remove_vectors(request: Request, name: str = NAME,
                   ids: list[INT64] = Query(..., min_length=1, max_length=MAX_VECTORS_PER_CALL),
                   caller: Caller = Depends(needs("library", "IndexService/RemoveVectors"))) -> StatsOut:
    """Remove the caller's vectors by id (`?ids=1&ids=2`; scope library)."""
    return StatsOut.of(library(request).remove_vectors(name, list(ids)))


@router.put("/collections/{name}/image-model", response_model=StatsOut)
def set_image_model(request: Request, body: ImageModelIn, name: str = NAME,
                    caller: Caller = Depends(needs("library", "IndexService/SetImageModel"))) -> StatsOut:
    """Give a photo collection an image model; photos indexed before are embedded again in the background (scope library)."""
    return StatsOut.of(library(request).set_image_model(name, body.image_model))
