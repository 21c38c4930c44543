"""`facegrid serve`: every service in one process with the embedded Redis by default (`--role all`), or one role of
the split: `--role encoder` (models only, stateless) or `--role index` (the rest, embedding on encoder servers)."""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
from concurrent import futures
from dataclasses import dataclass
from functools import partial

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from facegrid.encoder.batcher import batcher_wrap, live_batchers
from facegrid.encoder.errors import EncoderError
from facegrid.encoder.image import DecodeLimits
from facegrid.encoder.models import model_folder
from facegrid.encoder.pipeline import FacePipeline
from facegrid.encoder.towers.registry import ModelRegistry
from facegrid.encoder.worker_pools import BulkWorkers
from facegrid.encoder.warmup import warm_up_face_model, warm_up_tower_model
from facegrid.index.calibration import CalibrationMissing, load_calibration
from facegrid.index.identify import Policy
from facegrid.index.stores import VectorStores, check_engine
from facegrid.v1 import admin_pb2, admin_pb2_grpc, encoder_pb2, encoder_pb2_grpc, gate_pb2, gate_pb2_grpc, index_pb2, index_pb2_grpc

from .config import Settings
from facegrid.encoder.liveness_port import LivenessChecker

from .domain.admin_core import AdminCore
from .domain.collections import Collections
from .domain.core import ServiceCore
from .domain.confusables import skeleton_digest
from .domain.door_pass import DoorPass
from .domain.probe_thumbnails import ProbeThumbnails
from .domain.doors import Doors
from .domain.liveness_mode import LivenessMode
from .domain.embedding import Embedder
from .domain.gate import Gate
from .domain.gate_core import GateCore
from .domain.group_assignment import GroupAssigner
from .domain.keys import KeyRing, Keys
from .domain.grouping import PersonGroups
from .domain.indexing import PhotoIndexing
from .domain.library import Library
from .domain.library_core import LibraryCore
from .domain.photo_search import PhotoSearch
from .domain.reembed import Reembedder
from .domain.pipelines import Pipelines
from .domain.engine_catch_up import EngineCatchUp
from .domain.sync import follow_changes
from .domain.vectors import VectorCollections
from .domain.key_file import KeyFileError, KeyFileRing
from .remote.bulk import RemoteBulk
from .remote.deadline import DeadlineInterceptor
from .remote.encoders import EncoderLink, EncoderPool
from .remote.models import EncoderModelList, RemoteFaceModel, RemotePipelines, RemoteRegistry
from .remote.start import NO_KEYS, check_encoders, expected_dim
from .http.access import HttpAccess
from .http.app import HttpLimits, create_app
from .http.console.settings import ConsoleSettings
from .http.server import HttpServer, http_bind
from .rpc.admin_service import AdminService
from .rpc.audit import Auditor
from .rpc.auth import AuthInterceptor, RequestFacts
from .domain.auth_failures import AuthFailures, FailureLimits
from .rpc.admission import LONG_CALLS, STREAMS, Admission, CallClass, thread_count
from .rpc.budget import ByteBudget
from .rpc.encoder_service import EncoderService
from .rpc.gate_service import GateService
from .rpc.index_service import IndexService
from .rpc.redis_health import RedisWatchdog
from .store.connection import RedisUnavailable, connect, redact, wait_until_ready
from .rpc.metrics import Metrics, metrics_bind
from .rpc.malformed import MalformedRequests
from .rpc.open_streams import OpenStreamLimits, OpenStreams
from .rpc.reflection import enable_reflection
from .rpc.listen import StartRefused, add_port, check_start, is_loopback, server_credentials
from .store.api_keys import KeyStore
from .store.audit import AuditStore
from .store.doors import DoorStore
from .store.background import BackgroundWrites
from .store.embedded_redis import EmbeddedRedis
from .store.forget_names import unname_subject
from .store.forget_scrub import ForgetScrub
from .store.probe_thumbnails import ProbeThumbnailStore
from .store.migrate import upgrade_layout, upgrade_privacy
from .store.private_files import PRIVATE_UMASK, private_folder
from .store.feed import KEY_REVOKED, ChangeFeed
from .store.library import LibraryStore
from .store.subjects import SubjectStore

log = logging.getLogger("facegrid.server")

INDEX_NICE = 10  # bulk-indexing workers run below the serving process: gate calls keep their cores under bulk work

