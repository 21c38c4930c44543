"""Python client: `Facegrid(address, api_key=..., tls=...)` with enroll, verify, identify, forget, subjects,
a door's pass_burst, doors, embed, the photo library, and key management.

The API key goes with every call as metadata `authorization: Bearer <key>`. `tls`: True
for TLS checked against the system's roots, or a `TLS` with the CA to trust and, for
servers that require client certificates (mutual TLS), this client's certificate and key.

Every call has a deadline. Idempotent calls (verify, identify, reads, and
enroll, which the server deduplicates by photo hash) are retried with backoff
when the server is briefly unavailable; forget is not retried blindly, since a
second forget of a gone subject says NOT_FOUND.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

import grpc
from google.rpc import error_details_pb2

from facegrid.v1 import (admin_pb2, admin_pb2_grpc, encoder_pb2, encoder_pb2_grpc, gate_pb2, gate_pb2_grpc, index_pb2,
                         index_pb2_grpc)

from .door_results import CHALLENGES, DoorInfo, PassResult, SubjectInfo
from .reach import diagnose
from .results import (Clusters, Embedding, EnrollResult, ModelInfo, NearDuplicates, PhotoOutcome, PhotoSearchResult, ProbeRefusal,
                      Quality, SearchResult, Stats, decode_details, issue_name)

DEFAULT_ADDRESS = "127.0.0.1:50051"
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def default_address() -> str:
    """FACEGRID_SERVER, else 127.0.0.1:50051."""
    return os.environ.get("FACEGRID_SERVER", DEFAULT_ADDRESS)


def default_api_key() -> str | None:
    """FACEGRID_API_KEY, else None (the SDK itself only uses the key it is given)."""
    return os.environ.get("FACEGRID_API_KEY") or None


@dataclass(frozen=True)
class TLS:
    """How to reach a TLS server: the CA to trust (None: the system's roots) and, for mutual TLS, our certificate.

    Paths or PEM bytes. `server_name`: the name to check in the server's certificate when it
    differs from the address's host.
    """

    ca: str | Path | bytes | None = None
    cert: str | Path | bytes | None = None
    key: str | Path | bytes | None = None
    server_name: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        def pem(value):
            return None if value is None else value if isinstance(value, bytes) else Path(value).expanduser().read_bytes()

        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        return grpc.ssl_channel_credentials(root_certificates=pem(self.ca), private_key=pem(self.key),
                                            certificate_chain=pem(self.cert))


_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _code_of(number: int) -> grpc.StatusCode:
    """The status code of a google.rpc.Code number (UNKNOWN for one gRPC does not know)."""
    return _CODES.get(number, grpc.StatusCode.UNKNOWN)


class FacegridError(Exception):
    """A call the server refused or could not answer: `code` is the gRPC status, `message` its reason.

    `details` are the machine-readable messages the server sent with it (google.rpc ErrorInfo, facegrid
    PhotoRefusal, EnrollResponse); `reason` is the ErrorInfo's constant name (e.g. "FACE_TOO_SMALL",
    "NO_USABLE_PHOTO"), `outcomes` every photo's outcome of a refused Enroll, `refusal` a refused probe's face.
    """

    def __init__(self, code: grpc.StatusCode, message: str, details: list | None = None, item_id: str = "") -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.details = details or []
        self.item_id = item_id  # the item of a stream that failed (embed_many)

    @classmethod
    def from_rpc(cls, error: grpc.RpcError) -> "FacegridError":
        return cls(error.code(), error.details() or "", decode_details(error))

    def _detail(self, kind):
        return next((d for d in self.details if isinstance(d, kind)), None)

    @property
    def reason(self) -> str:
        info = self._detail(error_details_pb2.ErrorInfo)
        return info.reason if info is not None else ""

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asks to wait before sending the call again (its RetryInfo: a refusal for load,
        RESOURCE_EXHAUSTED with reason OVERLOADED); None when it asked for none."""
        info = self._detail(error_details_pb2.RetryInfo)
        return info.retry_delay.ToTimedelta().total_seconds() if info is not None else None

    @property
    def outcomes(self) -> list[PhotoOutcome]:
        reply = self._detail(gate_pb2.EnrollResponse)
        return EnrollResult.from_message(reply).photos if reply is not None else []

    @property
    def refusal(self) -> ProbeRefusal | None:
        refusal = self._detail(gate_pb2.PhotoRefusal)
        return ProbeRefusal.from_message(refusal) if refusal is not None else None


