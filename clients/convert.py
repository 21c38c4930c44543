"""The server's protobuf messages as the SDK's typed results, and the SDK's words as the messages' enums.

One function per message, named after the result it makes; nothing here talks to a server. A failed call's
google.rpc details (ErrorInfo, RetryInfo, a refused Enroll's outcomes, a refused probe) become a FacegridError.
"""

from __future__ import annotations

import grpc
import numpy as np
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status

from facegrid.v1 import admin_pb2, encoder_pb2, gate_pb2, index_pb2

from .door_results import DoorInfo, PassResult, SubjectInfo, Template
from .errors import FacegridError
from .library_results import (Clusters, Group, GroupFace, Groups, IndexedPhoto, NamedFace, Naming, NearDuplicates, PhotoHit,
                              PhotoSearchResult, QueryHits, Reembed, SearchHit, SearchResult, Stats)
from .results import (ApiKeyInfo, AuditRecord, Box, CreatedKey, EmbeddedFace, Embedding, EnrollResult, FaceEmbeddings,
                      IdentifyResult, ModelInfo, PhotoOutcome, ProbeRefusal, Quality, VerifyResult)

CHALLENGES = {"none": gate_pb2.NO_CHALLENGE, "turn_left": gate_pb2.TURN_LEFT, "turn_right": gate_pb2.TURN_RIGHT,
              "look_up": gate_pb2.LOOK_UP}
_CODES = {code.value[0]: code for code in grpc.StatusCode}
_TIMINGS = ("decode", "detect", "liveness", "embed", "search", "rule", "total")


# --- errors ------------------------------------------------------------------------------

def status_code(number: int) -> grpc.StatusCode:
    """The status code of a google.rpc.Code number (UNKNOWN for one gRPC does not know)."""
    return _CODES.get(number, grpc.StatusCode.UNKNOWN)


def _details(error: grpc.RpcError) -> list[Message]:
    """The detail messages of a failed call (google.rpc.Status in grpc-status-details-bin), decoded where known."""
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):  # a status that does not match its details, or not a call
        return []
    known = (error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo, gate_pb2.EnrollResponse, gate_pb2.PhotoRefusal)
    decoded = []
    for detail in status.details if status is not None else []:
        kind = next((k for k in known if detail.Is(k.DESCRIPTOR)), None)
        if kind is None:
            decoded.append(detail)  # left packed: a kind this client does not know
            continue
        message = kind()
        detail.Unpack(message)
        decoded.append(message)
    return decoded


def facegrid_error(failed: grpc.RpcError) -> FacegridError:
    """A failed call as a FacegridError, with the reason, wait, outcomes and refusal its details carry."""
    details = _details(failed)

    def first(kind):
        return next((d for d in details if isinstance(d, kind)), None)

    info, retry = first(error_details_pb2.ErrorInfo), first(error_details_pb2.RetryInfo)
    enrolled, refusal = first(gate_pb2.EnrollResponse), first(gate_pb2.PhotoRefusal)
    return FacegridError(
        failed.code(), failed.details() or "", details,
        reason=info.reason if info is not None else "",
        retry_after=retry.retry_delay.ToTimedelta().total_seconds() if retry is not None else None,
        outcomes=[photo_outcome(o) for o in enrolled.photos] if enrolled is not None else (),
        refusal=probe_refusal(refusal) if refusal is not None else None,
    )


# --- enums, both ways --------------------------------------------------------------------

def issue_name(value: int) -> str | None:
    """A PhotoIssue as its name (e.g. "FACE_TOO_SMALL"), None when unspecified."""
    return gate_pb2.PhotoIssue.Name(value) if value else None


def band_name(value: int) -> str | None:
    """gate.proto's ScoreBand as its name ("LOW", "MEDIUM", "HIGH"); None when unset."""
    return gate_pb2.ScoreBand.Name(value) if value else None


def challenge(name: str) -> int:
    """A Pass challenge's name (none, turn_left, turn_right, look_up) as gate.proto's Challenge; ValueError for others."""
    if name not in CHALLENGES:
        raise ValueError(f"challenge must be one of {', '.join(CHALLENGES)}, got {name!r}")
    return CHALLENGES[name]


def subject_status(suspended: bool) -> int:
    """Suspended or active as gate.proto's SubjectStatus."""
    return gate_pb2.SUBJECT_SUSPENDED if suspended else gate_pb2.SUBJECT_ACTIVE


def serving_status(reply: health_pb2.HealthCheckResponse) -> str:
    """A health check's answer in a word: SERVING, NOT_SERVING, ..."""
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


# --- the gate ----------------------------------------------------------------------------

def box(message: encoder_pb2.Box) -> Box:
    """A Box message as (x, y, width, height)."""
    return (message.x, message.y, message.width, message.height)


def quality(q: encoder_pb2.Quality) -> Quality:
    """A face's quality measures."""
    return Quality(q.size, q.interocular, q.sharpness, q.yaw, q.pitch, q.roll, q.detector_score)


