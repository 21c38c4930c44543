"""Python client: `Facegrid(address, api_key=..., tls=...)` with enroll, verify, identify, forget, subjects,
a door's pass_burst, doors, embed, the photo library, and key management.

Every method returns typed results (frozen dataclasses of clients/results.py, library_results.py and
door_results.py) or plain Python values, never a protobuf message; a refused call raises FacegridError.
The channel, key, TLS, deadlines and retries are clients/transport.py's; the messages become results in
clients/convert.py. The SDK reads no environment: the CLI's defaults are clients/settings.py's.

Every call has a deadline. Idempotent calls (verify, identify, reads, and enroll, which the server
deduplicates by photo hash) are retried with backoff when the server is briefly unavailable; forget is not
retried blindly, since a second forget of a gone subject says NOT_FOUND.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from grpc_health.v1 import health_pb2, health_pb2_grpc

from facegrid.v1 import (admin_pb2, admin_pb2_grpc, encoder_pb2, encoder_pb2_grpc, gate_pb2, gate_pb2_grpc, index_pb2,
                         index_pb2_grpc)

from . import convert
from .door_results import DoorInfo, PassResult, SubjectInfo, Template
from .errors import FacegridError
from .library_results import (Clusters, Group, GroupFace, Groups, IndexedPhoto, NamedFace, Naming, NearDuplicates, PhotoHit,
                              PhotoSearchResult, QueryHits, Reembed, SearchHit, SearchResult, Stats)
from .results import (ApiKeyInfo, AuditRecord, Box, CreatedKey, EmbeddedFace, Embedding, EnrollResult, FaceEmbeddings,
                      IdentifyResult, ModelInfo, PhotoOutcome, ProbeRefusal, Quality, VerifyResult)
from .settings import ClientSettings
from .transport import DEFAULT_ADDRESS, TLS, Transport

__all__ = [
    "DEFAULT_ADDRESS", "TLS", "ClientSettings", "Facegrid", "FacegridError",
    "ApiKeyInfo", "AuditRecord", "Box", "Clusters", "CreatedKey", "DoorInfo", "EmbeddedFace", "Embedding", "EnrollResult",
    "FaceEmbeddings", "Group", "GroupFace", "Groups", "IdentifyResult", "IndexedPhoto", "ModelInfo", "NamedFace", "Naming",
    "NearDuplicates", "PassResult", "PhotoHit", "PhotoOutcome", "PhotoSearchResult", "ProbeRefusal", "Quality", "QueryHits",
    "Reembed", "SearchHit", "SearchResult", "Stats", "SubjectInfo", "Template", "VerifyResult",
]

Photo = bytes | str | Path  # a photo's bytes, or the path of its file


def _photo(photo: Photo) -> bytes:
    return photo if isinstance(photo, bytes) else Path(photo).read_bytes()


class Facegrid:
    """A connection to a facegrid server (127.0.0.1:50051 unless `address` says otherwise)."""

    def __init__(self, address: str | None = None, timeout: float = 10.0, retries: int = 3, max_message_mb: int = 64,
                 api_key: str | None = None, tls: TLS | bool | None = None, connect_timeout: float = 5.0) -> None:
        """A client of the server at `address`; the arguments are clients/transport.py Transport's."""
        self.address = address or DEFAULT_ADDRESS
        self.transport = Transport(self.address, timeout, retries, max_message_mb, api_key, tls, connect_timeout)
        channel = self.transport.channel
        self._gate = gate_pb2_grpc.GateServiceStub(channel)
        self._encoder = encoder_pb2_grpc.EncoderServiceStub(channel)
        self._index = index_pb2_grpc.IndexServiceStub(channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)

    @classmethod
    def from_settings(cls, settings: ClientSettings, **options) -> "Facegrid":
        """A client for the server, key and TLS of `settings` (options: timeout, retries, ... as the constructor's)."""
        return cls(settings.server, api_key=settings.api_key, tls=settings.tls, **options)

    @property
    def timeout(self) -> float:
        """The deadline of a call, seconds (long calls get more)."""
        return self.transport.timeout

    def close(self) -> None:
        """Close the connection."""
        self.transport.close()

    def __enter__(self) -> "Facegrid":
        """The client itself, closed at the end of the `with` block."""
        return self

    def __exit__(self, *exc) -> None:
        """Close the connection."""
        self.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server accepts connections."""
        self.transport.wait_ready(timeout)

    def health(self, service: str = "") -> str:
        """The gRPC health status of the server (or of one service): SERVING, NOT_SERVING, ... (no key needed)."""
        return convert.serving_status(self.transport.call(self._health.Check, health_pb2.HealthCheckRequest(service=service)))

    # --- gate ------------------------------------------------------------------------------

    def enroll(self, subject: str, photos: Iterable[Photo], display_name: str = "", groups: Iterable[str] = (),
               replace: bool = False) -> EnrollResult:
        """Add photos of a subject (and `groups` to those it has); each photo's outcome (accepted, or refused with the reason).

        A photo unlike the subject's enrolled ones is refused (issue NOT_LIKE_SUBJECT); `replace` (an admin key) takes
        it and then removes every older template that is not one of these photos. When no photo is accepted,
        FacegridError (FAILED_PRECONDITION) has every outcome in `.outcomes`."""
        request = gate_pb2.EnrollRequest(subject_id=subject, photos=[_photo(p) for p in photos], display_name=display_name,
                                         groups=list(groups), replace=replace)
        return convert.enroll_result(self.transport.call(self._gate.Enroll, request, timeout=max(self.timeout, 60.0)))

    def verify(self, subject: str, photo: Photo) -> VerifyResult:
        """Is the person in the photo this subject?"""
        request = gate_pb2.VerifyRequest(subject_id=subject, photo=_photo(photo))
        return convert.verify_result(self.transport.call(self._gate.Verify, request))

    def identify(self, photo: Photo, candidates: int = 5) -> IdentifyResult:
        """Who is in the photo (subject None: unknown)."""
        request = gate_pb2.IdentifyRequest(photo=_photo(photo), candidates=candidates)
        return convert.identify_result(self.transport.call(self._gate.Identify, request))

    def forget(self, subject: str) -> int:
        """Delete a subject; how many templates were removed."""
        reply = self.transport.call(self._gate.Forget, gate_pb2.ForgetRequest(subject_id=subject), retry=False)
        return reply.templates_removed

    def subject(self, subject: str) -> SubjectInfo:
        """A subject's record with its templates (NOT_FOUND when there is none)."""
        return convert.subject_info(self.transport.call(self._gate.GetSubject, gate_pb2.GetSubjectRequest(subject_id=subject)))

    def update_subject(self, subject: str, groups: Iterable[str] | None = None, suspended: bool | None = None,
                       expires_at: float | None = None, status_reason: str = "") -> SubjectInfo:
        """Set a subject's groups (None: kept; [] : none), suspend or reactivate it (with `status_reason`, why: kept
        with the status), set when it expires (Unix time; 0: never; None: kept); its record after (scope enroll)."""
        request = gate_pb2.UpdateSubjectRequest(subject_id=subject, status_reason=status_reason)
        if groups is not None:
            request.groups.extend(groups)
            request.set_groups = True
        if suspended is not None:
            request.status = convert.subject_status(suspended)
        if expires_at is not None:
            request.expires_at = expires_at
        return convert.subject_info(self.transport.call(self._gate.UpdateSubject, request))

    def pass_burst(self, frames: list[bytes], door: str, subject_id: str = "", track: str = "", challenge: str = "none",
                   frame_times: Sequence[float] | None = None, timeout: float | None = None,
                   allow_groups: bool = False) -> PassResult:
        """A door's decision on one approach: its best frames (encoded photos, best first), verified against the card's
        `subject_id` or identified. Refusals of the person come back as decision "DENY" with the reason; a
        FacegridError means the call itself failed, which a door must treat as a denial too. Not retried: a door
        answers now or denies (SERVER_UNAVAILABLE is the client's to set). `challenge`: none, turn_left, turn_right,
        look_up; `frame_times`: seconds since the first frame, one per frame."""
        request = gate_pb2.PassRequest(frames=list(frames), door=door, subject_id=subject_id, track=track,
                                       challenge=convert.challenge(challenge), frame_times=list(frame_times or ()),
                                       allow_groups=allow_groups)
        return convert.pass_result(self.transport.call(self._gate.Pass, request, retry=False, timeout=timeout))

    def subjects(self, page_size: int = 100) -> Iterator[SubjectInfo]:
        """Every subject, page by page (without their templates: `subject` has them)."""
        token = ""
        while True:
            request = gate_pb2.ListSubjectsRequest(page_size=page_size, page_token=token)
            reply = self.transport.call(self._gate.ListSubjects, request)
            yield from (convert.subject_info(s) for s in reply.subjects)
            token = reply.next_page_token
            if not token:
                return

    # --- photo library ---------------------------------------------------------------------

    def index_photos(self, photos: Iterable[tuple], collection: str = "photos", image_model: str = "") -> Iterator[IndexedPhoto]:
        """Stream (path, bytes[, sha256]) photos to the server over one call; one result per photo, in order.

        Bytes may be empty for a photo whose sha256 the server already holds (see `known_photos`):
        then only its path is recorded. Not retried: re-run it, already indexed photos are skipped.
        `image_model`: the collection's image model (made with it if new): each photo gets a whole-photo vector too.
        """
        def request(item: tuple) -> index_pb2.IndexPhotoRequest:
            path, data = item[0], item[1]
            digest = item[2] if len(item) > 2 else hashlib.sha256(data).hexdigest()
            return index_pb2.IndexPhotoRequest(collection=collection, path=path, photo=data, photo_sha256=digest,
                                               image_model=image_model)

        for result in self.transport.stream(self._index.IndexPhotos, (request(item) for item in photos)):
            yield convert.indexed_photo(result)

    def known_photos(self, digests: list[str], collection: str = "photos") -> set[str]:
        """Which photo hashes the collection already holds."""
        request = index_pb2.KnownPhotosRequest(collection=collection, photo_sha256=digests)
        return set(self.transport.call(self._index.KnownPhotos, request).photo_sha256)

    def search(self, photo: Photo | None = None, vector: Sequence[float] | None = None, k: int = 10,
               collection: str = "photos", model: str = "") -> SearchResult:
        """Nearest indexed faces to each face of a photo, or to a vector (of `model`, checked when given)."""
        if (photo is None) == (vector is None):
            raise ValueError("give exactly one of photo and vector")
        request = index_pb2.SearchRequest(collection=collection, k=k, model=model)
        if photo is not None:
            request.photo = _photo(photo)
        else:
            request.vector.values.extend([float(v) for v in vector])
        return convert.search_result(self.transport.call(self._index.Search, request))

    def cluster(self, collection: str = "photos", min_size: int = 1, link_far: float = 0.0) -> Groups:
        """Group the collection's faces by person (0 for link_far: the server's default, 1e-5)."""
        request = index_pb2.ClusterRequest(collection=collection, min_size=min_size, link_far=link_far)
        return convert.groups(self.transport.call(self._index.Cluster, request, timeout=max(self.timeout, 600.0)))

    def groups(self, collection: str = "photos") -> Groups:
        """The groups as they stand: the last clustering plus faces assigned since."""
        return convert.groups(self.transport.call(self._index.Groups, index_pb2.GroupsRequest(collection=collection)))

    def merge_groups(self, group_id: int, other_group_id: int, collection: str = "photos") -> Groups:
        """Correction: the other group joins the first, in every later clustering too."""
        merge = index_pb2.Merge(group_id=group_id, other_group_id=other_group_id)
        return self._correct(index_pb2.CorrectRequest(collection=collection, merge=merge))

    def split_face(self, face_id: str, collection: str = "photos") -> Groups:
        """Correction: this face is not the person its group shows."""
        return self._correct(index_pb2.CorrectRequest(collection=collection, split=index_pb2.Split(face_id=str(face_id))))

    def name_group(self, group_id: int, subject_id: str, collection: str = "photos") -> Groups:
        """Correction: name a group; it becomes a gate subject enrolled from its best faces (what was: `naming`)."""
        name = index_pb2.Name(group_id=group_id, subject_id=subject_id)
        return self._correct(index_pb2.CorrectRequest(collection=collection, name=name))

    def _correct(self, request: index_pb2.CorrectRequest) -> Groups:
        return convert.groups(self.transport.call(self._index.Correct, request, retry=False))

    def undo(self, collection: str = "photos") -> Groups:
        """Take back the last correction."""
        return convert.groups(self.transport.call(self._index.Undo, index_pb2.UndoRequest(collection=collection), retry=False))

    def create_collection(self, collection: str, dim: int) -> Stats:
        """A collection for your own vectors (any dimension 1..4096)."""
        request = index_pb2.CreateCollectionRequest(collection=collection, dim=dim)
        return convert.stats(self.transport.call(self._index.CreateCollection, request))

    def add_vectors(self, collection: str, ids: Iterable[int], vectors: Iterable[Sequence[float]]) -> Stats:
        """Add or replace vectors under your int64 ids."""
        request = index_pb2.AddVectorsRequest(
            collection=collection, ids=[int(i) for i in ids],
            vectors=[index_pb2.Vector(values=[float(x) for x in v]) for v in vectors],
        )
        return convert.stats(self.transport.call(self._index.AddVectors, request))

    def remove_vectors(self, collection: str, ids: Iterable[int]) -> Stats:
        """Remove vectors by their ids."""
        request = index_pb2.RemoveVectorsRequest(collection=collection, ids=[int(i) for i in ids])
        return convert.stats(self.transport.call(self._index.RemoveVectors, request))

    def kmeans(self, collection: str, k: int = 0, iterations: int = 0, photos: bool = False) -> Clusters:
        """k-means over a collection (k=0: chosen by the server); with `photos`, over its whole-photo vectors
        (grouping by scene or event)."""
        request = index_pb2.KMeansRequest(collection=collection, k=k, iterations=iterations, photos=photos)
        return convert.clusters(self.transport.call(self._index.KMeans, request, timeout=max(self.timeout, 600.0)))

    def search_photos(self, text: str | None = None, photo: Photo | None = None, vector: Sequence[float] | None = None,
                      k: int = 10, collection: str = "photos", model: str = "") -> PhotoSearchResult:
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
        reply = self.transport.call(self._index.SearchPhotos, request, timeout=max(self.timeout, 60.0))
        return convert.photo_search_result(reply)

    def similar_photos(self, collection: str = "photos", threshold: float = 0.0, min_size: int = 2) -> NearDuplicates:
        """Groups of near-duplicate photos (threshold 0: the one measured for the collection's image model)."""
        request = index_pb2.SimilarPhotosRequest(collection=collection, threshold=threshold, min_size=min_size)
        return convert.near_duplicates(self.transport.call(self._index.SimilarPhotos, request, timeout=max(self.timeout, 600.0)))

    def set_image_model(self, collection: str, image_model: str) -> Stats:
        """Give a photo collection an image model; its photos are embedded again in the background (see `stats`)."""
        request = index_pb2.SetImageModelRequest(collection=collection, image_model=image_model)
        return convert.stats(self.transport.call(self._index.SetImageModel, request))

    def stats(self, collection: str = "photos") -> Stats:
        """Photos and faces of a face collection, or vectors of a plain-vector one."""
        return convert.stats(self.transport.call(self._index.Stats, index_pb2.StatsRequest(collection=collection)))

    # --- encoder ---------------------------------------------------------------------------

    def embed(self, photo: Photo, model: str = "") -> FaceEmbeddings:
        """Every face in a photo with its vector."""
        request = encoder_pb2.EmbedRequest(photo=_photo(photo), model=model)
        return convert.face_embeddings(self.transport.call(self._encoder.Embed, request))

    def embed_photo(self, photo: Photo, model: str) -> Embedding:
        """One whole-photo vector with a model's image tower."""
        request = encoder_pb2.EmbedPhotoRequest(photo=_photo(photo), model=model)
        return convert.embedding(self.transport.call(self._encoder.EmbedPhoto, request))

    def embed_text(self, texts: str | Sequence[str], model: str) -> list[Embedding]:
        """One vector per text with a model's text tower (each marked when it was cut to the context length)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        request = encoder_pb2.EmbedTextRequest(texts=[t.encode("utf-8") for t in texts], model=model)
        return convert.text_embeddings(self.transport.call(self._encoder.EmbedText, request))

    def embed_audio(self, audio: bytes | str | Path, model: str) -> Embedding:
        """One vector of an audio clip (16-bit PCM WAV bytes or file) with a model's audio tower."""
        request = encoder_pb2.EmbedAudioRequest(audio=_photo(audio), model=model)
        return convert.embedding(self.transport.call(self._encoder.EmbedAudio, request))

    def embed_many(self, items: Iterable[tuple[str, str, str, bytes | str | Path]]) -> Iterator[Embedding | FacegridError]:
        """Many (id, model, kind, input) over one stream, kind "photo", "text" or "audio"; results in order, an
        item's failure as a FacegridError in its place (the stream goes on)."""
        def requests() -> Iterator[encoder_pb2.EmbedItem]:
            for item_id, model, kind, value in items:
                if kind == "text":
                    yield encoder_pb2.EmbedItem(id=item_id, model=model, text=str(value).encode("utf-8"))
                elif kind == "photo":
                    yield encoder_pb2.EmbedItem(id=item_id, model=model, photo=_photo(value))
                elif kind == "audio":
                    yield encoder_pb2.EmbedItem(id=item_id, model=model, audio=_photo(value))
                else:
                    raise ValueError(f"kind must be 'photo', 'text' or 'audio', got {kind!r}")

        for result in self.transport.stream(self._encoder.EmbedStream, requests()):
            yield convert.stream_result(result)

    def models(self) -> list[ModelInfo]:
        """Every model the server can run, with its modalities and dimension."""
        reply = self.transport.call(self._encoder.ListModels, encoder_pb2.ListModelsRequest())
        return [convert.model_info(m) for m in reply.models]

    # --- administration (scope admin) -------------------------------------------------------

    def create_key(self, name: str, scopes: Iterable[str], door: str = "") -> CreatedKey:
        """A new API key; `key` is shown this once (the server keeps its hash only). `door`: a gate key bound to that
        door, which may only call Pass as it."""
        request = admin_pb2.CreateKeyRequest(name=name, scopes=list(scopes), door=door)
        return convert.created_key(self.transport.call(self._admin.CreateKey, request, retry=False))

    def list_keys(self) -> list[ApiKeyInfo]:
        """Every key's record (never the keys)."""
        return [convert.key_info(k) for k in self.transport.call(self._admin.ListKeys, admin_pb2.ListKeysRequest()).keys]

    def revoke_key(self, name: str) -> ApiKeyInfo:
        """Revoke a key: refused from the next call on."""
        return convert.key_info(self.transport.call(self._admin.RevokeKey, admin_pb2.RevokeKeyRequest(name=name)))

    def audit(self, subject: str = "", since: float = 0.0, page_size: int = 500, door: str = "") -> Iterator[AuditRecord]:
        """Audit entries, oldest first, from `since` (Unix time), of one subject and one door if given; page by page."""
        token = ""
        while True:
            request = admin_pb2.ListAuditRequest(subject_id=subject, since=since, limit=page_size, page_token=token, door=door)
            reply = self.transport.call(self._admin.ListAudit, request)
            yield from (convert.audit_record(e) for e in reply.entries)
            token = reply.next_page_token
            if not token:
                return

    # --- doors (scope admin) -----------------------------------------------------------------

    def set_door(self, name: str, groups: Iterable[str] = (), hours: str = "", timezone: str = "",
                 fallback: str = "") -> DoorInfo:
        """Create or replace a door's rule: the groups it admits (none: nobody), weekly hours in its IANA time zone
        ("Mon-Fri 06:00-22:00; Sat 08:00-18:00"; "" always open), a fallback note for those it denies."""
        door = gate_pb2.Door(name=name, groups=list(groups), hours=hours, timezone=timezone, fallback=fallback)
        return convert.door_info(self.transport.call(self._admin.SetDoor, door))

    def doors(self) -> list[DoorInfo]:
        """Every door's rule, by name."""
        return [convert.door_info(d) for d in self.transport.call(self._admin.ListDoors, admin_pb2.ListDoorsRequest()).doors]

    def delete_door(self, name: str) -> DoorInfo:
        """Remove a door's rule; the rule removed."""
        return convert.door_info(self.transport.call(self._admin.DeleteDoor, admin_pb2.DeleteDoorRequest(name=name)))
