"""Face pipelines and tower models whose work is done by encoder servers: encoder/ports.py's FaceEncoder,
FaceEncoders, TowerEncoder and TowerEncoders (as FacePipeline, Pipelines, TowerModel and ModelRegistry are in
this process), so the domain code is the same in every role."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from facegrid.encoder.detect import Detection
from facegrid.encoder.errors import MissingModality, UnknownModel
from facegrid.encoder.pipeline import Face, FoundFaces
from facegrid.encoder.towers.model import Texts
from facegrid.encoder.towers.registry import ModelEntry
from facegrid.v1 import encoder_pb2

from ..rpc.messages import quality_of
from .encoders import EncoderPool

LIST_AGAIN_S = 5.0  # a model not known yet is asked for again at most this often (an encoder may have gained it)


def face_of(message: encoder_pb2.Face) -> Face:
    """A Face from the encoder's reply, as the local pipeline would have made it."""
    return Face(
        box=(message.box.x, message.box.y, message.box.width, message.box.height),
        landmarks=np.array([[p.x, p.y] for p in message.landmarks], dtype=np.float32).reshape(-1, 2),
        detector=message.detector,
        quality=quality_of(message.quality),
        vector=np.asarray(message.vector, dtype=np.float32),
        model=message.model,
    )


@dataclass(frozen=True)
class RemoteFound(FoundFaces):
    """A probe's largest face, found and embedded by an encoder in one call (one hop, not two)."""

    faces: tuple[Face, ...] = ()


@dataclass(frozen=True)
class RemoteFaceModel:
    """A face model's name and vector length; its graph runs on the encoders."""

    name: str
    dim: int

    def close(self) -> None:
        """Nothing to stop here: the encoders own the batchers."""


class RemoteFacePipeline:
    """FacePipeline's serving calls (faces, find_faces + embed_one) as Embed calls to the encoders."""

    detector = None  # detection runs on the encoders; the gate's probe_detector(None) is None

    def __init__(self, pool: EncoderPool, model: RemoteFaceModel) -> None:
        self.pool = pool
        self.model = model

    def faces(self, data: bytes, subject: str = "all", guess_when_missing: bool = False) -> list[Face]:
        """Every face in a photo's bytes (an empty list when there is none)."""
        reply = self.pool.call("Embed", encoder_pb2.EmbedRequest(photo=data, model=self.model.name))
        return [face_of(f) for f in reply.faces]

    def find_faces(self, data: bytes, detector=None) -> RemoteFound:
        """A gate probe: the largest face, found with the probe detectors and embedded, in one call. The
        encoder embeds it before the probe rule is applied here: a refused probe costs one embedding, which is
        cheaper than a second round trip for every probe that passes."""
        reply = self.pool.call("Embed", encoder_pb2.EmbedRequest(photo=data, model=self.model.name, probe=True))
        faces = tuple(face_of(f) for f in reply.faces)
        detections = [Detection(f.box, f.landmarks, f.quality.detector_score, f.detector) for f in faces]
        return RemoteFound(None, detections, [f.quality for f in faces], tuple(reply.detectors), faces)

    def embed_one(self, found: RemoteFound, index: int) -> Face:
        """The vector of one found face: already there."""
        return found.faces[index]


class EncoderModelList:
    """The models the encoders serve (from ListModels, the first encoder that answers), asked again on a miss."""

    def __init__(self, pool: EncoderPool) -> None:
        self.pool = pool
        self._models: dict[str, encoder_pb2.ModelInfo] = {}
        self._listed = -float("inf")
        self._lock = threading.Lock()

    def get(self, name: str) -> encoder_pb2.ModelInfo | None:
        """A model by name, or None when no encoder serves it."""
        with self._lock:
            if name not in self._models and time.monotonic() - self._listed > LIST_AGAIN_S:
                reply = self.pool.call("ListModels", encoder_pb2.ListModelsRequest())
                self._models = {m.name: m for m in reply.models}
                self._listed = time.monotonic()
            return self._models.get(name)

    def all(self) -> list[encoder_pb2.ModelInfo]:
        """Every model the encoders serve, as last listed."""
        with self._lock:
            return list(self._models.values())