SERVICES = (
    encoder_pb2.DESCRIPTOR.services_by_name["EncoderService"].full_name,
    gate_pb2.DESCRIPTOR.services_by_name["GateService"].full_name,
    index_pb2.DESCRIPTOR.services_by_name["IndexService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)
ENCODER_SERVICES = SERVICES[:1]  # the encoder role
INDEX_SERVICES = SERVICES[1:]  # the index role


@dataclass
class Running:
    """A started server and what it owns (the encoder role has no gate, library or Redis)."""

    server: grpc.Server
    port: int
    gate: Gate | None
    library: Library | None
    core: ServiceCore
    health: health.HealthServicer
    embedded: EmbeddedRedis | None
    metrics: Metrics
    metrics_port: int = 0  # 0: no metrics endpoint
    background: BackgroundWrites | None = None  # audit entries, key use times
    feed: ChangeFeed | None = None
    watchdog: RedisWatchdog | None = None
    pipelines: Pipelines | RemotePipelines | None = None  # their models' batchers are stopped last
    reembedder: Reembedder | None = None
    encoders: EncoderPool | None = None  # the index role's encoder servers
    services: tuple[str, ...] = SERVICES
    catch_up: EngineCatchUp | None = None  # sets again from Redis what missed Milvus during an outage
    scrub: ForgetScrub | None = None  # rewrites Redis's append-only file after a Forget
    auth_failures: AuthFailures | None = None  # writes its last summary entries at stop
    http: HttpServer | None = None  # the REST API and console, where FACEGRID_HTTP_ADDRESS asks for them

    def stop(self, grace: float = 5.0) -> None:
        """Stop taking calls, let those in flight finish, then stop the embedded Redis."""
        if self.watchdog is not None:
            self.watchdog.stop()  # or it would say SERVING again
        for name in self.services + ("",):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.http is not None:
            self.http.stop(grace)
        self.server.stop(grace).wait()
        if self.reembedder is not None:
            self.reembedder.stop()
        if self.catch_up is not None:
            self.catch_up.stop()
        if self.feed is not None:
            self.feed.stop()
        self.core.close()
        self.metrics.stop()
        if self.auth_failures is not None:
            self.auth_failures.stop()
        if self.background is not None:
            self.background.stop()
        if self.scrub is not None:
            self.scrub.stop()
        if self.embedded is not None:
            self.embedded.stop()
        if self.pipelines is not None:
            self.pipelines.close()
        if self.encoders is not None:
            self.encoders.close()


def open_metadata(settings: Settings) -> tuple[SubjectStore, EmbeddedRedis | None, str]:
    """Redis at FACEGRID_REDIS_URL, or the embedded one in the data directory, once it answers; and its URL."""
    if settings.redis_url:
        url, embedded = settings.redis_url, None
    else:
        embedded = EmbeddedRedis(settings.data_dir / "redis").start(settings.redis_start_timeout)
        url = embedded.url
    metadata = SubjectStore.connect(url)
    wait_until_ready(metadata.redis, redact(url), settings.redis_start_timeout)
    upgrade_layout(metadata.redis)  # data of an older version: its keys get their hash-tagged names
    upgrade_privacy(metadata.redis)  # and subject ids in its audit log become pseudonyms
    return metadata, embedded, url


def forget_scrub(settings: Settings, metadata: SubjectStore, embedded: EmbeddedRedis | None,
                 also: tuple = ()) -> ForgetScrub | None:
    """The rewrite of Redis's append-only file after a Forget, where Redis keeps one (None: it does not, or it is off)."""
    if settings.forget_scrub_s <= 0:
        log.warning("FACEGRID_FORGET_SCRUB_S is 0: forgotten subjects stay in Redis's append-only file until it is rewritten")
        return None
    if metadata.persistence().get("appendonly") == "no":
        return None  # no AOF to scrub (its RDB snapshots, if any, are the operator's: docs/security.md)
    aof_dir = embedded.folder / "appendonlydir" if embedded is not None else None
    return ForgetScrub(metadata.redis, settings.forget_scrub_s, aof_dir, also)


def failure_limits(settings: Settings) -> FailureLimits:
    """How failed authentications are penalised (and audited)."""
    return FailureLimits(threshold=settings.auth_fail_threshold, window_s=settings.auth_fail_window_s,
                         max_penalty_s=settings.auth_penalty_max_s,
                         audited_per_peer=settings.auth_fail_audited_per_peer,
                         audited_total=settings.auth_fail_audited_total)


def access(settings: Settings, keys: KeyStore, writes: BackgroundWrites, doors: DoorStore,
           facts: RequestFacts) -> tuple[AuthInterceptor, AdminCore]:
    """The key check on every call (with the audit log it feeds, failures included) and the use cases that manage keys
    and doors; `facts`: what the scope table may look up about a request's target (its collection)."""
    keyring = KeyRing(keys, note_use=lambda name, when: writes.submit(partial(KeyStore.touch, name=name, when=when)))
    audit = AuditStore(keys.redis, settings.audit_retention_days)
    keys.feed.subscribe(KEY_REVOKED, lambda change: keyring.forget_cached(change.fields["key_hash"]))  # revoked elsewhere
    auditor = Auditor(audit, writes)
    failures = AuthFailures(failure_limits(settings), record=auditor.record).start()
    interceptor = AuthInterceptor(keyring, is_loopback(settings.address) or settings.insecure, auditor, facts, failures)
    return interceptor, AdminCore(Keys(keys), keyring, audit, Doors(doors))


def load_liveness(settings: Settings) -> LivenessChecker | None:
    """The imported liveness model from the models folder, or None (none imported, or this build has no liveness code).

    A model that fails to load is logged and left out: Pass then refuses (require) rather than accepting unchecked."""
    if settings.liveness_mode() is LivenessMode.OFF:
        return None
    try:
        from facegrid.encoder.liveness import load_checker
    except ModuleNotFoundError as missing:
        if missing.name != "facegrid.encoder.liveness":
            log.error("liveness model code cannot be imported: %s", missing)
        return None
    encoder = settings.encoder()
    try:
        return load_checker(encoder.models_dir, encoder)
    except Exception:  # noqa: BLE001 - a broken model must not stop the gate; Pass says it is missing
        log.exception("the liveness model in %s cannot be loaded", encoder.models_dir)
        return None


def probe_thumbnails(settings: Settings, client, writes: BackgroundWrites) -> ProbeThumbnails | None:
    """Where the operator keeps door probe thumbnails (biometric data: off by default), what keeps them."""
    days = settings.probe_thumbnails_days
    if not (math.isfinite(days) and days >= 0):
        raise ValueError(f"FACEGRID_PROBE_THUMBNAILS_DAYS must be 0 (off) or a number of days, got {days}")
    if days == 0:
        return None
    if days > settings.audit_retention_days:
        log.warning("probe thumbnails are kept %g days, longer than the audit log (%g days) that names them",
                    days, settings.audit_retention_days)
    log.info("door probe thumbnails kept %g days (FACEGRID_PROBE_THUMBNAILS_DAYS); Forget removes a subject's", days)
    return ProbeThumbnails(ProbeThumbnailStore(client), days, writes.submit)


def door_pass(settings: Settings, gate: Gate, doors: DoorStore, writes: BackgroundWrites,
              frames: FacePipeline | None) -> DoorPass:
    """Pass's decider, with the liveness model where one is imported; says at start when Pass cannot decide."""
    mode = settings.liveness_mode()
    checker = load_liveness(settings) if frames is not None else None
    decider = DoorPass(gate, doors, mode, checker, frames,
                       note_seen=lambda door, when: writes.submit(partial(DoorStore.touch, name=door, when=when)),
                       thumbnails=probe_thumbnails(settings, doors.redis, writes))
    why_not = decider.unavailable()
    if why_not:
        log.warning("Pass (doors) refuses every call with FAILED_PRECONDITION: %s", why_not)
    else:
        log.info("Pass (doors): liveness %s%s", mode.value, f" with {checker.name}" if checker is not None else " (no model)")
    return decider


def start(settings: Settings) -> Running:
    """Start the role the settings name: all (one process), encoder (models only) or index (the rest)."""
    private_folder(settings.data_dir)  # biometric data: the owner's alone
    if settings.encoder_addresses() and settings.role != "index":  # ValueError: an unknown role, or index without encoders
        log.warning("--encoder / FACEGRID_ENCODERS is for the index role; --role %s embeds in this process", settings.role)
    return {"all": start_all, "encoder": start_encoder, "index": start_index}[settings.role](settings)


# --- the parts the roles are built of -------------------------------------------------------------------


def decode_limits(settings: Settings) -> DecodeLimits:
    """The photo size and pixel limits from the settings, as the decoder takes them."""
    return DecodeLimits(max_bytes=settings.max_photo_mb * 1_000_000, max_pixels=settings.max_photo_megapixels * 1_000_000)


@dataclass
class LocalModels:
    """The models of this process (roles all and encoder), loaded and warmed up."""

    pipeline: FacePipeline
    pipelines: Pipelines
    registry: ModelRegistry
    embedder: Embedder


def load_models(settings: Settings, limits: DecodeLimits) -> LocalModels:
    """The default face model, every model folder, their batchers; warmed up."""
    encoder = settings.encoder()
    pipeline = FacePipeline(settings.model, settings.detector, limits, settings=encoder)
    pipelines = Pipelines(pipeline, settings.detector, limits, encoder)
    registry = ModelRegistry(encoder, wrap=batcher_wrap(encoder), default_face_model=pipeline.model.name)
    registry.load()  # every model folder now: a broken one is named in the log and in ListModels, the rest serve
    # On CUDA only: there the first run at each new batch size is slow (cuDNN picks algorithms per shape).
    warm_up_face_model(pipeline.model, settings.batch_max or 16)
    for name in registry.names():
        warm_up_tower_model(registry.tower_model(name), settings.batch_max or 16)
    return LocalModels(pipeline, pipelines, registry, Embedder(pipelines, registry, limits))


@dataclass
class RemoteModels:
    """The index role's stand-ins for the models: the encoder servers, checked at start."""

    pool: EncoderPool
    pipelines: RemotePipelines
    registry: RemoteRegistry
    bulk: RemoteBulk


def connect_encoders(settings: Settings) -> RemoteModels:
    """The encoder servers, once one of them answers and serves the gate's model with the expected dimension."""
    link = EncoderLink(tuple(settings.encoder_addresses()), settings.encoder_api_key, *settings.encoder_tls(),
                       settings.encoder_timeout_s, settings.max_message_mb * 1024 * 1024)
    pool = EncoderPool(link)
    try:
        info = check_encoders(pool, settings.model, expected_dim(settings.model, settings.encoder()), settings.encoder_start_timeout)
    except Exception:
        pool.close()
        raise
    models = EncoderModelList(pool)
    pipelines = RemotePipelines(pool, models, RemoteFaceModel(info.name, info.dim))
    return RemoteModels(pool.start(), pipelines, RemoteRegistry(pool, models), RemoteBulk(pool))


def open_stream_limits(settings: Settings) -> OpenStreamLimits:
    """The caps on open health Watch and reflection streams from the settings."""
    return OpenStreamLimits(settings.max_open_streams, settings.max_open_streams_per_peer, settings.open_stream_idle_s)


def grpc_server(settings: Settings, interceptors: list) -> grpc.Server:
    """The gRPC server with the settings' thread count and message size.

    Keyless streams (health Watch, reflection) are capped first of all (after metrics: refusals are counted),
    and have threads of their own beside the gate's `workers` and the capped classes'. Requests that do not parse
    end INVALID_ARGUMENT before any key check or handler sees them."""
    message_bytes = settings.max_message_mb * 1024 * 1024
    limits = open_stream_limits(settings)
    threads = thread_count(settings.workers, call_classes(settings)) + limits.total
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
        interceptors=[*interceptors[:1], OpenStreams(limits), MalformedRequests(), *interceptors[1:]],
        options=[
            ("grpc.max_receive_message_length", message_bytes),
            ("grpc.max_send_message_length", message_bytes),
        ],
    )


def call_classes(settings: Settings) -> dict:
    """Streams and long calls have caps and threads of their own: gate calls always find one of `workers`."""
    return {
        STREAMS: CallClass("IndexPhotos or EmbedStream streams", settings.max_streams, "FACEGRID_MAX_STREAMS"),
        LONG_CALLS: CallClass("Cluster, KMeans or SimilarPhotos calls", settings.max_long_calls, "FACEGRID_MAX_LONG_CALLS"),
    }


def add_services(server: grpc.Server, core: ServiceCore, settings: Settings, metrics: Metrics) -> None:
    """The gRPC services over the use cases the core has (the encoder role: EncoderService alone)."""
    if core.embedder is not None:
        encoder_pb2_grpc.add_EncoderServiceServicer_to_server(EncoderService(core.embedder), server)
    if core.gate is not None:
        gate_pb2_grpc.add_GateServiceServicer_to_server(GateService(core.gate, metrics), server)
    if core.library is not None:
        index_pb2_grpc.add_IndexServiceServicer_to_server(
            IndexService(core.library, metrics, budget=ByteBudget(settings.inflight_mb << 20),
                         stream_idle_s=settings.stream_idle_s or None), server)
    if core.admin is not None:
        admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminService(core.admin), server)


