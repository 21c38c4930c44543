"""gRPC EncoderService: faces, whole photos, texts and audio clips in, vectors out (the caller's own input only);
requests to typed calls of domain/embedding.py's Embedder, results to messages."""

from __future__ import annotations

from typing import Iterator

from facegrid.encoder.errors import EncoderError
from facegrid.v1 import encoder_pb2, encoder_pb2_grpc

from ..domain.embedding import Embedder
from . import messages
from ..domain.errors import BadRequest
from .errors import grpc_errors, status_of


class EncoderService(encoder_pb2_grpc.EncoderServiceServicer):
    """Embeds with any model the server holds; every model's inference goes through its batcher."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    @grpc_errors
    def Embed(self, request: encoder_pb2.EmbedRequest, context) -> encoder_pb2.EmbedResponse:
        """The faces of a photo (or the probe face only) with a face model."""
        if request.probe:
            faces, model, detectors = self.embedder.probe(request.photo, request.model)
            return encoder_pb2.EmbedResponse(faces=[messages.face(f) for f in faces], model=model, detectors=detectors)
        faces, model = self.embedder.faces(request.photo, request.model)
        return encoder_pb2.EmbedResponse(faces=[messages.face(f) for f in faces], model=model)

    @grpc_errors
    def EmbedPhoto(self, request: encoder_pb2.EmbedPhotoRequest, context) -> encoder_pb2.EmbedPhotoResponse:
        """One vector for a whole photo with a model's image tower."""
        found = self.embedder.photo(request.photo, request.model)
        return encoder_pb2.EmbedPhotoResponse(vector=found.vector.tolist(), model=found.model)

    @grpc_errors
    def EmbedAudio(self, request: encoder_pb2.EmbedAudioRequest, context) -> encoder_pb2.EmbedAudioResponse:
        """One vector for an audio clip with a model's audio tower."""
        found = self.embedder.audio(request.audio, request.model)
        return encoder_pb2.EmbedAudioResponse(vector=found.vector.tolist(), model=found.model)

    @grpc_errors
    def EmbedText(self, request: encoder_pb2.EmbedTextRequest, context) -> encoder_pb2.EmbedTextResponse:
        """One vector per text with a model's text tower, marking texts cut to its context length."""
        texts = self.embedder.texts(list(request.texts), request.model)
        model = self.embedder.tower_model(request.model)
        _say_truncated(context, texts.truncated)
        return encoder_pb2.EmbedTextResponse(
            vectors=[encoder_pb2.TextVector(vector=v.tolist(), truncated=t) for v, t in zip(texts.vectors, texts.truncated)],
            model=model.name, context_length=model.tokenizer.context_length,
        )

    def EmbedStream(self, requests: Iterator[encoder_pb2.EmbedItem], context) -> Iterator[encoder_pb2.EmbedResult]:
        """One result per item, in order; an item's error is in its result and the stream goes on."""
        for item in requests:
            yield self._item(item)

    def _item(self, item: encoder_pb2.EmbedItem) -> encoder_pb2.EmbedResult:
        result = encoder_pb2.EmbedResult(id=item.id, model=item.model)
        try:
            kind = item.WhichOneof("input")
            if kind is None:
                raise BadRequest("item has no photo, text, audio or faces")
            if kind == "faces":
                faces, result.model = self.embedder.faces(item.faces, item.model)
                result.faces.extend(messages.face(f) for f in faces)
            elif kind == "photo":
                result.vector.extend(self.embedder.photo(item.photo, item.model).vector.tolist())
            elif kind == "audio":
                result.vector.extend(self.embedder.audio(item.audio, item.model).vector.tolist())
            else:
                texts = self.embedder.texts([item.text], item.model)
                result.vector.extend(texts.vectors[0].tolist())
                result.truncated = texts.truncated[0]
        except (EncoderError, BadRequest, LookupError, ValueError) as error:
            code = status_of(error)
            result.error_code, result.error = code.value[0], str(error)[:500]
        return result

    @grpc_errors
    def ListModels(self, request, context) -> encoder_pb2.ListModelsResponse:
        """The models this server can run, and the model folders it could not load (paths hidden)."""
        found = self.embedder.models()
        listed = [
            encoder_pb2.ModelInfo(name=e.name, modality=e.modalities[0], modalities=list(e.modalities), dim=e.dim,
                                  metric=e.metric, is_default=e.is_default,
                                  source="shipped" if e.source == "shipped" else "folder")
            for e in found.models
        ]
        return encoder_pb2.ListModelsResponse(models=listed, broken=found.broken)


def _say_truncated(context, truncated: list[bool]) -> None:
    """Tell the caller in trailing metadata too, so a plain client sees that texts were cut."""
    cut = sum(truncated)
    if cut and context is not None:
        context.set_trailing_metadata((("facegrid-truncated", str(cut)),))

