"""EncoderService over a real socket: whole photos, texts and streams with a model folder; its bad inputs."""

from __future__ import annotations

import io
import shutil

import grpc
import numpy as np
import pytest
from PIL import Image

from facegrid.encoder.image import decode_image
from facegrid.encoder.runtime import EncoderSettings
from facegrid.encoder.towers.registry import ModelRegistry
from facegrid.v1 import encoder_pb2
from helpers import facegrid, last_json, running_server


@pytest.fixture(scope="module")
def tower_server(clip_model_dir, tmp_path_factory):
    models = tmp_path_factory.mktemp("served-models")
    shutil.copytree(clip_model_dir, models / clip_model_dir.name)
    broken = models / "broken"
    shutil.copytree(clip_model_dir, broken)
    (broken / "facegrid.json").write_text("{}")
    with running_server(tmp_path_factory.mktemp("encoder"), args=["--models-dir", str(models)]) as server:
        registry = ModelRegistry(EncoderSettings(models_dir=models))
        server.model = registry.tower_model(registry.load()[0])  # the same folder, loaded here: the reference
        yield server


def test_models_list_towers_and_name_broken_folders(tower_server):
    model = tower_server.model
    with tower_server.client() as client:
        listed = {m.name: m for m in client.models()}
        reply = client.transport.call(client._encoder.ListModels, encoder_pb2.ListModelsRequest())
    assert listed[model.name].modalities == ("image", "text") and listed[model.name].dim == model.dim
    assert listed[model.name].source == "folder" and listed["fused"].modalities == ("face",)
    assert len(reply.broken) == 1 and "facegrid.json" in reply.broken[0] and "/tmp" not in reply.broken[0]


def test_photo_and_text_vectors_are_the_models_own(tower_server, faces_dir):
    model = tower_server.model
    photo = next((faces_dir / "deepface").glob("id*/*.jpg")).read_bytes()
    texts = ["a dog on the beach", "", "两个人在海滩上 🌅", "sunset " * 200]
    with tower_server.client() as client:
        served = client.embed_photo(photo, model.name)
        embedded = client.embed_text(texts, model.name)
    assert np.abs(served.vector - model.embed_images([decode_image(photo)])[0]).max() < 1e-5
    local = model.embed_texts(texts)
    assert np.abs(np.stack([e.vector for e in embedded]) - local.vectors).max() < 1e-5
    assert [e.truncated for e in embedded] == [False, False, False, True]


def test_bad_inputs_are_invalid_argument_and_the_server_goes_on(tower_server, faces_dir):
    model = tower_server.model.name
    photo = next((faces_dir / "deepface").glob("id*/*.jpg")).read_bytes()
    with tower_server.client() as client:
        encoder = client._encoder
        not_utf8 = encoder_pb2.EmbedTextRequest(texts=[b"\xff\xfe bad"], model=model)
        for request, method in [
            (not_utf8, encoder.EmbedText),
            (encoder_pb2.EmbedTextRequest(texts=[], model=model), encoder.EmbedText),
            (encoder_pb2.EmbedTextRequest(texts=[b"x"], model="fused"), encoder.EmbedText),  # a face model has no text tower
            (encoder_pb2.EmbedTextRequest(texts=[b"x"], model="nope"), encoder.EmbedText),
            (encoder_pb2.EmbedTextRequest(texts=[b"x"] * 257, model=model), encoder.EmbedText),
            (encoder_pb2.EmbedPhotoRequest(photo=b"not a photo", model=model), encoder.EmbedPhoto),
            (encoder_pb2.EmbedPhotoRequest(photo=photo, model=""), encoder.EmbedPhoto),
        ]:
            with pytest.raises(grpc.RpcError) as refused:
                method(request, timeout=30)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, request
        assert "UTF-8" in _details(lambda: encoder.EmbedText(not_utf8, timeout=30))
        assert client.embed_text("still answering", model)[0].vector.shape == (tower_server.model.dim,)