def open_server(server: grpc.Server, settings: Settings, credentials, services: tuple[str, ...]) -> tuple[int, health.HealthServicer]:
    """Health (and reflection, when asked for) added, the port opened, the server started; its port and health servicer."""
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if settings.reflection:
        enable_reflection(server, services + (health.SERVICE_NAME,))
    port = add_port(server, settings.address, credentials)
    server.start()
    return port, health_servicer


# --- the roles ---------------------------------------------------------------------------------------------


def start_encoder(settings: Settings) -> Running:
    """The encoder role: the EncoderService alone, stateless (no Redis, gate or collections); keys from a file."""
    keyring = KeyFileRing(settings.encoder_keys_file) if settings.encoder_keys_file else NO_KEYS
    check_start(settings.address, keyring.any_keys(), settings.insecure)  # before the models load: a refusal is quick
    credentials = server_credentials(*settings.tls_files())
    models = load_models(settings, decode_limits(settings))
    metrics = Metrics()
    metrics.watch(sizes=dict, redis_up=None, batchers=lambda: [b.stats() for b in live_batchers()])
    # Failures are counted for the penalty (the encoder role has no audit log to write them to).
    interceptor = AuthInterceptor(keyring, is_loopback(settings.address) or settings.insecure,
                                  failures=AuthFailures(failure_limits(settings)))
    server = grpc_server(settings, [metrics.interceptor(), interceptor, Admission(call_classes(settings))])
    core = ServiceCore(embedder=models.embedder)
    add_services(server, core, settings, metrics)
    port, health_servicer = open_server(server, settings, credentials, ENCODER_SERVICES)
    for name in ENCODER_SERVICES + ("",):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    metrics_port = metrics.serve(settings.metrics_address, settings.metrics_key) if settings.metrics_address else 0
    return Running(server, port, None, None, core, health_servicer, None, metrics, metrics_port,
                   pipelines=models.pipelines, services=ENCODER_SERVICES)