def photo_outcome(o: gate_pb2.PhotoOutcome) -> PhotoOutcome:
    """One Enroll photo's outcome."""
    return PhotoOutcome(o.index, o.accepted, o.template_id, o.reason, issue_name(o.issue), list(o.warnings), o.duplicate,
                        quality(o.quality) if o.HasField("quality") else None, o.resembles)


def enroll_result(reply: gate_pb2.EnrollResponse) -> EnrollResult:
    """Enroll's answer."""
    return EnrollResult(reply.subject_id, [photo_outcome(o) for o in reply.photos], reply.templates, reply.templates_removed)


def probe_refusal(r: gate_pb2.PhotoRefusal) -> ProbeRefusal:
    """Why a probe was refused, with the face judged."""
    return ProbeRefusal(issue_name(r.issue), r.reason, box(r.face) if r.HasField("face") else None,
                        quality(r.quality) if r.HasField("quality") else None)


def verify_result(reply: gate_pb2.VerifyResponse) -> VerifyResult:
    """Verify's answer (the numbers None where the key may not see them)."""
    decided, d = reply.HasField("decision"), reply.decision
    return VerifyResult(reply.match, d.score if decided else None, d.threshold if decided else None,
                        d.estimated_far if decided else None, box(reply.face), quality(reply.quality),
                        issue_name(reply.quality_issue), reply.quality_warning, band_name(reply.band), reply.other_faces)


def identify_result(reply: gate_pb2.IdentifyResponse) -> IdentifyResult:
    """Identify's answer (subject None: unknown)."""
    decided, d = reply.HasField("decision"), reply.decision
    return IdentifyResult(
        subject=reply.subject_id if reply.known else None,
        score=d.score if decided else None,
        threshold=d.threshold if decided else None,
        estimated_far=d.estimated_far if decided else None,
        margin=reply.margin,
        candidates=[(c.subject_id, c.score) for c in reply.candidates],
        reason=reply.reason,
        unknown_reason=gate_pb2.UnknownReason.Name(reply.unknown_reason) if reply.unknown_reason else None,
        quality=quality(reply.quality),
        quality_issue=issue_name(reply.quality_issue),
        quality_warning=reply.quality_warning,
        band=band_name(reply.band),
        other_faces=reply.other_faces,
    )


def template(t: gate_pb2.Template) -> Template:
    """One enrolled template's record."""
    return Template(t.template_id, t.model, t.photo_sha256, quality(t.quality) if t.HasField("quality") else None,
                    t.created_at)


def subject_info(subject: gate_pb2.Subject) -> SubjectInfo:
    """A subject's record, with its templates where the message has them."""
    return SubjectInfo(subject.subject_id, subject.display_name, subject.created_at, list(subject.groups),
                       "suspended" if subject.status == gate_pb2.SUBJECT_SUSPENDED else "active",
                       subject.expires_at or None, [template(t) for t in subject.templates], subject.status_reason)


# --- the door ----------------------------------------------------------------------------

def pass_result(reply: gate_pb2.PassResponse) -> PassResult:
    """A door's Pass answer (score and threshold None for a gate key, which gets 0 for both)."""
    shown = reply.score != 0.0 or reply.threshold != 0.0
    return PassResult(
        decision=gate_pb2.PassDecision.Name(reply.decision),
        reason=gate_pb2.PassReason.Name(reply.reason),
        message=reply.message,
        subject=reply.subject_id,
        display_name=reply.display_name,
        band=band_name(reply.band),
        score=reply.score if shown else None,
        threshold=reply.threshold if shown else None,
        liveness=gate_pb2.Liveness.Name(reply.liveness),
        liveness_score=reply.liveness_score,
        frame_liveness=list(reply.frame_liveness),
        frame_used=reply.frame_used,
        door=reply.door,
        fallback=reply.fallback,
        timings={name: getattr(reply.timings, name) for name in _TIMINGS},
    )


def door_info(door: gate_pb2.Door) -> DoorInfo:
    """A door's rule."""
    return DoorInfo(door.name, list(door.groups), door.hours, door.timezone, door.fallback, door.updated_at,
                    door.last_seen_at or None)


# --- the encoder -------------------------------------------------------------------------

def model_info(m: encoder_pb2.ModelInfo) -> ModelInfo:
    """A model the server can run."""
    return ModelInfo(m.name, tuple(m.modalities) or (m.modality,), m.dim, m.metric, m.is_default, m.source or "shipped")


def _vector(values) -> np.ndarray:
    return np.asarray(values, np.float32)


def embedded_face(face: encoder_pb2.Face) -> EmbeddedFace:
    """One face of Embed's answer."""
    return EmbeddedFace(box(face.box), [(p.x, p.y) for p in face.landmarks], quality(face.quality), _vector(face.vector),
                        face.model, face.detector)


