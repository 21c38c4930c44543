"""gRPC EncoderService: photo bytes in, faces with vectors out."""

from __future__ import annotations

import threading

from facegrid.encoder.image import DecodeLimits
from facegrid.encoder.models import load_model, model_dim, model_names
from facegrid.encoder.pipeline import FacePipeline
from facegrid.v1 import encoder_pb2, encoder_pb2_grpc

from . import messages
from .errors import BadRequest, grpc_errors


class EncoderService(encoder_pb2_grpc.EncoderServiceServicer):
    """Embeds faces with any registered model; pipelines are built on first use and kept."""

    def __init__(self, default: FacePipeline, detector: str, limits: DecodeLimits) -> None:
        self._pipelines = {default.model.name: default}
        self._default = default.model.name
        self._detector = detector
        self._limits = limits
        self._lock = threading.Lock()

    def _pipeline(self, name: str) -> FacePipeline:
        name = name or self._default
        with self._lock:
            if name not in self._pipelines:
                self._pipelines[name] = FacePipeline(load_model(name), self._detector, self._limits)
            return self._pipelines[name]

    @grpc_errors
    def Embed(self, request: encoder_pb2.EmbedRequest, context) -> encoder_pb2.EmbedResponse:
        if not request.photo:
            raise BadRequest("photo is empty")
        pipeline = self._pipeline(request.model)
        faces = pipeline.faces(request.photo)
        return encoder_pb2.EmbedResponse(faces=[messages.face(f) for f in faces], model=pipeline.model.name)

    @grpc_errors
    def ListModels(self, request, context) -> encoder_pb2.ListModelsResponse:
        listed = [
            encoder_pb2.ModelInfo(name=n, modality="face", dim=model_dim(n), metric="cosine", is_default=n == self._default)
            for n in model_names()
        ]
        return encoder_pb2.ListModelsResponse(models=listed)
