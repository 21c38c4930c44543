"""The JSON of the administration's and the encoder's routes: keys, the audit log, doors, models and a photo's faces,
named as admin.proto's and encoder.proto's messages. A key's record never carries the key nor its hash; a created
key is answered once, in CreatedKeyOut."""

from __future__ import annotations

from pydantic import BaseModel, Field

from facegrid.encoder.pipeline import Face
from facegrid.encoder.towers.registry import ModelEntry

from ..store.api_keys import KeyRecord
from ..store.audit import AuditEntry
from ..store.doors import DoorRecord
from .schemas import BoxOut, QualityOut

KEY_NAME = {"min_length": 1, "max_length": 64}
DOOR_NAME = {"min_length": 1, "max_length": 64}


class KeyOut(BaseModel):
    """An API key's record: its name, scopes, door and life (never the key nor its hash)."""

    name: str
    scopes: list[str]
    door: str = Field("", description="the door a gate key is bound to; empty: any door")
    created_at: float
    last_used_at: float = Field(0.0, description="Unix time of its last use (to within a minute); 0: never used")
    revoked: bool
    revoked_at: float = Field(0.0, description="0 while it is live")

    @classmethod
    def of(cls, record: KeyRecord) -> "KeyOut":
        """A key's record as sent (its digest stays on the server)."""
        return cls(name=record.name, scopes=list(record.scopes), door=record.door, created_at=record.created_at,
                   last_used_at=record.last_used_at or 0.0, revoked=record.revoked, revoked_at=record.revoked_at or 0.0)


class KeysOut(BaseModel):
    """Every key, live or revoked, by name."""

    keys: list[KeyOut]


class NewKey(BaseModel):
    """A key to create: its name, scopes and (a gate key only) the door it is bound to."""

    name: str = Field(description="1 to 64 letters, digits and . _ -", **KEY_NAME)
    scopes: list[str] = Field(description="at least one of gate, enroll, library, embed, admin", min_length=1, max_length=5)
    door: str = Field("", description="bind a gate key to this door: it may only pass as it", max_length=64)


class CreatedKeyOut(BaseModel):
    """A new key: `key` is shown in this answer only (the server keeps its SHA-256)."""

    key: str
    record: KeyOut


class AuditEntryOut(BaseModel):
    """One audited event (admin.proto's AuditEntry): never face data, photos, vectors or keys."""

    id: str = Field(description="the entry's id in the log")
    time: float = Field(description="Unix time, seconds")
    key_name: str
    rpc: str = Field(description="the gRPC method the call was or mirrors, e.g. GateService/Verify")
    subject_id: str = Field("", description="the subject's id, or its pseudonym once it is forgotten")
    decision: str
    score: float | None = None
    threshold: float | None = None
    peer: str = ""
    detail: str = ""
    door: str = ""
    reason: str = ""

    @classmethod
    def of(cls, entry: AuditEntry) -> "AuditEntryOut":
        """An entry as read back from the log."""
        return cls(id=entry.entry_id, time=entry.time, key_name=entry.key_name, rpc=entry.rpc, subject_id=entry.subject_id,
                   decision=entry.decision, score=entry.score, threshold=entry.threshold, peer=entry.peer,
                   detail=entry.detail, door=entry.door, reason=entry.reason)


class AuditOut(BaseModel):
    """One page of the audit log; pass `next_page_token` back for the next ("" after the last)."""

    entries: list[AuditEntryOut]
    next_page_token: str


class DoorRule(BaseModel):
    """A door's rule (gate.proto's Door but its name, which is in the path)."""

    groups: list[str] = Field([], description="subjects in any of these groups may pass; none: nobody", max_length=64)
    hours: str = Field("", description='weekly hours in the door\'s time zone, e.g. "Mon-Fri 06:00-22:00; Sat 08:00-18:00"; '
                                       "empty: always open", max_length=512)
    timezone: str = Field("", description='IANA name, e.g. "Europe/Berlin"; empty: UTC', max_length=64)
    fallback: str = Field("", description="shown to the person and the desk on a denial, e.g. card + PIN", max_length=256)


class DoorOut(DoorRule):
    """A door's rule as stored."""

    name: str
    updated_at: float
    last_seen_at: float = Field(description="the last Pass from this door; 0: never")

    @classmethod
    def of(cls, record: DoorRecord) -> "DoorOut":
        """A door's record as sent."""
        return cls(name=record.name, groups=list(record.groups), hours=record.hours, timezone=record.timezone,
                   fallback=record.fallback, updated_at=record.updated_at, last_seen_at=record.last_seen_at)


class DoorsOut(BaseModel):
    """Every door, by name."""

    doors: list[DoorOut]


class ModelOut(BaseModel):
    """A model this server runs (encoder.proto's ModelInfo)."""

    name: str
    modality: str = Field(description='the first of `modalities`: "face", "image", "text", ...')
    modalities: list[str]
    dim: int
    metric: str
    is_default: bool = Field(description="the default face model")
    source: str = Field(description='"shipped", or "folder" for an operator-supplied model folder')

    @classmethod
    def of(cls, entry: ModelEntry) -> "ModelOut":
        """A registry entry as ListModels sends it."""
        return cls(name=entry.name, modality=entry.modalities[0], modalities=list(entry.modalities), dim=entry.dim,
                   metric=entry.metric, is_default=entry.is_default,
                   source="shipped" if entry.source == "shipped" else "folder")


class ModelsOut(BaseModel):
    """The models this server runs, and the model folders it could not import (server paths left out)."""

    models: list[ModelOut]
    broken: list[str] = Field(description="each folder that could not be loaded, with what is wrong")


class PointOut(BaseModel):
    """A landmark in the photo's pixels."""

    x: float
    y: float


class FaceOut(BaseModel):
    """A face of the caller's own photo, with its vector (encoder.proto's Face)."""

    box: BoxOut
    landmarks: list[PointOut] = Field(description="right eye, left eye, nose tip, right and left mouth corners")
    quality: QualityOut
    vector: list[float] = Field(description="unit length: the cosine of two faces is their inner product")
    model: str
    detector: str

    @classmethod
    def of(cls, face: Face) -> "FaceOut":
        """A found face with its vector."""
        return cls(box=BoxOut.of(face), landmarks=[PointOut(x=float(x), y=float(y)) for x, y in face.landmarks],
                   quality=QualityOut.of(face.quality), vector=face.vector.tolist(), model=face.model,
                   detector=face.detector)


class EmbedOut(BaseModel):
    """Every face of a photo (the probe face alone where asked), and the model that embedded them."""

    faces: list[FaceOut]
    model: str
    detectors: list[str] = Field([], description="with `probe`: the detectors that looked, in order")