def _details(call) -> str:
    try:
        call()
    except grpc.RpcError as error:
        return error.details()
    return ""


def test_a_stream_answers_every_item_in_order_and_failures_do_not_end_it(tower_server, faces_dir):
    model = tower_server.model
    photos = [p.read_bytes() for p in sorted((faces_dir / "deepface").glob("id*/*.jpg"))[:3]]
    items = [("p0", model.name, "photo", photos[0]), ("bad", model.name, "photo", b"junk"), ("t0", model.name, "text", "a cat"),
             ("face-model", "fused", "text", "a cat"), ("p1", model.name, "photo", photos[1])]
    with tower_server.client() as client:
        results = list(client.embed_many(items))
    assert [getattr(r, "id", "") or getattr(r, "item_id", "") for r in results] == [i[0] for i in items]
    assert [type(r).__name__ for r in results] == ["Embedding", "FacegridError", "Embedding", "FacegridError", "Embedding"]
    assert results[1].code is grpc.StatusCode.INVALID_ARGUMENT and results[3].code is grpc.StatusCode.INVALID_ARGUMENT
    expected = model.embed_images([decode_image(photos[0]), decode_image(photos[1])])
    assert np.abs(results[0].vector - expected[0]).max() < 1e-5 and np.abs(results[4].vector - expected[1]).max() < 1e-5
    assert np.abs(results[2].vector - model.embed_texts(["a cat"]).vectors[0]).max() < 1e-5


def test_cli_embeds_texts_and_photos(tower_server, faces_dir):
    photo = next((faces_dir / "deepface").glob("id*/*.jpg"))
    run = facegrid("embed", "--model", tower_server.model.name, "--text", "a red car", "--photo", str(photo),
                   "--server", tower_server.address, "--json")
    assert run.returncode == 0, run.stderr
    items = last_json(run.stdout)["items"]
    assert [i["kind"] for i in items] == ["text", "photo"] and all(i["dim"] == tower_server.model.dim for i in items)
    listed = facegrid("models", "list", "--server", tower_server.address, "--json")
    assert listed.returncode == 0, listed.stderr
    modalities = {m["name"]: m["modalities"] for m in last_json(listed.stdout)["models"]}
    assert modalities[tower_server.model.name] == ["image", "text"] and modalities["fused"] == ["face"]
    refused = facegrid("embed", "--model", "fused", "--text", "x", "--server", tower_server.address)
    assert refused.returncode == 1 and "face model" in refused.stderr


def test_a_probe_embed_gives_the_largest_face_only_and_the_same_errors(tower_server, faces_dir):
    """Embed with `probe` (what an index server sends for Verify / Identify): one face at most, the detectors named."""
    group = max((faces_dir / "faceapi_bbt").rglob("*.jpg"), key=lambda p: p.stat().st_size).read_bytes()
    with tower_server.client() as client:
        encoder = client._encoder
        every = encoder.Embed(encoder_pb2.EmbedRequest(photo=group), timeout=60)
        probed = encoder.Embed(encoder_pb2.EmbedRequest(photo=group, probe=True), timeout=60)
        assert len(probed.faces) == 1 and probed.model == every.model and list(probed.detectors)
        assert probed.faces[0].quality.size == max(f.quality.size for f in every.faces)
        assert "dlib_mmod" not in probed.detectors  # the slow last resort is not a probe's
        for request in (encoder_pb2.EmbedRequest(photo=b"not a photo", probe=True),
                        encoder_pb2.EmbedRequest(photo=group, model="nope", probe=True),
                        encoder_pb2.EmbedRequest(probe=True)):
            with pytest.raises(grpc.RpcError) as refused:
                encoder.Embed(request, timeout=30)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, request
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buffer, "PNG")
        empty = encoder.Embed(encoder_pb2.EmbedRequest(photo=buffer.getvalue(), probe=True), timeout=60)
        assert list(empty.faces) == [] and list(empty.detectors)  # no face: an empty list, not an error
