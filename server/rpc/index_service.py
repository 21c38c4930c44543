"""gRPC IndexService: bulk indexing over a stream, search, stats (thin adapter over server.library)."""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict

import numpy as np
import redis

from facegrid.encoder.errors import WorkerDied
from facegrid.encoder.pipeline import embed_photos, photo_vectors_of, worker_pool
from facegrid.encoder.runtime import EncoderSettings
from facegrid.encoder.worker_pools import WORKER_DIED, WorkerPools
from facegrid.v1 import encoder_pb2, index_pb2, index_pb2_grpc

from ..domain.collections import CollectionStats
from ..domain.enrollment import normalise_subject_id
from ..domain.grouping import PersonGroups
from ..domain.library import Hit, IncomingPhoto, Library
from ..domain.photo_search import PhotoHit, PhotoSearch
from ..domain.reembed import ReembedProgress, Reembedder
from ..domain.vectors import VectorCollections
from . import messages
from .batches import arrived_batches
from .budget import ByteBudget, StreamAccount
from ..domain.errors import NoImageModel
from .errors import BadRequest, grpc_errors, grpc_stream_errors, status_of, unavailable_message
from .metrics import Metrics

MAX_K = 1000
MAX_HASHES = 10_000
BATCH_PHOTOS = 8  # photos per worker task: their chips share model batches, and Redis gets one write
BATCH_BYTES = 64 << 20  # ... and at most this many bytes of photos, so huge photos go a few at a time
INDEX_NICE = 10  # embedding workers run below the serving process: Verify/Identify keep their cores under bulk work
BUDGET_WAIT_S = 30.0  # a stream that finds no room in the shared photo budget for this long ends with RESOURCE_EXHAUSTED

log = logging.getLogger("facegrid.server")


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class _Gathered:
    """The faces of a batch whose photos go to several models' workers, in the batch's order."""

    def __init__(self, parts: list[tuple[list[int], Future]], count: int) -> None:
        self.parts, self.count = parts, count

    def done(self) -> bool:
        return all(future.done() for _, future in self.parts)

    def result(self) -> list:
        faces: list = [None] * self.count
        for positions, future in self.parts:
            for position, found in zip(positions, future.result()):
                faces[position] = found
        return faces


def _box(box: list[float]) -> encoder_pb2.Box:
    x, y, w, h = box
    return encoder_pb2.Box(x=x, y=y, width=w, height=h)


def _stats(stats: CollectionStats, progress: ReembedProgress | None = None) -> index_pb2.StatsResponse:
    reply = index_pb2.StatsResponse(**asdict(stats))
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