def start_all(settings: Settings) -> Running:
    """Everything in one process (the default)."""
    return start_on_redis(settings, local=True)


def start_index(settings: Settings) -> Running:
    """The index role: everything but the models, which run on the encoder servers."""
    return start_on_redis(settings, local=False)


def start_on_redis(settings: Settings, local: bool) -> Running:
    """The gate, photo libraries and vectors on Redis; embedding in this process (local) or by encoder servers."""
    # The gate's thresholds first, before Redis starts: an unknown model or one without a calibration table (a
    # folder model's is in its folder, written by `facegrid eval calibrate --model NAME`) refuses at once. The
    # index role reads it here too, by model name: a folder model's folder must be in this server's models
    # directory as well (only its card and calibration table are read; its graphs run on the encoders).
    calibration = load_calibration(settings.model, model_folder=model_folder(settings.model, settings.encoder()))
    check_engine(settings.index())  # an unknown vector engine, or a Milvus that does not answer, refuses at once too
    settings.liveness_mode()  # and an unknown FACEGRID_LIVENESS (ValueError)
    metadata, embedded, redis_url = open_metadata(settings)
    # Subjects enrolled before look-alike ids were refused get their skeleton (idempotent; nothing to do once done).
    for subject, holder in metadata.set_skeletons(skeleton_digest):
        log.warning("subject %r looks like subject %r (same skeleton, both enrolled before look-alikes were refused): "
                    "forget one of them if they are one person", subject, holder)
    keys = KeyStore(metadata.redis, metadata.feed)
    try:  # before the models load: a refusal is quick
        check_start(settings.address, keys.any_keys(), settings.insecure)
        if settings.http_address:
            check_start(http_address(settings), keys.any_keys(), settings.insecure)
        credentials = server_credentials(*settings.tls_files())
        remote = None if local else connect_encoders(settings)
    except Exception:  # StartRefused, or a TLS file that cannot be read
        if embedded is not None:
            embedded.stop()
        raise
    feed = metadata.feed
    feed.mark()  # before the rebuild: what other servers write during it is applied after
    persistence = metadata.persistence()
    if persistence and persistence.get("appendonly") != "yes":
        log.warning("Redis has AOF off (%s): acknowledged enrollments can be lost in a crash", persistence)
    limits = decode_limits(settings)
    encoder = settings.encoder()
    if remote is None:
        models = load_models(settings, limits)
        pipeline, pipelines, registry = models.pipeline, models.pipelines, models.registry
    else:
        pipeline, pipelines, registry = remote.pipelines.default, remote.pipelines, remote.registry
    policy = Policy(calibration, settings.target_far, settings.identify_margin)
    # After a Forget: the subject's id out of photo collections' names, then Redis's files (and Milvus) scrubbed.
    scrub = forget_scrub(settings, metadata, embedded, also=(lambda: gate.subject_vectors.compact(),))

    def forgotten(subject_id: str) -> None:
        try:  # the Forget itself is done: what follows is logged if it fails, not the caller's failure
            unname_subject(metadata.redis, subject_id, metadata.pseudonyms.of(subject_id))
        except Exception:  # noqa: BLE001
            log.exception("Forget: the subject's names in photo collections could not be replaced")
        try:  # kept or not now: thumbnails from a time they were kept go too
            ProbeThumbnailStore(metadata.redis).forget(subject_id)
        except Exception:  # noqa: BLE001
            log.exception("Forget: the subject's probe thumbnails could not be removed (they expire with their retention)")
        if scrub is not None:
            scrub.request()

    stores = VectorStores(settings.index())  # every vector store of this server, in the one engine configured
    gate = Gate(metadata, pipeline, policy, probe_rules=settings.probe_rules(), stores=stores, on_forget=forgotten)
    subjects = gate.rebuild()
    log.info("index rebuilt from Redis: %d subjects (%d templates of other models skipped)", subjects, gate.skipped_templates)
    log.info("vector engine %s; searches on the %s", settings.vector_engine, "GPU" if gate.subject_vectors.on_gpu else "CPU")
    collections = Collections(LibraryStore(metadata.redis, feed), stores)
    log.info("photo collections rebuilt from Redis: %s", collections.rebuild())
    assigner = GroupAssigner(collections.store)
    library = Library(collections, pipelines, assigner, registry)  # image models of photo collections: the registry's
    photo_search = PhotoSearch(collections, registry, limits)
    people = PersonGroups(collections, assigner, gate, encoder)
    vectors = VectorCollections(collections)
    follow_changes(feed, gate, collections, assigner)
    catch_up = None
    if settings.vector_engine == "milvus":  # what reached Redis while Milvus was down reaches Milvus when it is back
        catch_up = EngineCatchUp(stores, lambda: gate.catch_up() + collections.catch_up()).start()

    metrics = Metrics()
    metrics.watch(
        sizes=lambda: {"subjects": gate.subject_vectors.count(), **{f"collection:{n}": collections.get(n).count() for n in collections.names()}},
        redis_up=lambda: bool(metadata.redis.ping()),
        batchers=lambda: [b.stats() for b in live_batchers()],
    )
    if remote is not None:
        metrics.registry.register(remote.pool.collector())
    writes = BackgroundWrites(metadata.redis).start()
    doors = DoorStore(metadata.redis, feed)
    interceptor, admin_core = access(settings, keys, writes, doors, facts=collections)
    feed.start()  # every subscriber is in
    # metrics outermost: refused calls are counted too; keys before caps: a refused caller takes no slot
    classes = call_classes(settings)  # one set of slots for gRPC and HTTP
    interceptors = [metrics.interceptor(), interceptor, Admission(classes)]
    if remote is not None:
        interceptors.append(DeadlineInterceptor())  # encoder calls end by the caller's deadline
    server = grpc_server(settings, interceptors)
    decider = door_pass(settings, gate, doors, writes, frames=models.pipeline if remote is None else None)
    workers = settings.index_workers or os.cpu_count() or 1
    # Bulk indexing embeds in worker processes here, or on the encoder servers in the index role.
    bulk = BulkWorkers(settings.detector, limits, workers, encoder, nice=INDEX_NICE) if remote is None else remote.bulk
    # Photos indexed before their collection had an image model, embedded again by the same workers.
    reembedder = Reembedder(collections, bulk.photo_vectors, settings.reembed_batch, settings.reembed_pause_s)
    library_core = LibraryCore(library, people, vectors, PhotoIndexing(library, bulk, depth=2 * workers), photo_search,
                               reembedder)
    # The index role serves no EncoderService: callers embed on the encoders themselves.
    core = ServiceCore(GateCore(gate, decider, metadata), library_core, admin_core, models.embedder if remote is None else None)
    add_services(server, core, settings, metrics)
    services = SERVICES if remote is None else INDEX_SERVICES
    port, health_servicer = open_server(server, settings, credentials, services)
    # Health says SERVING while Redis answers, NOT_SERVING while it does not.
    watchdog = RedisWatchdog(connect(redis_url, timeout=1.0), health_servicer, services + ("",), redact(redis_url))
    watchdog.start()
    reembedder.start()  # picks up any re-embedding a stopped or killed server left running
    if scrub is not None:
        scrub.start()
    metrics_port = metrics.serve(settings.metrics_address, settings.metrics_key) if settings.metrics_address else 0
    http = start_http(settings, core, interceptor, lambda: bool(watchdog.up), metrics, classes)
    return Running(server, port, gate, library, core, health_servicer, embedded, metrics, metrics_port, writes,
                   feed, watchdog, pipelines, reembedder, remote.pool if remote is not None else None, services, catch_up,
                   scrub=scrub, auth_failures=interceptor.failures, http=http)


