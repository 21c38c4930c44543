"""The encoder over HTTP: /v1/models and /v1/embed..., each the Embedder call its gRPC twin makes (EncoderService),
with its scope (embed). The vectors answered are of the caller's own input, never stored ones, as over gRPC."""

from __future__ import annotations

from fastapi import Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..domain.callers import Caller
from ..domain.embedding import MAX_TEXT_BYTES, MAX_TEXTS
from ..domain.errors import BadRequest
from . import forms
from .admin_schemas import EmbedOut, FaceOut, ModelOut, ModelsOut
from .forms import BINARY
from .routes import embedder, needs, router

router = router("encoder")
MODEL = {"type": "string", "maxLength": 128}


class VectorOut(BaseModel):
    """One vector of the caller's photo or clip, and the model that made it."""

    vector: list[float]
    model: str


class TextsIn(BaseModel):
    """Texts to embed with a model's text tower."""

    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)
    model: str = Field(min_length=1, max_length=128, description="a model with a text tower (GET /v1/models)")


class TextVectorOut(BaseModel):
    """One text's vector; `truncated` where the tokenizer cut the text to the model's context length."""

    vector: list[float]
    truncated: bool


class TextVectorsOut(BaseModel):
    """One vector per text, in order."""

    vectors: list[TextVectorOut]
    model: str
    context_length: int


def _limit(request: Request) -> int:
    return request.app.state.limits.max_photo_bytes


@router.get("/models", response_model=ModelsOut)
def list_models(request: Request, caller: Caller = Depends(needs("embed", "EncoderService/ListModels"))) -> ModelsOut:
    """The models this server runs, and the model folders it could not import, with what is wrong (scope embed)."""
    found = embedder(request).models()
    return ModelsOut(models=[ModelOut.of(e) for e in found.models], broken=found.broken)


@router.post("/embed", response_model=EmbedOut, openapi_extra=forms.multipart_body(
    ["photo"], {"photo": BINARY, "model": MODEL, "probe": {"type": "boolean"}}))
async def embed(request: Request, caller: Caller = Depends(needs("embed", "EncoderService/Embed"))) -> EmbedOut:
    """Every face of the caller's photo with its vector, or with `probe` the largest face alone as the gate finds it
    (scope embed; `model` empty: the default face model)."""
    form = await forms.read_form(request, 1, _limit(request))
    model = forms.text(form, "model", max_length=128)
    probe = forms.flag(form, "probe")
    photo = (await forms.files(form, "photo"))[0]
    if probe:
        faces, name, detectors = await run_in_threadpool(embedder(request).probe, photo, model)
        return EmbedOut(faces=[FaceOut.of(f) for f in faces], model=name, detectors=list(detectors))
    faces, name = await run_in_threadpool(embedder(request).faces, photo, model)
    return EmbedOut(faces=[FaceOut.of(f) for f in faces], model=name)


@router.post("/embed/photo", response_model=VectorOut, openapi_extra=forms.multipart_body(
    ["photo", "model"], {"photo": BINARY, "model": MODEL}))
async def embed_photo(request: Request, caller: Caller = Depends(needs("embed", "EncoderService/EmbedPhoto"))) -> VectorOut:
    """One vector of a whole photo with a model's image tower (scope embed)."""
    form = await forms.read_form(request, 1, _limit(request))
    model = forms.text(form, "model", max_length=128)
    photo = (await forms.files(form, "photo"))[0]
    found = await run_in_threadpool(embedder(request).photo, photo, model)
    return VectorOut(vector=found.vector.tolist(), model=found.model)


@router.post("/embed/audio", response_model=VectorOut, openapi_extra=forms.multipart_body(
    ["audio", "model"], {"audio": BINARY, "model": MODEL}))
async def embed_audio(request: Request, caller: Caller = Depends(needs("embed", "EncoderService/EmbedAudio"))) -> VectorOut:
    """One vector of a 16-bit PCM WAV clip with a model's audio tower (scope embed)."""
    form = await forms.read_form(request, 1, _limit(request))
    model = forms.text(form, "model", max_length=128)
    audio = (await forms.files(form, "audio"))[0]
    found = await run_in_threadpool(embedder(request).audio, audio, model)
    return VectorOut(vector=found.vector.tolist(), model=found.model)


@router.post("/embed/text", response_model=TextVectorsOut)
def embed_text(request: Request, body: TextsIn,
               caller: Caller = Depends(needs("embed", "EncoderService/EmbedText"))) -> TextVectorsOut:
    """One vector per text with a model's text tower, each marked where it was cut to the context length (scope embed;
    at most 256 texts of 64 KiB each)."""
    if any(len(t) > MAX_TEXT_BYTES for t in body.texts):
        raise BadRequest(f"a text is longer than {MAX_TEXT_BYTES} characters")
    found = embedder(request)
    texts = found.texts(body.texts, body.model)
    model = found.tower_model(body.model)
    return TextVectorsOut(vectors=[TextVectorOut(vector=v.tolist(), truncated=t) for v, t in zip(texts.vectors, texts.truncated)],
                          model=model.name, context_length=model.tokenizer.context_length)