class IndexService(index_pb2_grpc.IndexServiceServicer):
    """Bulk indexing embeds in worker processes (one single-threaded pipeline per core, started on the
    first stream and kept): no GIL contention as cores are added, and this process stays free for
    gRPC and Redis (docs/benchmarks.md: 86 LFW photos/s on 2 cores with `sface`, 55 with `fused`)."""

    def __init__(self, library: Library, people: PersonGroups, vectors: VectorCollections, detector: str, limits,
                 workers: int = 0, encoder: EncoderSettings | None = None, metrics: Metrics | None = None,
                 budget: ByteBudget | None = None, stream_idle_s: float | None = None,
                 photos: PhotoSearch | None = None, remote=None) -> None:
        self.library = library
        # The index role: photos go to encoder servers (server/remote/bulk.py RemoteBulk), not to worker processes.
        self.remote = remote
        self.photos = photos  # whole-photo search (None: a server without image models)
        self.reembedder: Reembedder | None = None  # set in main.py, which starts it with `embed_photo_vectors`
        self.budget = budget  # photo bytes held by all streams together
        self.stream_idle_s = stream_idle_s
        self.people = people
        self.vectors = vectors
        self.workers = workers or os.cpu_count() or 1
        self._detector = detector
        self._limits = limits
        self._encoder = encoder or EncoderSettings()
        self.metrics = metrics
        # model -> worker processes embedding with it; a pool whose process dies is replaced
        self.pools = WorkerPools(lambda model: worker_pool(model, self._detector, self._limits, self.workers, self._encoder,
                                                           nice=INDEX_NICE))

    def close(self) -> None:
        """Stop the worker processes."""
        self.pools.close()
        if self.remote is not None:
            self.remote.close()

    def _count_batches(self, change: int) -> None:
        if self.metrics is not None:
            self.metrics.index_batches.inc(change)

    def _count_photos(self, incoming: list[IncomingPhoto]) -> None:
        if self.metrics is None:
            return
        for item in incoming:
            outcome = item.outcome
            self.metrics.photos.labels("error" if outcome.error else "already_indexed" if outcome.already_indexed else "indexed").inc()
            if not (outcome.error or outcome.already_indexed):
                self.metrics.faces.labels("index").inc(outcome.faces)

    def _embed(self, incoming: list[IncomingPhoto]):
        """A future of the faces (and whole-photo vectors) of the photos that need them, each embedded with its
        collection's models; each photo is decoded once, in the worker, for both."""
        needing = [item for item in incoming if item.needs_faces]
        if not needing:
            return _done([])
        by_model: dict[tuple[str, str], list[int]] = {}
        for position, item in enumerate(needing):
            by_model.setdefault((self.library.model_of(item.collection), item.image_model), []).append(position)
        def submit(model: str, photos: list[bytes], image_model: str) -> Future:
            if self.remote is not None:
                return self.remote.embed_photos(model, photos, image_model)
            return self.pools.submit(model, embed_photos, photos, image_model)

        parts = [(positions, submit(model, [needing[p].photo for p in positions], image_model))
                 for (model, image_model), positions in by_model.items()]
        return parts[0][1] if len(parts) == 1 else _Gathered(parts, len(needing))

    def embed_photo_vectors(self, face_model: str, image_model: str, photos: list[bytes]) -> list:
        """Whole-photo vectors of photos, in the face model's worker processes (the background re-embedding)."""
        if self.remote is not None:
            return self.remote.photo_vectors(image_model, photos)
        return self.pools.submit(face_model, photo_vectors_of, photos, image_model).result()

    @grpc_stream_errors
    def IndexPhotos(self, requests, context):
        # Photos are taken in batches of whatever has arrived (up to BATCH_PHOTOS), each batch embedded
        # in a worker process while the next ones are read; results go back in request order, a photo's
        # error in its own result. Each photo's bytes count against the budget shared by all streams
        # until its result is sent.
        in_flight: deque = deque()  # (incoming photos, future of their faces, photo sizes), oldest first
        account = StreamAccount(self.budget) if self.budget is not None else None

        def finish_oldest():
            incoming, faces, sizes = in_flight.popleft()
            self._count_batches(-1)
            yield from self._finish(incoming, faces)
            if account is not None:
                account.give(sizes)

        batches = arrived_batches(requests, BATCH_PHOTOS, BATCH_BYTES, lambda: bool(in_flight) and in_flight[0][1].done(),
                                  busy=lambda: bool(in_flight), idle_s=self.stream_idle_s, account=account,
                                  wait_s=BUDGET_WAIT_S)
        try:
            for batch in batches:
                if batch:
                    incoming = self.library.prepare([(r.collection, r.path, r.photo, r.photo_sha256, r.image_model)
                                                     for r in batch])
                    in_flight.append((incoming, self._embed(incoming), [len(r.photo) for r in batch]))
                    self._count_batches(1)
                # Finish the batches that are done, and wait for the oldest while too many are in flight.
                while in_flight and (in_flight[0][1].done() or len(in_flight) > 2 * self.workers):
                    yield from finish_oldest()
            while in_flight:
                yield from finish_oldest()
        finally:
            batches.close()
            self._count_batches(-len(in_flight))  # left unfinished by a stream that ended early
            if account is not None:
                account.close()

    def _finish(self, incoming, faces):
        try:
            try:
                found = faces.result()
            except BrokenProcessPool:  # the worker died with this batch: its photos say so, the next batch gets a new one
                found = [WorkerDied(WORKER_DIED) for item in incoming if item.needs_faces]
            self.library.store(incoming, found)
        except Exception as error:  # noqa: BLE001 - a failed batch is reported in its photos' results
            log.exception("storing a batch of %d photos failed", len(incoming))
            for item in incoming:
                if not (item.outcome.error or item.outcome.already_indexed):
                    item.outcome.error, item.outcome.faces = error, 0
        self._count_photos(incoming)
        for item in incoming:
            outcome = item.outcome
            yield index_pb2.IndexPhotoResult(
                path=outcome.path,
                photo_sha256=outcome.photo_sha256,
                already_indexed=outcome.already_indexed,
                faces=outcome.faces,
                error=(unavailable_message(outcome.error) if isinstance(outcome.error, redis.RedisError) else str(outcome.error))
                if outcome.error else "",
                error_code=status_of(outcome.error).name if outcome.error else "",
            )

    @grpc_errors
    def KnownPhotos(self, request, context) -> index_pb2.KnownPhotosResponse:
        """Which of the given photo hashes the collection already holds (to resume without re-sending)."""
        if len(request.photo_sha256) > MAX_HASHES:
            raise BadRequest(f"at most {MAX_HASHES} hashes per call, got {len(request.photo_sha256)}")
        return index_pb2.KnownPhotosResponse(photo_sha256=self.library.known(request.collection, list(request.photo_sha256)))

    @grpc_errors
    def Search(self, request: index_pb2.SearchRequest, context) -> index_pb2.SearchResponse:
        """The nearest faces (or plain vectors) of a collection to a vector or to each face of a photo."""
        k = request.k
        if not 1 <= k <= MAX_K:
            raise BadRequest(f"k must be between 1 and {MAX_K}, got {request.k}")
        query = request.WhichOneof("query")
        if query == "vector":
            hits = self.library.search_vector(request.collection, np.array(request.vector.values, dtype=np.float32), k,
                                              request.model)
            return index_pb2.SearchResponse(queries=[index_pb2.QueryHits(hits=[_hit(h) for h in hits])])
        if query == "photo":
            if not request.photo:
                raise BadRequest("photo is empty")
            found = self.library.search_photo(request.collection, request.photo, k)
            return index_pb2.SearchResponse(
                queries=[index_pb2.QueryHits(face=messages.box(face), hits=[_hit(h) for h in hits]) for face, hits in found]
            )
        raise BadRequest("give a photo or a vector to search with")

    def _groups(self, collection: str, grouping) -> index_pb2.GroupsResponse:
        paths = self.library.photo_paths(collection, [f.photo_sha256 for _, faces in grouping.groups for f in faces])
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

    @grpc_errors
    def Cluster(self, request: index_pb2.ClusterRequest, context) -> index_pb2.GroupsResponse:
        """Group the collection's faces by person, keeping users' corrections."""
        link_far = request.link_far or 1e-5
        if not 0 < link_far < 1:
            raise BadRequest(f"link_far must be between 0 and 1, got {link_far}")
        if request.min_size < 0:
            raise BadRequest(f"min_size must be positive, got {request.min_size}")
        grouping = self.people.cluster(request.collection, request.min_size or 1, link_far)
        return self._groups(request.collection, grouping)

    @grpc_errors
    def Groups(self, request: index_pb2.GroupsRequest, context) -> index_pb2.GroupsResponse:
        """The groups as they stand: the last clustering plus the faces assigned since."""
        return self._groups(request.collection, self.people.groups(request.collection))

    @grpc_errors
    def Correct(self, request: index_pb2.CorrectRequest, context) -> index_pb2.GroupsResponse:
        """Apply a user's correction: merge two groups, split a face out, or name a group (enrolling it)."""
        action = request.WhichOneof("action")
        if action == "merge":
            if request.merge.group_id == request.merge.other_group_id:
                raise BadRequest("merge needs two different groups")
            grouping = self.people.merge(request.collection, request.merge.group_id, request.merge.other_group_id)
        elif action == "split":
            if not request.split.face_id.isdigit():
                raise BadRequest(f"face_id must be a number, got {request.split.face_id!r}")
            grouping = self.people.split(request.collection, int(request.split.face_id))
        elif action == "name":
            normalise_subject_id(request.name.subject_id)  # INVALID_ARGUMENT before anything changes
            grouping = self.people.name(request.collection, request.name.group_id, request.name.subject_id)
        else:
            raise BadRequest("say what to correct: merge, split or name")
        return self._groups(request.collection, grouping)

    @grpc_errors
    def Undo(self, request: index_pb2.UndoRequest, context) -> index_pb2.GroupsResponse:
        """Take back the last correction."""
        return self._groups(request.collection, self.people.undo(request.collection))

    @grpc_errors
    def CreateCollection(self, request, context) -> index_pb2.StatsResponse:
        """Make a collection of plain vectors of a given dimension."""
        return _stats(self.vectors.create(request.collection, request.dim))

    @grpc_errors
    def AddVectors(self, request, context) -> index_pb2.StatsResponse:
        """Add or replace plain vectors under the caller's ids."""
        if len(request.ids) != len(request.vectors):
            raise BadRequest(f"{len(request.ids)} ids for {len(request.vectors)} vectors")
        lengths = {len(v.values) for v in request.vectors}
        if len(lengths) > 1:
            raise BadRequest(f"vectors of different lengths: {sorted(lengths)}")
        vectors = np.array([list(v.values) for v in request.vectors], dtype=np.float32)
        return _stats(self.vectors.add(request.collection, list(request.ids), vectors))

    @grpc_errors
    def RemoveVectors(self, request, context) -> index_pb2.StatsResponse:
        """Remove plain vectors by id."""
        return _stats(self.vectors.remove(request.collection, list(request.ids)))

    @grpc_errors
    def KMeans(self, request: index_pb2.KMeansRequest, context) -> index_pb2.KMeansResponse:
        """k-means over a collection's face or photo vectors: each one's cluster and the sizes, never centroids."""
        if request.k < 0 or not 0 <= request.iterations <= 1000:
            raise BadRequest("k must be positive (0 to choose) and iterations between 0 and 1000")
        photos: list[index_pb2.PhotoRef] = []
        if request.photos:
            clusters = self._photo_search().kmeans(request.collection, request.k or None, request.iterations or 20)
            ids, result = clusters.photo_ids, clusters.result
            photos = [index_pb2.PhotoRef(photo_sha256=d, paths=p) for d, p in zip(clusters.photo_sha256, clusters.paths)]
        else:
            ids, result = self.library.kmeans(request.collection, request.k or None, request.iterations or 20)
        # No centroids: a stored vector must never leave the server (a cluster of one is that vector).
        return index_pb2.KMeansResponse(
            k=result.k,
            ids=ids.tolist(),
            clusters=result.labels.tolist(),
            sizes=np.bincount(result.labels, minlength=result.k).tolist(),
            photos=photos,
        )

    def _photo_search(self) -> PhotoSearch:
        if self.photos is None:
            raise NoImageModel("this server runs no image models")
        return self.photos

    @grpc_errors
    def SearchPhotos(self, request: index_pb2.SearchPhotosRequest, context) -> index_pb2.SearchPhotosResponse:
        """Photos of a collection found by text, by a photo or by a vector, with the image model."""
        if not 1 <= request.k <= MAX_K:
            raise BadRequest(f"k must be between 1 and {MAX_K}, got {request.k}")
        query, search = request.WhichOneof("query"), self._photo_search()
        if query == "text":
            if not request.text.strip():
                raise BadRequest("text is empty")
            found = search.by_text(request.collection, request.text, request.k)
        elif query == "photo":
            if not request.photo:
                raise BadRequest("photo is empty")
            found = search.by_photo(request.collection, request.photo, request.k)
        elif query == "vector":
            found = search.by_vector(request.collection, np.array(request.vector.values, dtype=np.float32), request.k,
                                     request.model)
        else:
            raise BadRequest("give a text, a photo or a vector to search with")
        return index_pb2.SearchPhotosResponse(hits=[_photo_hit(h) for h in found.hits], model=found.model,
                                              text_truncated=found.text_truncated)

    @grpc_errors
    def SimilarPhotos(self, request: index_pb2.SimilarPhotosRequest, context) -> index_pb2.SimilarPhotosResponse:
        """Groups of near-duplicate photos of a collection."""
        if not (request.threshold == 0 or -1 <= request.threshold <= 1) or request.min_size < 0:
            raise BadRequest(f"threshold must be between -1 and 1 (0: the measured one) and min_size positive, "
                             f"got {request.threshold} and {request.min_size}")
        found = self._photo_search().similar(request.collection, request.threshold or None, request.min_size or 2)
        return index_pb2.SimilarPhotosResponse(
            groups=[index_pb2.PhotoGroup(photos=[_photo_hit(h) for h in group]) for group in found.groups],
            threshold=found.threshold, threshold_source=found.threshold_source, photos=found.photos)

    @grpc_errors
    def SetImageModel(self, request: index_pb2.SetImageModelRequest, context) -> index_pb2.StatsResponse:
        """Give a collection an image model; its photos are embedded again in the background."""
        if not request.image_model:
            raise BadRequest("name the image model")
        info, changed = self.library.collections.set_image_model(request.collection, request.image_model,
                                                                 self.library.image_dim(request.image_model))
        if changed and self.reembedder is not None:
            self.reembedder.wake()
        return self._stats_of(info.name)

    def _stats_of(self, collection: str) -> index_pb2.StatsResponse:
        stats = self.library.stats(collection)
        progress = self.reembedder.progress(stats.collection) if self.reembedder is not None and stats.image_model else None
        return _stats(stats, progress)

    @grpc_errors
    def Stats(self, request, context) -> index_pb2.StatsResponse:
        """A collection's counts (and the progress of its re-embedding)."""
        return self._stats_of(request.collection)
