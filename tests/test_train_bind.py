"""Binding a new modality (ImageBind): the emoji data set, the CLIP pivot, the bound audio tower, served over a socket.

A tiny run (12 emoji, seconds of training on one thread): the losses fall, the bound folder loads in the
registry and serves audio beside the pivot's unchanged image and text towers, and audio it never heard
(a held-out voice) finds its name through text it never saw paired with audio, above chance.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import numpy as np
import pytest

from helpers import ServerProcess, facegrid, last_json

torch = pytest.importorskip("torch", reason="training needs the train extra (torch)")

from facegrid.encoder.runtime import EncoderSettings  # noqa: E402
from facegrid.encoder.towers.audio import decode_wav  # noqa: E402
from facegrid.encoder.towers.registry import ModelRegistry  # noqa: E402
from facegrid.encoder.train import emoji_pairs  # noqa: E402
from facegrid.encoder.train.bind import BindSettings, train_bind  # noqa: E402
from facegrid.encoder.train.clip_pivot import ClipSettings, train_clip  # noqa: E402
from facegrid.encoder.train.pairs import load_audio, load_image, read_pairs  # noqa: E402
from facegrid.encoder.train.run import TrainError  # noqa: E402
from facegrid.evaluation.bind import recall  # noqa: E402
from facegrid.v1 import encoder_pb2  # noqa: E402

CONCEPTS, RENDERINGS, VOICES, HELD_OUT = 12, 2, 4, 1


@pytest.fixture(scope="module")
def emoji(tmp_path_factory):
    try:
        return emoji_pairs.build(CONCEPTS, RENDERINGS, VOICES, HELD_OUT, root=tmp_path_factory.mktemp("emoji"))
    except emoji_pairs.DatasetUnavailable as missing:
        pytest.skip(f"the emoji data set cannot be built here: {missing}")


@pytest.fixture(scope="module")
def trained(emoji, tmp_path_factory):
    """A pivot trained on (image, name) and an audio tower bound to it on (image, audio): models dir and summaries."""
    models = tmp_path_factory.mktemp("bind-models")
    pivot = train_clip(emoji.csv("image_text"), models, "emoji-clip", ClipSettings(epochs=30, batch=16, threads=1, device="cpu"))
    bound = train_bind(emoji.csv("image_audio"), "emoji-clip", "audio", models, "emoji-bound",
                       BindSettings(epochs=25, batch=24, threads=1, device="cpu"))
    return models, pivot, bound


def test_the_data_set_pairs_images_names_and_spoken_names(emoji, tmp_path):
    assert len(emoji.concepts) == CONCEPTS and all(name == name.lower() for _, name in emoji.concepts)
    image_text, image_audio = read_pairs(emoji.csv("image_text")), read_pairs(emoji.csv("image_audio"))
    test = read_pairs(emoji.csv("test_audio"))
    assert image_text.modalities == ("image", "text") and len(image_text) == CONCEPTS * RENDERINGS
    assert image_audio.modalities == ("image", "audio") and len(image_audio) == CONCEPTS * RENDERINGS * (VOICES - HELD_OUT)
    assert test.modalities == ("text", "audio") and len(test) == CONCEPTS * HELD_OUT
    assert not set(test.right) & set(image_audio.right)  # held-out voices are never trained on
    clip = load_audio(image_audio.right[0])
    assert clip.sample_rate == 22050 and 0.3 < clip.seconds < 5 and np.abs(clip.samples).max() > 0.05
    assert load_image(image_text.left[0]).shape == (emoji_pairs.IMAGE_SIZE, emoji_pairs.IMAGE_SIZE, 3)
    # Deterministic: a second build elsewhere gives the same files.
    again = emoji_pairs.build(CONCEPTS, RENDERINGS, VOICES, HELD_OUT, root=tmp_path)
    for relative in ("images/" + Path(image_text.left[5]).name, "audio/" + Path(test.right[3]).name, "image_audio.csv"):
        assert (again.folder / relative).read_bytes() == (emoji.folder / relative).read_bytes(), relative


def test_losses_fall_and_the_bound_model_serves_all_three_modalities(emoji, trained):
    models, pivot, bound = trained
    assert pivot.losses[-1] < 0.5 * pivot.losses[0] and bound.losses[-1] < 0.7 * bound.losses[0]
    summary = json.loads(bound.as_json())
    assert summary["model"] == "emoji-bound" and summary["epochs"] == 25 and summary["images"] > 0
    registry = ModelRegistry(EncoderSettings(models_dir=models, threads=1))
    assert sorted(registry.load()) == ["emoji-bound", "emoji-clip"] and not registry.broken
    model, reference = registry.tower_model("emoji-bound"), registry.tower_model("emoji-clip")
    assert model.modalities == ("image", "text", "audio") and model.dim == reference.dim
    names = [n for _, n in emoji.concepts]
    image = load_image(read_pairs(emoji.csv("image_text")).left[0])
    assert np.array_equal(model.embed_texts(names).vectors, reference.embed_texts(names).vectors)
    assert np.array_equal(model.embed_images([image]), reference.embed_images([image]))
    vectors = model.embed_audio([load_audio(f) for f in read_pairs(emoji.csv("test_audio")).right[:3]])
    assert vectors.shape == (3, model.dim) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_audio_finds_its_name_without_ever_being_paired_with_text(emoji, trained):
    models, _, _ = trained
    model = ModelRegistry(EncoderSettings(models_dir=models, threads=1))
    model.load()
    model = model.tower_model("emoji-bound")
    names = [n for _, n in emoji.concepts]
    test = read_pairs(emoji.csv("test_audio"))  # a voice the binding never heard
    found = recall(model.embed_audio([load_audio(f) for f in test.right]), model.embed_texts(names).vectors,
                   np.array([names.index(t) for t in test.left]))
    chance = 1 / len(names)
    assert found.recall_at_1 >= 3 * chance and found.recall_at_5 > 5 * chance, found


def test_the_served_bound_model_embeds_audio_over_a_socket(emoji, trained, tmp_path):
    models, _, _ = trained
    served = tmp_path / "models"
    shutil.copytree(models / "emoji-bound", served / "emoji-bound")
    shutil.copytree(models / "emoji-clip", served / "emoji-clip")
    registry = ModelRegistry(EncoderSettings(models_dir=served, threads=1))
    registry.load()
    local = registry.tower_model("emoji-bound")
    clips = read_pairs(emoji.csv("test_audio")).right[:2]
    server = ServerProcess(tmp_path / "data", args=["--models-dir", str(served)]).start()
    try:
        with server.client() as client:
            one = client.embed_audio(Path(clips[0]), "emoji-bound")
            assert one.model == "emoji-bound"
            assert np.abs(one.vector - local.embed_audio([load_audio(clips[0])])[0]).max() < 1e-5
            items = [("a", "emoji-bound", "audio", Path(clips[1])), ("junk", "emoji-bound", "audio", b"RIFF not audio"),
                     ("no-tower", "emoji-clip", "audio", Path(clips[1])), ("t", "emoji-bound", "text", "cyclone")]
            results = list(client.embed_many(items))
            assert [type(r).__name__ for r in results] == ["Embedding", "FacegridError", "FacegridError", "Embedding"]
            assert np.abs(results[0].vector - local.embed_audio([load_audio(clips[1])])[0]).max() < 1e-5
            assert results[1].code is grpc.StatusCode.INVALID_ARGUMENT and results[2].code is grpc.StatusCode.INVALID_ARGUMENT
            encoder = client._encoder
            for request, needle in [(encoder_pb2.EmbedAudioRequest(audio=b"not a wav", model="emoji-bound"), "WAV"),
                                    (encoder_pb2.EmbedAudioRequest(audio=Path(clips[0]).read_bytes(), model="emoji-clip"), "no audio tower"),
                                    (encoder_pb2.EmbedAudioRequest(audio=Path(clips[0]).read_bytes(), model=""), "model is empty"),
                                    (encoder_pb2.EmbedAudioRequest(audio=b"", model="emoji-bound"), "empty")]:
                with pytest.raises(grpc.RpcError) as refused:
                    encoder.EmbedAudio(request, timeout=30)
                assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT and needle in refused.value.details()
        run = facegrid("embed", "--model", "emoji-bound", "--audio", clips[0], "--text", "cyclone", "--server", server.address, "--json")
        assert run.returncode == 0, run.stderr
        assert [(i["kind"], i["dim"]) for i in last_json(run.stdout)["items"]] == [("text", local.dim), ("audio", local.dim)]
    finally:
        server.kill()


def test_bad_inputs_are_clear_errors_and_leave_nothing_behind(emoji, trained, tmp_path):
    models, _, _ = trained
    before = sorted(p.name for p in models.iterdir())
    pairs = read_pairs(emoji.csv("image_audio"))
    missing = tmp_path / "missing.csv"
    missing.write_text("image,audio\n" + "".join(f"{image},{audio.replace('.wav', '-gone.wav') if i < 3 else audio}\n"
                                                 for i, (image, audio) in enumerate(zip(pairs.left[:6], pairs.right[:6]))))
    with pytest.raises(TrainError, match=r"3 listed files missing:\n.*-gone\.wav"):
        train_bind(missing, "emoji-clip", "audio", models, "never", BindSettings(epochs=1))
    with pytest.raises(TrainError, match="no such pairs file"):
        train_bind(tmp_path / "nope.csv", "emoji-clip", "audio", models, "never")
    header = tmp_path / "header.csv"
    header.write_text("photo,sound\na.png,b.wav\n")
    with pytest.raises(TrainError, match="header row"):
        train_bind(header, "emoji-clip", "audio", models, "never")
    with pytest.raises(TrainError, match="already has its own audio tower"):
        train_bind(emoji.csv("image_audio"), "emoji-bound", "audio", models, "never")
    with pytest.raises(TrainError, match="no-such-model"):
        train_bind(emoji.csv("image_audio"), "no-such-model", "audio", models, "never")
    # A pivot without the pairs' pivot modality: the CLIP pivot with its image tower taken out of the card.
    text_only = tmp_path / "text-only-models"
    shutil.copytree(models / "emoji-clip", text_only / "text-only")
    card = json.loads((text_only / "text-only" / "facegrid.json").read_text())
    del card["towers"]["image"]
    card["name"] = "text-only"
    (text_only / "text-only" / "facegrid.json").write_text(json.dumps(card))
    with pytest.raises(TrainError, match="has no image tower"):
        train_bind(emoji.csv("image_audio"), "text-only", "audio", text_only, "never")
    assert sorted(p.name for p in models.iterdir()) == before and sorted(p.name for p in text_only.iterdir()) == ["text-only"]
    run = facegrid("train", "bind", "--pairs", str(missing), "--pivot", "emoji-clip", "--modality", "audio", "--out", "never",
                   "--models-dir", str(models))
    assert run.returncode == 2 and "-gone.wav" in run.stderr and "Traceback" not in run.stderr


def test_cli_epochs_0_exports_the_starting_weights_and_a_run_resumes(emoji, trained, tmp_path):
    trained_models, _, _ = trained
    models = tmp_path / "m0"  # its own models dir: the shared one stays as the other tests expect it
    for folder in ("m0", "m1", "m2"):
        shutil.copytree(trained_models / "emoji-clip", tmp_path / folder / "emoji-clip")
    run = facegrid("train", "bind", "--pairs", str(emoji.csv("image_audio")), "--pivot", "emoji-clip", "--modality", "audio",
                   "--out", "emoji-untrained", "--models-dir", str(models), "--epochs", "0", "--threads", "1",
                   "--checkpoint-dir", str(tmp_path / "ckpt0"))
    assert run.returncode == 0, run.stderr
    summary = last_json(run.stdout)
    assert summary["model"] == "emoji-untrained" and summary["epochs"] == 0 and summary["final_loss"] is None
    assert (models / "emoji-untrained" / "audio" / "model.onnx").is_file()
    settings = dict(batch=24, threads=1, device="cpu")
    # Interrupted after one epoch of seed 1; a second run (seed 0) finds the checkpoint and only trains epoch 2:
    # its first epoch's loss is seed 1's, which a fresh seed-0 run would not reproduce.
    first = train_bind(emoji.csv("image_audio"), "emoji-clip", "audio", tmp_path / "m1", "b",
                       BindSettings(epochs=1, seed=1, **settings), checkpoint_dir=tmp_path / "ckpt")
    resumed = train_bind(emoji.csv("image_audio"), "emoji-clip", "audio", tmp_path / "m2", "b", BindSettings(epochs=2, **settings),
                         checkpoint_dir=tmp_path / "ckpt")
    assert len(resumed.losses) == 2 and resumed.losses[0] == first.losses[0] and resumed.images == 2 * first.images
    assert (tmp_path / "m2" / "b" / "audio" / "model.onnx").is_file()