@dataclass
class VerifyResult:
    match: bool
    # The numbers go only to keys with scope enroll or admin; a gate key gets None and the band.
    score: float | None
    threshold: float | None
    estimated_far: float | None
    face_box: tuple[float, float, float, float]
    quality: Quality | None = None
    quality_issue: str | None = None  # probe rule "report": what is wrong with the face, e.g. "BLURRED"
    quality_warning: str = ""
    band: str | None = None  # "LOW" (no match), "MEDIUM", "HIGH"; None from a server that sends none
    other_faces: int = 0  # faces of usable size besides the one compared (keys with enroll or admin)


@dataclass
class IdentifyResult:
    subject: str | None  # None: unknown
    score: float | None
    threshold: float | None
    estimated_far: float | None
    margin: float
    candidates: list[tuple[str, float]] = field(default_factory=list)
    reason: str = ""
    unknown_reason: str | None = None  # NO_SUBJECTS, BELOW_THRESHOLD, TOO_CLOSE_TO_RUNNER_UP, NOT_ENROLLED; None when named
    quality: Quality | None = None
    quality_issue: str | None = None  # as in VerifyResult
    quality_warning: str = ""
    band: str | None = None  # as in VerifyResult (None also when nobody is enrolled)
    other_faces: int = 0  # as in VerifyResult


@dataclass
class ApiKeyInfo:
    """A key's record (never the key itself)."""

    name: str
    scopes: list[str]
    created_at: float
    last_used_at: float | None
    revoked: bool
    revoked_at: float | None
    door: str = ""  # the door a gate key is bound to; "" for none


@dataclass
class CreatedKey:
    key: str  # shown once: the server keeps only its hash
    record: ApiKeyInfo


@dataclass
class AuditRecord:
    """One audit-log entry."""

    id: str
    time: float
    key_name: str
    rpc: str
    subject_id: str
    decision: str
    score: float | None
    threshold: float | None
    peer: str
    detail: str
    door: str = ""  # Pass: the door
    reason: str = ""  # Pass: the PassReason name


def _key_info(message) -> ApiKeyInfo:
    return ApiKeyInfo(message.name, list(message.scopes), message.created_at, message.last_used_at or None,
                      message.revoked, message.revoked_at or None, message.door)


def band_name(value: int) -> str | None:
    """gate.proto's ScoreBand as its name ("LOW", "MEDIUM", "HIGH"); None when unset."""
    return gate_pb2.ScoreBand.Name(value) if value else None


def _photo(photo: bytes | str | Path) -> bytes:
    return photo if isinstance(photo, bytes) else Path(photo).read_bytes()