def http_address(settings: Settings) -> str:
    """The HTTP listener's host:port (a port alone is on loopback)."""
    host, port = http_bind(settings.http_address)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start_http(settings: Settings, core: ServiceCore, interceptor: AuthInterceptor, healthy, metrics: Metrics,
               classes: dict[str, CallClass]) -> HttpServer | None:
    """The REST API and console over the same core, keys, failure counts and audit log as gRPC (None: not asked for)."""
    if not settings.http_address:
        return None
    address = http_address(settings)
    access = HttpAccess(interceptor.keyring, is_loopback(address) or settings.insecure, interceptor.failures,
                        interceptor.auditor.record if interceptor.auditor is not None else None)
    limits = HttpLimits(max_body_bytes=settings.max_message_mb * 1024 * 1024, max_photo_bytes=settings.max_photo_mb * 1_000_000)
    app = create_app(core, access, limits, healthy=healthy, registry=metrics.registry, call_classes=classes,
                     console=ConsoleSettings(silent_door_min=settings.door_silent_min), library_root=settings.library_root)
    return HttpServer(app, address, *settings.tls_files()).start()


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.umask(PRIVATE_UMASK)  # what the server writes (converted models, imports) is the owner's alone
    try:
        running = start(settings)
    except RedisUnavailable as error:  # an operator's problem, not a bug: one clear line, no traceback
        log.error("cannot start: %s", error)
        return 1
    # A refused start; FACEGRID_MODEL unknown, its folder broken, or no table; a bad keys file, an unknown role,
    # the index role without encoders
    except (StartRefused, CalibrationMissing, EncoderError, KeyFileError, ValueError) as error:
        print(f"facegrid serve: {error}", file=sys.stderr, flush=True)
        return 2
    host = settings.address.rsplit(":", 1)[0]
    cert, _, client_ca = settings.tls_files()
    transport = "mutual TLS" if client_ca else "TLS" if cert else "plaintext"
    # Tests and scripts read this line to learn an ephemeral port.
    role = "" if settings.role == "all" else f", role {settings.role}" + (f" with encoders {settings.encoders}" if settings.role == "index" else "")
    print(f"facegrid serving on {host}:{running.port} (model {settings.model}, data {settings.data_dir}, {transport}{role})", flush=True)
    if running.http is not None:
        scheme = "https" if running.http.tls else "http"
        shown = f"[{running.http.host}]" if ":" in running.http.host else running.http.host
        print(f"facegrid http on {scheme}://{shown}:{running.http.port} (REST /v1, docs /docs, console /ui)", flush=True)
    if running.metrics_port:
        metrics_host = metrics_bind(settings.metrics_address)[0]
        shown = f"[{metrics_host}]" if ":" in metrics_host else metrics_host
        key = " (key required)" if settings.metrics_key else ""
        print(f"facegrid metrics on {shown}:{running.metrics_port}/metrics{key}", flush=True)
    stopping = threading.Event()

    def on_signal(number, frame) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    log.info("shutting down")
    running.stop()
    return 0
