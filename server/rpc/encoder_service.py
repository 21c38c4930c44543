"""gRPC EncoderService: photo bytes in, faces with vectors out."""

from __future__ import annotations

from facegrid.encoder.models import model_dim, model_names
from facegrid.v1 import encoder_pb2, encoder_pb2_grpc

from ..domain.pipelines import Pipelines
from . import messages
from .errors import BadRequest, grpc_errors


class EncoderService(encoder_pb2_grpc.EncoderServiceServicer):
    """Embeds faces with any registered model; pipelines are built on first use and kept."""

    def __init__(self, pipelines: Pipelines) -> None:
        self.pipelines = pipelines

    @grpc_errors
    def Embed(self, request: encoder_pb2.EmbedRequest, context) -> encoder_pb2.EmbedResponse:
        if not request.photo:
            raise BadRequest("photo is empty")
        pipeline = self.pipelines.get(request.model)
        faces = pipeline.faces(request.photo)
        return encoder_pb2.EmbedResponse(faces=[messages.face(f) for f in faces], model=pipeline.model.name)

    @grpc_errors
    def ListModels(self, request, context) -> encoder_pb2.ListModelsResponse:
        default = self.pipelines.default.model.name
        listed = [
            encoder_pb2.ModelInfo(name=n, modality="face", dim=model_dim(n), metric="cosine", is_default=n == default)
            for n in model_names()
        ]
        return encoder_pb2.ListModelsResponse(models=listed)