def face_embeddings(reply: encoder_pb2.EmbedResponse) -> FaceEmbeddings:
    """Embed's answer: every face of the photo."""
    return FaceEmbeddings([embedded_face(f) for f in reply.faces], reply.model, list(reply.detectors))


def embedding(reply: encoder_pb2.EmbedPhotoResponse | encoder_pb2.EmbedAudioResponse) -> Embedding:
    """A whole-photo or audio vector."""
    return Embedding(_vector(reply.vector), reply.model)


def text_embeddings(reply: encoder_pb2.EmbedTextResponse) -> list[Embedding]:
    """One vector per text, each marked when it was cut to the context length."""
    return [Embedding(_vector(v.vector), reply.model, v.truncated) for v in reply.vectors]


def stream_result(result: encoder_pb2.EmbedResult) -> Embedding | FacegridError:
    """One item of EmbedStream: its vector, or its failure as a FacegridError (the stream goes on)."""
    if result.error_code:
        return FacegridError(status_code(result.error_code), result.error, item_id=result.id)
    return Embedding(_vector(result.vector), result.model, result.truncated, result.id)


# --- the photo library -------------------------------------------------------------------

def indexed_photo(result: index_pb2.IndexPhotoResult) -> IndexedPhoto:
    """What IndexPhotos did with one photo."""
    return IndexedPhoto(result.path, result.photo_sha256, result.already_indexed, result.faces, result.error,
                        result.error_code)


def stats(reply: index_pb2.StatsResponse) -> Stats:
    """A collection's counts."""
    r = reply.reembed
    return Stats(reply.collection, reply.model, reply.dim, reply.photos, reply.faces, reply.vectors, reply.image_model,
                 reply.image_dim, reply.photo_vectors,
                 Reembed(r.state, r.done, r.total, r.missing) if reply.HasField("reembed") else None, reply.index)


def search_hit(hit: index_pb2.Hit) -> SearchHit:
    """One nearest neighbour: a face or a plain vector."""
    if not hit.face_id:
        return SearchHit(hit.score, vector_id=hit.vector_id)
    return SearchHit(hit.score, hit.face_id, None, hit.photo_sha256, list(hit.paths), box(hit.box))


def search_result(reply: index_pb2.SearchResponse) -> SearchResult:
    """Search's answer, one entry per query face."""
    return SearchResult([QueryHits(box(q.face) if q.HasField("face") else None, [search_hit(h) for h in q.hits])
                         for q in reply.queries])


def photo_hit(hit: index_pb2.PhotoHit) -> PhotoHit:
    """A photo found by whole-photo search."""
    return PhotoHit(hit.score, hit.photo_sha256, list(hit.paths))


def photo_search_result(reply: index_pb2.SearchPhotosResponse) -> PhotoSearchResult:
    """SearchPhotos' answer."""
    return PhotoSearchResult([photo_hit(h) for h in reply.hits], reply.model, reply.text_truncated)


def near_duplicates(reply: index_pb2.SimilarPhotosResponse) -> NearDuplicates:
    """SimilarPhotos' answer."""
    return NearDuplicates([[photo_hit(p) for p in g.photos] for g in reply.groups], reply.threshold,
                          reply.threshold_source, reply.photos)


def clusters(reply: index_pb2.KMeansResponse) -> Clusters:
    """KMeans' answer."""
    return Clusters(reply.k, list(reply.ids), list(reply.clusters), list(reply.sizes),
                    [p.photo_sha256 for p in reply.photos], [list(p.paths) for p in reply.photos])


def groups(reply: index_pb2.GroupsResponse) -> Groups:
    """A collection's face groups, and what a naming enrolled."""
    naming = None
    if reply.HasField("naming"):
        n = reply.naming
        naming = Naming(n.subject_id, n.created, [NamedFace(f.face_id, f.accepted, f.template_id, f.reason, list(f.warnings))
                                                  for f in n.faces])
    return Groups([Group(g.group_id, [GroupFace(f.face_id, f.photo_sha256, list(f.paths), box(f.box)) for f in g.faces], g.name)
                   for g in reply.groups], reply.unassigned, reply.threshold, naming)


# --- administration ----------------------------------------------------------------------

def key_info(message: admin_pb2.ApiKey) -> ApiKeyInfo:
    """A key's record (never the key)."""
    return ApiKeyInfo(message.name, list(message.scopes), message.created_at, message.last_used_at or None,
                      message.revoked, message.revoked_at or None, message.door)


def created_key(reply: admin_pb2.CreateKeyResponse) -> CreatedKey:
    """A key just made, and its record."""
    return CreatedKey(reply.key, key_info(reply.record))


def audit_record(e: admin_pb2.AuditEntry) -> AuditRecord:
    """One audit-log entry."""
    return AuditRecord(e.id, e.time, e.key_name, e.rpc, e.subject_id, e.decision, e.score if e.HasField("score") else None,
                       e.threshold if e.HasField("threshold") else None, e.peer, e.detail, e.door, e.reason)