class Facegrid:
    """A connection to a facegrid server."""

    def __init__(self, address: str | None = None, timeout: float = 10.0, retries: int = 3, max_message_mb: int = 64,
                 api_key: str | None = None, tls: TLS | bool | None = None, connect_timeout: float = 5.0) -> None:
        self.address = address or default_address()
        self.timeout = timeout
        self.retries = retries
        # The first call waits at most this long for a connection, then says why there is none (clients/reach.py).
        self.connect_timeout = connect_timeout
        self._connected = False
        self._tls = (TLS() if tls is True else tls) or None
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        size = max_message_mb * 1024 * 1024
        options = [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]
        if tls:
            tls = TLS() if tls is True else tls
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self._channel = grpc.secure_channel(self.address, tls.credentials(), options=options)
        else:
            self._channel = grpc.insecure_channel(self.address, options=options)
        self._gate = gate_pb2_grpc.GateServiceStub(self._channel)
        self._encoder = encoder_pb2_grpc.EncoderServiceStub(self._channel)
        self._index = index_pb2_grpc.IndexServiceStub(self._channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Facegrid":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, retry: bool = True, timeout: float | None = None):
        if not self._connected:
            self._connect(min(self.connect_timeout, timeout or self.timeout))
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                return method(request, timeout=timeout or self.timeout, wait_for_ready=attempt > 0, metadata=self._metadata)
            except grpc.RpcError as error:
                failed = FacegridError.from_rpc(error)
                # UNAVAILABLE and DEADLINE_EXCEEDED, and a refusal for load that says when to come back (not a refused
                # key's RetryInfo, AUTH_PENALTY: the same key would be refused again)
                busy = error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and failed.retry_after is not None
                if (error.code() in _RETRYABLE or busy) and attempt + 1 < attempts:
                    # jittered, so that callers refused together do not all come back together
                    time.sleep(max(0.2 * 2**attempt, failed.retry_after or 0.0) * random.uniform(1.0, 1.5))
                    continue
                if error.code() in _RETRYABLE:  # the server gone, or its own UNAVAILABLE (Redis down): say which
                    reason = diagnose(self.address, self._tls)
                    if reason is not None:
                        raise FacegridError(grpc.StatusCode.UNAVAILABLE, f"cannot reach facegrid at {self.address} ({reason})") from None
                raise failed from None

    def _connect(self, seconds: float) -> None:
        """Wait up to `seconds` for a connection; UNAVAILABLE saying why (refused, timed out, TLS) when none comes.

        A failed attempt is looked into at once: "connection refused" needs no waiting out."""
        states: list[grpc.ChannelConnectivity] = []
        changed = threading.Condition()

        def note(state: grpc.ChannelConnectivity) -> None:
            with changed:
                states.append(state)
                changed.notify_all()

        self._channel.subscribe(note, try_to_connect=True)
        deadline = time.monotonic() + seconds
        reason = None
        try:
            with changed:
                while time.monotonic() < deadline:
                    if grpc.ChannelConnectivity.READY in states:
                        self._connected = True
                        return
                    if grpc.ChannelConnectivity.TRANSIENT_FAILURE in states:
                        states.clear()
                        reason = diagnose(self.address, self._tls)
                        if reason is not None:
                            break
                    changed.wait(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            self._channel.unsubscribe(note)
        reason = reason or diagnose(self.address, self._tls) or f"no connection within {seconds:g} s"
        raise FacegridError(grpc.StatusCode.UNAVAILABLE, f"cannot reach facegrid at {self.address} ({reason})")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server accepts connections."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    def health(self, service: str = "") -> str:
        """The gRPC health status of the server (or of one service): SERVING, NOT_SERVING, ... (no key needed)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        reply = self._call(health_pb2_grpc.HealthStub(self._channel).Check, health_pb2.HealthCheckRequest(service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    # --- gate ------------------------------------------------------------------------------

    def enroll(self, subject: str, photos: Iterable[bytes | str | Path], display_name: str = "",
               groups: Iterable[str] = (), replace: bool = False) -> EnrollResult:
        """Add photos of a subject (and `groups` to those it has); each photo's outcome (accepted, or refused with the reason).

        A photo unlike the subject's enrolled ones is refused (issue NOT_LIKE_SUBJECT); `replace` (an admin key) takes
        it and then removes every older template that is not one of these photos. When no photo is accepted,
        FacegridError (FAILED_PRECONDITION) has every outcome in `.outcomes`."""
        request = gate_pb2.EnrollRequest(subject_id=subject, photos=[_photo(p) for p in photos], display_name=display_name,
                                         groups=list(groups), replace=replace)
        return EnrollResult.from_message(self._call(self._gate.Enroll, request, timeout=max(self.timeout, 60.0)))

    def verify(self, subject: str, photo: bytes | str | Path) -> VerifyResult:
        """Is the person in the photo this subject?"""
        reply = self._call(self._gate.Verify, gate_pb2.VerifyRequest(subject_id=subject, photo=_photo(photo)))
        decided, d, b = reply.HasField("decision"), reply.decision, reply.face
        return VerifyResult(reply.match, d.score if decided else None, d.threshold if decided else None,
                            d.estimated_far if decided else None, (b.x, b.y, b.width, b.height),
                            Quality.from_message(reply.quality), issue_name(reply.quality_issue), reply.quality_warning,
                            band_name(reply.band), reply.other_faces)

    def identify(self, photo: bytes | str | Path, candidates: int = 5) -> IdentifyResult:
        """Who is in the photo (subject None: unknown)."""
        reply = self._call(self._gate.Identify, gate_pb2.IdentifyRequest(photo=_photo(photo), candidates=candidates))
        decided = reply.HasField("decision")
        d = reply.decision
        return IdentifyResult(
            subject=reply.subject_id if reply.known else None,
            score=d.score if decided else None,
            threshold=d.threshold if decided else None,
            estimated_far=d.estimated_far if decided else None,
            margin=reply.margin,
            candidates=[(c.subject_id, c.score) for c in reply.candidates],
            reason=reply.reason,
            unknown_reason=gate_pb2.UnknownReason.Name(reply.unknown_reason) if reply.unknown_reason else None,
            quality=Quality.from_message(reply.quality),
            quality_issue=issue_name(reply.quality_issue),
            quality_warning=reply.quality_warning,
            band=band_name(reply.band),
            other_faces=reply.other_faces,
        )

    def forget(self, subject: str) -> int:
        """Delete a subject; how many templates were removed."""
        return self._call(self._gate.Forget, gate_pb2.ForgetRequest(subject_id=subject), retry=False).templates_removed

    def subject(self, subject: str) -> gate_pb2.Subject:
        return self._call(self._gate.GetSubject, gate_pb2.GetSubjectRequest(subject_id=subject))

    def update_subject(self, subject: str, groups: Iterable[str] | None = None, suspended: bool | None = None,
                       expires_at: float | None = None, status_reason: str = "") -> SubjectInfo:
        """Set a subject's groups (None: kept; [] : none), suspend or reactivate it (with `status_reason`, why: kept
        with the status), set when it expires (Unix time; 0: never; None: kept); its record after (scope enroll)."""
        request = gate_pb2.UpdateSubjectRequest(subject_id=subject, status_reason=status_reason)
        if groups is not None:
            request.groups.extend(groups)
            request.set_groups = True
        if suspended is not None:
            request.status = gate_pb2.SUBJECT_SUSPENDED if suspended else gate_pb2.SUBJECT_ACTIVE
        if expires_at is not None:
            request.expires_at = expires_at
        return SubjectInfo.from_message(self._call(self._gate.UpdateSubject, request))

    def pass_burst(self, frames: list[bytes], door: str, subject_id: str = "", track: str = "", challenge: str = "none",
                   frame_times=None, timeout: float | None = None, allow_groups: bool = False) -> PassResult:
        """A door's decision on one approach: its best frames (encoded photos, best first), verified against the card's
        `subject_id` or identified. Refusals of the person come back as decision "DENY" with the reason; a
        FacegridError means the call itself failed, which a door must treat as a denial too. Not retried: a door
        answers now or denies (SERVER_UNAVAILABLE is the client's to set). `challenge`: none, turn_left, turn_right,
        look_up; `frame_times`: seconds since the first frame, one per frame."""
        if challenge not in CHALLENGES:
            raise ValueError(f"challenge must be one of {', '.join(CHALLENGES)}, got {challenge!r}")
        request = gate_pb2.PassRequest(frames=list(frames), door=door, subject_id=subject_id, track=track,
                                       challenge=CHALLENGES[challenge], frame_times=list(frame_times or ()),
                                       allow_groups=allow_groups)
        return PassResult.from_message(self._call(self._gate.Pass, request, retry=False, timeout=timeout))

    def subjects(self, page_size: int = 100) -> Iterable[gate_pb2.Subject]:
        """Every subject, page by page."""
        token = ""
        while True:
            reply = self._call(self._gate.ListSubjects, gate_pb2.ListSubjectsRequest(page_size=page_size, page_token=token))
            yield from reply.subjects
            token = reply.next_page_token
            if not token:
                return

    # --- photo library ---------------------------------------------------------------------

    def index_photos(self, photos: Iterable[tuple], collection: str = "photos",
                     image_model: str = "") -> Iterable[index_pb2.IndexPhotoResult]:
        """Stream (path, bytes[, sha256]) photos to the server over one call; one result per photo, in order.

        Bytes may be empty for a photo whose sha256 the server already holds (see `known_photos`):
        then only its path is recorded. Not retried: re-run it, already indexed photos are skipped.
        `image_model`: the collection's image model (made with it if new): each photo gets a whole-photo vector too.
        """
        import hashlib

        def request(item: tuple) -> index_pb2.IndexPhotoRequest:
            path, data = item[0], item[1]
            digest = item[2] if len(item) > 2 else hashlib.sha256(data).hexdigest()
            return index_pb2.IndexPhotoRequest(collection=collection, path=path, photo=data, photo_sha256=digest,
                                               image_model=image_model)

        requests = (request(item) for item in photos)
        try:
            yield from self._index.IndexPhotos(requests, metadata=self._metadata)
        except grpc.RpcError as error:
            raise FacegridError.from_rpc(error) from None

    def known_photos(self, digests: list[str], collection: str = "photos") -> set[str]:
        """Which photo hashes the collection already holds."""
        reply = self._call(self._index.KnownPhotos, index_pb2.KnownPhotosRequest(collection=collection, photo_sha256=digests))
        return set(reply.photo_sha256)

    def search(self, photo: bytes | str | Path | None = None, vector=None, k: int = 10, collection: str = "photos",
               model: str = "") -> SearchResult:
        """Nearest indexed faces to each face of a photo, or to a vector (of `model`, checked when given)."""
        if (photo is None) == (vector is None):
            raise ValueError("give exactly one of photo and vector")
        request = index_pb2.SearchRequest(collection=collection, k=k, model=model)
        if photo is not None:
            request.photo = _photo(photo)
        else:
            request.vector.values.extend([float(v) for v in vector])
        return SearchResult.from_message(self._call(self._index.Search, request))

    def cluster(self, collection: str = "photos", min_size: int = 1, link_far: float = 0.0) -> index_pb2.GroupsResponse:
        """Group the collection's faces by person (0 for link_far: the server's default, 1e-5)."""
        request = index_pb2.ClusterRequest(collection=collection, min_size=min_size, link_far=link_far)
        return self._call(self._index.Cluster, request, timeout=max(self.timeout, 600.0))

    def groups(self, collection: str = "photos") -> index_pb2.GroupsResponse:
        """The groups as they stand: the last clustering plus faces assigned since."""
        return self._call(self._index.Groups, index_pb2.GroupsRequest(collection=collection))

    def merge_groups(self, group_id: int, other_group_id: int, collection: str = "photos") -> index_pb2.GroupsResponse:
        """Correction: the other group joins the first, in every later clustering too."""
        request = index_pb2.CorrectRequest(collection=collection, merge=index_pb2.Merge(group_id=group_id, other_group_id=other_group_id))
        return self._call(self._index.Correct, request, retry=False)

    def split_face(self, face_id: str, collection: str = "photos") -> index_pb2.GroupsResponse:
        """Correction: this face is not the person its group shows."""
        request = index_pb2.CorrectRequest(collection=collection, split=index_pb2.Split(face_id=str(face_id)))
        return self._call(self._index.Correct, request, retry=False)

    def name_group(self, group_id: int, subject_id: str, collection: str = "photos") -> index_pb2.GroupsResponse:
        """Correction: name a group; it becomes a gate subject enrolled from its best faces."""
        request = index_pb2.CorrectRequest(collection=collection, name=index_pb2.Name(group_id=group_id, subject_id=subject_id))
        return self._call(self._index.Correct, request, retry=False)

    def undo(self, collection: str = "photos") -> index_pb2.GroupsResponse:
        """Take back the last correction."""
        return self._call(self._index.Undo, index_pb2.UndoRequest(collection=collection), retry=False)

    def create_collection(self, collection: str, dim: int) -> Stats:
        """A collection for your own vectors (any dimension 1..4096)."""
        return Stats.from_message(self._call(self._index.CreateCollection, index_pb2.CreateCollectionRequest(collection=collection, dim=dim)))

    def add_vectors(self, collection: str, ids, vectors) -> Stats:
        """Add or replace vectors under your int64 ids."""
        request = index_pb2.AddVectorsRequest(
            collection=collection, ids=[int(i) for i in ids],
            vectors=[index_pb2.Vector(values=[float(x) for x in v]) for v in vectors],
        )
        return Stats.from_message(self._call(self._index.AddVectors, request))

    def remove_vectors(self, collection: str, ids) -> Stats:
        request = index_pb2.RemoveVectorsRequest(collection=collection, ids=[int(i) for i in ids])
        return Stats.from_message(self._call(self._index.RemoveVectors, request))

    def kmeans(self, collection: str, k: int = 0, iterations: int = 0, photos: bool = False) -> Clusters:
        """k-means over a collection (k=0: chosen by the server); with `photos`, over its whole-photo vectors
        (grouping by scene or event)."""
        request = index_pb2.KMeansRequest(collection=collection, k=k, iterations=iterations, photos=photos)
        return Clusters.from_message(self._call(self._index.KMeans, request, timeout=max(self.timeout, 600.0)))

    def search_photos(self, text: str | None = None, photo: bytes | str | Path | None = None, vector=None, k: int = 10,
                      collection: str = "photos", model: str = "") -> PhotoSearchResult:
        """Photos nearest to words, to a photo (likeness) or to a vector of the collection's image model."""
        if sum(q is not None for q in (text, photo, vector)) != 1:
            raise ValueError("give exactly one of text, photo and vector")
        request = index_pb2.SearchPhotosRequest(collection=collection, k=k, model=model)
        if text is not None:
            request.text = text
        elif photo is not None:
            request.photo = _photo(photo)
        else:
            request.vector.values.extend([float(v) for v in vector])
        return PhotoSearchResult.from_message(self._call(self._index.SearchPhotos, request, timeout=max(self.timeout, 60.0)))

    def similar_photos(self, collection: str = "photos", threshold: float = 0.0, min_size: int = 2) -> NearDuplicates:
        """Groups of near-duplicate photos (threshold 0: the one measured for the collection's image model)."""
        request = index_pb2.SimilarPhotosRequest(collection=collection, threshold=threshold, min_size=min_size)
        return NearDuplicates.from_message(self._call(self._index.SimilarPhotos, request, timeout=max(self.timeout, 600.0)))

    def set_image_model(self, collection: str, image_model: str) -> Stats:
        """Give a photo collection an image model; its photos are embedded again in the background (see `stats`)."""
        request = index_pb2.SetImageModelRequest(collection=collection, image_model=image_model)
        return Stats.from_message(self._call(self._index.SetImageModel, request))

    def stats(self, collection: str = "photos") -> Stats:
        """Photos and faces of a face collection, or vectors of a plain-vector one."""
        return Stats.from_message(self._call(self._index.Stats, index_pb2.StatsRequest(collection=collection)))

    # --- encoder ---------------------------------------------------------------------------

    def embed(self, photo: bytes | str | Path, model: str = "") -> encoder_pb2.EmbedResponse:
        """Every face in a photo with its vector."""
        return self._call(self._encoder.Embed, encoder_pb2.EmbedRequest(photo=_photo(photo), model=model))

    def embed_photo(self, photo: bytes | str | Path, model: str) -> Embedding:
        """One whole-photo vector with a model's image tower."""
        reply = self._call(self._encoder.EmbedPhoto, encoder_pb2.EmbedPhotoRequest(photo=_photo(photo), model=model))
        return Embedding(np.asarray(reply.vector, np.float32), reply.model)

    def embed_text(self, texts: str | Sequence[str], model: str) -> list[Embedding]:
        """One vector per text with a model's text tower (each marked when it was cut to the context length)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        request = encoder_pb2.EmbedTextRequest(texts=[t.encode("utf-8") for t in texts], model=model)
        reply = self._call(self._encoder.EmbedText, request)
        return [Embedding(np.asarray(v.vector, np.float32), reply.model, v.truncated) for v in reply.vectors]

    def embed_audio(self, audio: bytes | str | Path, model: str) -> Embedding:
        """One vector of an audio clip (16-bit PCM WAV bytes or file) with a model's audio tower."""
        reply = self._call(self._encoder.EmbedAudio, encoder_pb2.EmbedAudioRequest(audio=_photo(audio), model=model))
        return Embedding(np.asarray(reply.vector, np.float32), reply.model)

    def embed_many(self, items: Iterable[tuple[str, str, str, bytes | str | Path]]) -> Iterator[Embedding | FacegridError]:
        """Many (id, model, kind, input) over one stream, kind "photo", "text" or "audio"; results in order, an
        item's failure as a FacegridError in its place (the stream goes on)."""
        def requests():
            for item_id, model, kind, value in items:
                if kind == "text":
                    yield encoder_pb2.EmbedItem(id=item_id, model=model, text=str(value).encode("utf-8"))
                elif kind == "photo":
                    yield encoder_pb2.EmbedItem(id=item_id, model=model, photo=_photo(value))
                elif kind == "audio":
                    yield encoder_pb2.EmbedItem(id=item_id, model=model, audio=_photo(value))
                else:
                    raise ValueError(f"kind must be 'photo', 'text' or 'audio', got {kind!r}")

        try:
            for result in self._encoder.EmbedStream(requests(), metadata=self._metadata):
                if result.error_code:
                    yield FacegridError(_code_of(result.error_code), result.error, item_id=result.id)
                else:
                    yield Embedding(np.asarray(result.vector, np.float32), result.model, result.truncated, result.id)
        except grpc.RpcError as error:
            raise FacegridError.from_rpc(error) from None

    def models(self) -> list[ModelInfo]:
        """Every model the server can run, with its modalities and dimension."""
        return [ModelInfo.from_message(m) for m in self._call(self._encoder.ListModels, encoder_pb2.ListModelsRequest()).models]

    # --- administration (scope admin) -------------------------------------------------------

    def create_key(self, name: str, scopes: Iterable[str], door: str = "") -> CreatedKey:
        """A new API key; `key` is shown this once (the server keeps its hash only). `door`: a gate key bound to that
        door, which may only call Pass as it."""
        request = admin_pb2.CreateKeyRequest(name=name, scopes=list(scopes), door=door)
        reply = self._call(self._admin.CreateKey, request, retry=False)
        return CreatedKey(reply.key, _key_info(reply.record))

    def list_keys(self) -> list[ApiKeyInfo]:
        return [_key_info(k) for k in self._call(self._admin.ListKeys, admin_pb2.ListKeysRequest()).keys]

    def revoke_key(self, name: str) -> ApiKeyInfo:
        """Revoke a key: refused from the next call on."""
        return _key_info(self._call(self._admin.RevokeKey, admin_pb2.RevokeKeyRequest(name=name)))

    def audit(self, subject: str = "", since: float = 0.0, page_size: int = 500, door: str = "") -> Iterable[AuditRecord]:
        """Audit entries, oldest first, from `since` (Unix time), of one subject and one door if given; page by page."""
        token = ""
        while True:
            request = admin_pb2.ListAuditRequest(subject_id=subject, since=since, limit=page_size, page_token=token, door=door)
            reply = self._call(self._admin.ListAudit, request)
            for e in reply.entries:
                yield AuditRecord(e.id, e.time, e.key_name, e.rpc, e.subject_id, e.decision,
                                  e.score if e.HasField("score") else None,
                                  e.threshold if e.HasField("threshold") else None, e.peer, e.detail, e.door, e.reason)
            token = reply.next_page_token
            if not token:
                return

    # --- doors (scope admin) -----------------------------------------------------------------

    def set_door(self, name: str, groups: Iterable[str] = (), hours: str = "", timezone: str = "",
                 fallback: str = "") -> DoorInfo:
        """Create or replace a door's rule: the groups it admits (none: nobody), weekly hours in its IANA time zone
        ("Mon-Fri 06:00-22:00; Sat 08:00-18:00"; "" always open), a fallback note for those it denies."""
        door = gate_pb2.Door(name=name, groups=list(groups), hours=hours, timezone=timezone, fallback=fallback)
        return DoorInfo.from_message(self._call(self._admin.SetDoor, door))

    def doors(self) -> list[DoorInfo]:
        """Every door's rule, by name."""
        return [DoorInfo.from_message(d) for d in self._call(self._admin.ListDoors, admin_pb2.ListDoorsRequest()).doors]

    def delete_door(self, name: str) -> DoorInfo:
        """Remove a door's rule; the rule removed."""
        return DoorInfo.from_message(self._call(self._admin.DeleteDoor, admin_pb2.DeleteDoorRequest(name=name)))
