"""Embedding what callers send: faces with a face model, whole photos and texts with a model's towers.

The EncoderService's service core: the request is checked here (BadRequest with the same words whoever calls),
decoding goes through the server's limits, and the vectors are of the caller's own input, never stored ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegrid.encoder.errors import BadText
from facegrid.encoder.image import DecodeLimits, decode_image
from facegrid.encoder.pipeline import Face
from facegrid.encoder.towers.audio import AudioLimits, decode_wav
from facegrid.encoder.towers.model import Texts, TowerModel
from facegrid.encoder.towers.registry import ModelEntry, ModelRegistry

from .errors import BadRequest
from .pipelines import Pipelines

MAX_TEXTS = 256  # texts per call: a call is one batch for the text tower
MAX_TEXT_BYTES = 64 * 1024  # far beyond any context length; longer text is refused rather than tokenised


@dataclass(frozen=True)
class PhotoVector:
    """A whole-photo (or audio) vector and the model that made it."""

    vector: np.ndarray  # (dim,) float32, unit length
    model: str


@dataclass(frozen=True)
class ModelList:
    """The models this server embeds with, and the model folders it could not load (server paths left out)."""

    models: list[ModelEntry]
    broken: list[str]


def _given(data: bytes, what: str) -> bytes:
    if not data:
        raise BadRequest(f"{what} is empty")
    return data


def _named(model: str, tower: str) -> str:
    if not model:
        raise BadRequest(f"model is empty: name a model with {tower} tower (ListModels)")
    return model


def decode_text(raw: bytes | str) -> str:
    """A text from UTF-8 bytes (BadText when it is not UTF-8 or absurdly long)."""
    if isinstance(raw, str):
        return raw
    if len(raw) > MAX_TEXT_BYTES:
        raise BadText(f"text of {len(raw)} bytes is over {MAX_TEXT_BYTES}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadText(f"text is not valid UTF-8 (byte {error.start}: {error.reason})") from None


class Embedder:
    """Face pipelines and tower models behind one object, with the server's decode limits."""

    def __init__(self, pipelines: Pipelines, registry: ModelRegistry, limits: DecodeLimits,
                 audio_limits: AudioLimits = AudioLimits()) -> None:
        self.pipelines = pipelines
        self.registry = registry
        self.limits = limits
        self.audio_limits = audio_limits

    def faces(self, photo: bytes, model: str = "") -> tuple[list[Face], str]:
        """Every face of a photo with a face model (the default for ""), and the model's name."""
        pipeline = self.pipelines.get(model)
        return pipeline.faces(_given(photo, "photo")), pipeline.model.name

    def probe(self, photo: bytes, model: str = "") -> tuple[list[Face], str, tuple[str, ...]]:
        """A gate probe for an index server: the largest face (none or one), found with the probe detectors
        (the cascade without its slow last resort), the model's name, and the detectors that looked."""
        pipeline = self.pipelines.get(model)
        found = pipeline.find_faces(_given(photo, "photo"), self.pipelines.probe_detector(pipeline))
        if not found.detections:
            return [], pipeline.model.name, found.detectors
        largest = max(range(len(found.detections)), key=lambda i: found.qualities[i].size)
        return [pipeline.embed_one(found, largest)], pipeline.model.name, found.detectors

    def tower_model(self, name: str) -> TowerModel:
        """A folder model by name (UnknownModel when there is none)."""
        return self.registry.tower_model(name)

    def photo(self, photo: bytes, model: str) -> PhotoVector:
        """One whole-photo vector with a model's image tower."""
        _given(photo, "photo")
        tower_model = self.registry.tower_model(_named(model, "an image"))
        tower_model.require("image")  # before decoding: a model without the tower is the caller's mistake
        image = decode_image(photo, self.limits)
        return PhotoVector(tower_model.embed_images([image])[0], tower_model.name)

    def audio(self, audio: bytes, model: str) -> PhotoVector:
        """One vector of a WAV clip with a model's audio tower."""
        _given(audio, "audio")
        tower_model = self.registry.tower_model(_named(model, "an audio"))
        tower_model.require("audio")  # before decoding, as for photos
        clip = decode_wav(audio, self.audio_limits)
        return PhotoVector(tower_model.embed_audio([clip])[0], tower_model.name)

    def texts(self, texts: list[bytes | str], model: str) -> Texts:
        """Vectors of texts with a model's text tower, each marked when the tokenizer cut it."""
        tower_model = self.registry.tower_model(_named(model, "a text"))
        if len(texts) > MAX_TEXTS:
            raise BadText(f"{len(texts)} texts in one call; at most {MAX_TEXTS} (use EmbedStream for more)")
        tower_model.require("text")
        if not texts:
            raise BadText("no texts to embed")
        return tower_model.embed_texts([decode_text(t) for t in texts])

    def models(self) -> ModelList:
        """Every model, and the folder problems with the models directory left out of their paths (callers need not
        learn server paths)."""
        models_dir = str(self.registry.settings.models_dir)
        broken = [f"{folder.replace(models_dir, '<models>')}: {error.replace(models_dir, '<models>')}"
                  for folder, error in sorted(self.registry.broken.items())]
        return ModelList(self.registry.entries(), broken)