class RemotePipelines:
    """Pipelines by face model name (Pipelines' interface); models other than the default are checked on the
    encoders on first use."""

    def __init__(self, pool: EncoderPool, models: EncoderModelList, default: RemoteFaceModel) -> None:
        self.pool = pool
        self.models = models
        self.default = RemoteFacePipeline(pool, default)
        self._built = {default.name: self.default}
        self._lock = threading.Lock()

    def get(self, model: str = "") -> RemoteFacePipeline:
        """The pipeline of a model (the default one for ""); UnknownModel when no encoder serves it as a face model."""
        name = model or self.default.model.name
        with self._lock:
            if name in self._built:
                return self._built[name]
        info = self.models.get(name)
        if info is None or "face" not in info.modalities:
            raise UnknownModel(f"no encoder server serves the face model {name!r}")
        with self._lock:
            return self._built.setdefault(name, RemoteFacePipeline(self.pool, RemoteFaceModel(name, info.dim)))

    def close(self) -> None:
        """Nothing to stop here."""


def _png(image: np.ndarray) -> bytes:
    """A decoded RGB photo as lossless PNG bytes, so the encoder sees exactly these pixels (EXIF already applied)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("cannot encode the photo as PNG for the encoder")
    return data.tobytes()


class RemoteTowerModel:
    """TowerModel's serving calls (image and text towers) as EmbedPhoto / EmbedText calls to the encoders."""

    def __init__(self, pool: EncoderPool, info: encoder_pb2.ModelInfo) -> None:
        self.pool = pool
        self.name, self.dim, self.metric = info.name, info.dim, info.metric or "cosine"
        self.modalities = tuple(info.modalities)

    def require(self, modality: str) -> None:
        """Raise MissingModality unless the model has this tower."""
        if modality == "face" and "face" in self.modalities:
            raise MissingModality(f"model {self.name!r} embeds faces as a face model (detected, aligned): ask for faces, not a tower")
        if modality not in self.modalities:
            raise MissingModality(f"model {self.name!r} has no {modality} tower; it has: {', '.join(self.modalities)}")

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        """(n, dim) vectors of decoded RGB photos."""
        self.require("image")
        return self.embed_photo_bytes([_png(image) for image in images])

    def embed_photo_bytes(self, photos: list[bytes]) -> np.ndarray:
        """(n, dim) vectors of photo files (decoded on the encoder)."""
        rows = [self.pool.call("EmbedPhoto", encoder_pb2.EmbedPhotoRequest(photo=p, model=self.name)).vector for p in photos]
        return np.asarray(rows, dtype=np.float32).reshape(len(photos), self.dim)

    def embed_texts(self, texts: list[str]) -> Texts:
        """Vectors of texts, each marked when the tokenizer cut it."""
        self.require("text")
        reply = self.pool.call("EmbedText", encoder_pb2.EmbedTextRequest(texts=[t.encode() for t in texts], model=self.name))
        vectors = np.asarray([v.vector for v in reply.vectors], dtype=np.float32).reshape(len(texts), self.dim)
        return Texts(vectors, [v.truncated for v in reply.vectors])


class RemoteRegistry:
    """ModelRegistry's look-ups (tower_model, names, entries) over the models the encoders serve."""

    broken: dict[str, str] = {}

    def __init__(self, pool: EncoderPool, models: EncoderModelList) -> None:
        self.pool = pool
        self.models = models

    def tower_model(self, name: str) -> RemoteTowerModel:
        """A tower model by name (UnknownModel when no encoder serves one of that name)."""
        info = self.models.get(name)
        if info is None:
            known = ", ".join(sorted(m.name for m in self.models.all()))
            raise UnknownModel(f"unknown model {name!r}; the encoders serve: {known}")
        if info.source == "shipped":
            raise UnknownModel(f"model {name!r} is a face model: it embeds faces, not whole photos or text")
        return RemoteTowerModel(self.pool, info)

    def names(self) -> list[str]:
        """The encoders' folder models' names."""
        return sorted(m.name for m in self.models.all() if m.source != "shipped")

    def entries(self) -> list[ModelEntry]:
        """The registry entries of the models the encoders serve (what ListModels answers)."""
        return [ModelEntry(m.name, tuple(m.modalities), m.dim, m.metric, m.source, m.is_default) for m in self.models.all()]
