"""gRPC IndexService: requests to typed calls of domain/library_core.py's LibraryCore, results to messages.

What stays here is the stream itself: photos read in batches of whatever has arrived (batches.py), within the
byte budget all streams share (budget.py), answered in request order as the core's run finishes them.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from facegrid.v1 import encoder_pb2, index_pb2, index_pb2_grpc

from ..domain.error_kinds import item_message
from ..domain.errors import BadRequest
from ..domain.indexing import IndexedBatch
from ..domain.library import Hit, PhotoToIndex
from ..domain.library_core import Clusters, CollectionReport, FaceSearch, GroupsView, LibraryCore, PhotoQuery
from ..domain.photo_search import PhotoHit
from . import messages
from .batches import arrived_batches
from .budget import ByteBudget, StreamAccount
from .errors import grpc_errors, grpc_stream_errors, status_of
from .metrics import Metrics

BATCH_PHOTOS = 8  # photos per worker task: their chips share model batches, and Redis gets one write
BATCH_BYTES = 64 << 20  # ... and at most this many bytes of photos, so huge photos go a few at a time
BUDGET_WAIT_S = 30.0  # a stream that finds no room in the shared photo budget for this long ends with RESOURCE_EXHAUSTED


def _box(box: list[float]) -> encoder_pb2.Box:
    x, y, w, h = box
    return encoder_pb2.Box(x=x, y=y, width=w, height=h)


def _stats(report: CollectionReport) -> index_pb2.StatsResponse:
    reply = index_pb2.StatsResponse(**asdict(report.stats))
    progress = report.reembed
    if progress is not None:
        reply.reembed.CopyFrom(index_pb2.Reembed(state=progress.state, done=progress.done, total=progress.total,
                                                 missing=progress.missing))
    return reply


def _photo_hit(hit: PhotoHit) -> index_pb2.PhotoHit:
    return index_pb2.PhotoHit(score=hit.score, photo_sha256=hit.photo_sha256, paths=hit.paths)


def _hit(hit: Hit) -> index_pb2.Hit:
    if hit.face is None:  # a plain vector: its id only, as the int64 it was added under
        return index_pb2.Hit(score=hit.score, vector_id=hit.id)
    return index_pb2.Hit(
        score=hit.score,
        face_id=str(hit.id),
        photo_sha256=hit.face.photo_sha256,
        paths=hit.photo.paths if hit.photo else [],
        box=_box(hit.face.box),
    )


def _groups(view: GroupsView) -> index_pb2.GroupsResponse:
    grouping, paths = view.grouping, view.paths
    groups = []
    for group_id, faces in grouping.groups:
        members = [
            index_pb2.GroupFace(face_id=str(f.face_id), photo_sha256=f.photo_sha256,
                                paths=paths.get(f.photo_sha256, []), box=_box(f.box))
            for f in faces
        ]
        groups.append(index_pb2.Group(group_id=group_id, faces=members, name=grouping.names.get(group_id, "")))
    naming = None
    if grouping.naming is not None:
        n = grouping.naming
        naming = index_pb2.Naming(subject_id=n.subject_id, created=n.created, faces=[
            index_pb2.NamedFace(face_id=str(f.face_id), accepted=f.accepted, reason=f.reason, warnings=f.warnings,
                                template_id=str(f.template_id) if f.template_id is not None else "")
            for f in n.faces
        ])
    return index_pb2.GroupsResponse(groups=groups, unassigned=grouping.unassigned, threshold=grouping.threshold, naming=naming)


def _kmeans(clusters: Clusters) -> index_pb2.KMeansResponse:
    return index_pb2.KMeansResponse(
        k=clusters.k, ids=clusters.ids, clusters=clusters.labels, sizes=clusters.sizes,
        photos=[index_pb2.PhotoRef(photo_sha256=p.photo_sha256, paths=p.paths) for p in clusters.photos],
    )


def _vector(values) -> np.ndarray:
    return np.array(values, dtype=np.float32)


class IndexService(index_pb2_grpc.IndexServiceServicer):
    """The photo library over gRPC."""

    def __init__(self, core: LibraryCore, metrics: Metrics | None = None, budget: ByteBudget | None = None,
                 stream_idle_s: float | None = None) -> None:
        self.core = core
        self.metrics = metrics
        self.budget = budget  # photo bytes held by all streams together
        self.stream_idle_s = stream_idle_s

    def _count_batches(self, change: int) -> None:
        if self.metrics is not None and change:
            self.metrics.index_batches.inc(change)

    def _count_photos(self, batch: IndexedBatch) -> None:
        if self.metrics is None:
            return
        for outcome in batch.outcomes:
            self.metrics.photos.labels("error" if outcome.error else "already_indexed" if outcome.already_indexed else "indexed").inc()
            if not (outcome.error or outcome.already_indexed):
                self.metrics.faces.labels("index").inc(outcome.faces)

    @grpc_stream_errors
    def IndexPhotos(self, requests, context):
        """Index a stream of photos; each photo's result goes back in request order."""
        # Photos are taken in batches of whatever has arrived (up to BATCH_PHOTOS), each batch embedded while the
        # next ones are read; results go back in request order, a photo's error in its own result. Each photo's
        # bytes count against the budget shared by all streams until its result is sent.
        run = self.core.index_run()
        account = StreamAccount(self.budget) if self.budget is not None else None
        batches = arrived_batches(requests, BATCH_PHOTOS, BATCH_BYTES, run.oldest_done, busy=run.busy,
                                  idle_s=self.stream_idle_s, account=account, wait_s=BUDGET_WAIT_S)

        def answer(batch: IndexedBatch):
            self._count_batches(-1)
            yield from self._results(batch)
            if account is not None:
                account.give(batch.sizes)

        try:
            for batch in batches:
                if batch:
                    run.submit([PhotoToIndex(r.collection, r.path, r.photo, r.photo_sha256, r.image_model) for r in batch])
                    self._count_batches(1)
                for done in run.finished():
                    yield from answer(done)
            for done in run.rest():
                yield from answer(done)
        finally:
            batches.close()
            self._count_batches(-run.close())  # left unfinished by a stream that ended early
            if account is not None:
                account.close()

    def _results(self, batch: IndexedBatch):
        self._count_photos(batch)
        for outcome in batch.outcomes:
            yield index_pb2.IndexPhotoResult(
                path=outcome.path,
                photo_sha256=outcome.photo_sha256,
                already_indexed=outcome.already_indexed,
                faces=outcome.faces,
                error=item_message(outcome.error) if outcome.error else "",
                error_code=status_of(outcome.error).name if outcome.error else "",
            )

    @grpc_errors
    def KnownPhotos(self, request, context) -> index_pb2.KnownPhotosResponse:
        """Which of the given photo hashes the collection already holds (to resume without re-sending)."""
        return index_pb2.KnownPhotosResponse(photo_sha256=self.core.known(request.collection, list(request.photo_sha256)))

    @grpc_errors
    def Search(self, request: index_pb2.SearchRequest, context) -> index_pb2.SearchResponse:
        """The nearest faces (or plain vectors) of a collection to a vector or to each face of a photo."""
        query = request.WhichOneof("query")
        found = self.core.search(FaceSearch(
            request.collection, request.k, model=request.model,
            vector=_vector(request.vector.values) if query == "vector" else None,
            photo=request.photo if query == "photo" else None,
        ))
        return index_pb2.SearchResponse(queries=[
            index_pb2.QueryHits(face=messages.box(q.face) if q.face is not None else None, hits=[_hit(h) for h in q.hits])
            for q in found
        ])

    @grpc_errors
    def Cluster(self, request: index_pb2.ClusterRequest, context) -> index_pb2.GroupsResponse:
        """Group the collection's faces by person, keeping users' corrections."""
        return _groups(self.core.cluster(request.collection, request.min_size, request.link_far))

    @grpc_errors
    def Groups(self, request: index_pb2.GroupsRequest, context) -> index_pb2.GroupsResponse:
        """The groups as they stand: the last clustering plus the faces assigned since."""
        return _groups(self.core.groups(request.collection))

    @grpc_errors
    def Correct(self, request: index_pb2.CorrectRequest, context) -> index_pb2.GroupsResponse:
        """Apply a user's correction: merge two groups, split a face out, or name a group (enrolling it)."""
        action = request.WhichOneof("action")
        if action == "merge":
            return _groups(self.core.merge(request.collection, request.merge.group_id, request.merge.other_group_id))
        if action == "split":
            return _groups(self.core.split(request.collection, request.split.face_id))
        if action == "name":
            return _groups(self.core.name(request.collection, request.name.group_id, request.name.subject_id))
        raise BadRequest("say what to correct: merge, split or name")

    @grpc_errors
    def Undo(self, request: index_pb2.UndoRequest, context) -> index_pb2.GroupsResponse:
        """Take back the last correction."""
        return _groups(self.core.undo(request.collection))

    @grpc_errors
    def CreateCollection(self, request, context) -> index_pb2.StatsResponse:
        """Make a collection of plain vectors of a given dimension."""
        return _stats(self.core.create_collection(request.collection, request.dim))

    @grpc_errors
    def AddVectors(self, request, context) -> index_pb2.StatsResponse:
        """Add or replace plain vectors under the caller's ids."""
        return _stats(self.core.add_vectors(request.collection, list(request.ids), [list(v.values) for v in request.vectors]))

    @grpc_errors
    def RemoveVectors(self, request, context) -> index_pb2.StatsResponse:
        """Remove plain vectors by id."""
        return _stats(self.core.remove_vectors(request.collection, list(request.ids)))

    @grpc_errors
    def KMeans(self, request: index_pb2.KMeansRequest, context) -> index_pb2.KMeansResponse:
        """k-means over a collection's face or photo vectors: each one's cluster and the sizes, never centroids."""
        return _kmeans(self.core.kmeans(request.collection, request.k, request.iterations, request.photos))

    @grpc_errors
    def SearchPhotos(self, request: index_pb2.SearchPhotosRequest, context) -> index_pb2.SearchPhotosResponse:
        """Photos of a collection found by text, by a photo or by a vector, with the image model."""
        query = request.WhichOneof("query")
        found = self.core.search_photos(PhotoQuery(
            request.collection, request.k, model=request.model,
            text=request.text if query == "text" else None,
            photo=request.photo if query == "photo" else None,
            vector=_vector(request.vector.values) if query == "vector" else None,
        ))
        return index_pb2.SearchPhotosResponse(hits=[_photo_hit(h) for h in found.hits], model=found.model,
                                              text_truncated=found.text_truncated)

    @grpc_errors
    def SimilarPhotos(self, request: index_pb2.SimilarPhotosRequest, context) -> index_pb2.SimilarPhotosResponse:
        """Groups of near-duplicate photos of a collection."""
        found = self.core.similar_photos(request.collection, request.threshold, request.min_size)
        return index_pb2.SimilarPhotosResponse(
            groups=[index_pb2.PhotoGroup(photos=[_photo_hit(h) for h in group]) for group in found.groups],
            threshold=found.threshold, threshold_source=found.threshold_source, photos=found.photos)

    @grpc_errors
    def SetImageModel(self, request: index_pb2.SetImageModelRequest, context) -> index_pb2.StatsResponse:
        """Give a collection an image model; its photos are embedded again in the background."""
        return _stats(self.core.set_image_model(request.collection, request.image_model))

    @grpc_errors
    def Stats(self, request, context) -> index_pb2.StatsResponse:
        """A collection's counts (and the progress of its re-embedding)."""
        return _stats(self.core.stats(request.collection))
