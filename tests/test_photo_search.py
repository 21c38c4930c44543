"""Whole-photo search over a real socket: a collection with an image model (an imported open_clip model of a
real architecture, random weights), searched by words and by likeness, near-duplicate groups, k-means by
scene, models never mixed, and the background re-embedding surviving a SIGKILL."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from facegrid.clients.sdk import FacegridError

from helpers import facegrid, last_json, running_server

PEOPLE = ("id01_angelina_jolie", "id10_katy_perry", "id11_matt_damon")


def linked_copy(folder: Path, into: Path) -> Path:
    """A model folder whose files are hard links to the (read-only) fixture's (a model folder's graphs must lie
    inside it, so no symbolic links): files written into it later stay its own."""

    def link(source, target):
        try:
            os.link(source, target)
        except OSError:  # another file system
            shutil.copy2(source, target)

    shutil.copytree(folder, into, copy_function=link)
    return into


def model_name(folder: Path) -> str:
    from facegrid.encoder.towers.card import read_card

    return read_card(folder).name


@pytest.fixture(scope="module")
def photo_models(clip_model_dir, resnet_model_dir, tmp_path_factory) -> Path:
    """A models directory of our own: the CLIP model (image + text) and an image-only resnet."""
    models = tmp_path_factory.mktemp("photo-models")
    linked_copy(clip_model_dir, models / clip_model_dir.name)
    linked_copy(resnet_model_dir, models / resnet_model_dir.name)
    return models


@pytest.fixture(scope="module")
def clip(clip_model_dir) -> str:
    return model_name(clip_model_dir)


@pytest.fixture(scope="module")
def resnet(resnet_model_dir) -> str:
    return model_name(resnet_model_dir)


@pytest.fixture(scope="module")
def album(tmp_path_factory, faces_dir) -> Path:
    """Nine portraits, a group photo, and a re-compressed copy of one portrait (a near-duplicate)."""
    folder = tmp_path_factory.mktemp("photo-album")
    for person in PEOPLE:
        for photo in sorted((faces_dir / "deepface" / person).iterdir())[:3]:
            shutil.copy(photo, folder / f"{person}-{photo.name}")
    shutil.copy(faces_dir / "dlib" / "unlabeled" / "2008_002470.jpg", folder / "group.jpg")
    original = sorted(folder.glob("id10_katy_perry-*"))[0]
    Image.open(original).save(folder / "copy-of-katy.jpg", "JPEG", quality=40)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, photo_models, faces_dir):
    with running_server(tmp_path_factory.mktemp("photo-search"), {"FACEGRID_MODELS_DIR": str(photo_models)}) as server:
        yield server


@pytest.fixture(scope="module")
def family(server, album, clip) -> dict:
    """The album indexed into collection `family` with the CLIP model as its image model."""
    run = facegrid("index", str(album), "--collection", "family", "--image-model", clip, "--server", server.address, "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    return last_json(run.stdout)


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(FacegridError) as caught:
        call()
    return caught.value.code


def expected_vectors(photo_models: Path, name: str, photos: list[Path]) -> np.ndarray:
    """Whole-photo vectors computed through the library directly (the server's decoding, the model's preprocessing)."""
    from facegrid.encoder.image import decode_image
    from facegrid.encoder.runtime import EncoderSettings
    from facegrid.encoder.towers.registry import load_tower_model

    model = load_tower_model(photo_models, name, EncoderSettings(models_dir=photo_models))
    return model.embed_images([decode_image(p.read_bytes()) for p in photos])


def test_indexing_with_an_image_model_stores_one_photo_vector_per_photo(server, family, clip):
    assert family["indexed"] == 11 and not family["failed"], family["failed"]
    with server.client() as client:
        stats = client.stats("family")
    assert stats.photos == 11 and stats.photo_vectors == 11
    assert stats.image_model == clip and stats.image_dim > 0 and stats.model == "fused"
    status = last_json(facegrid("collections", "status", "family", "--server", server.address, "--json").stdout)
    assert status["image_model"] == clip and status["photo_vectors"] == 11


def test_search_like_ranks_the_photo_itself_first(server, family, album):
    photo = sorted(album.glob("id11_matt_damon-*"))[1]
    run = facegrid("search", "--like", str(photo), "--collection", "family", "--k", "3", "--server", server.address, "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    hits = last_json(run.stdout)["hits"]
    assert len(hits) == 3 and hits[0]["paths"] == [str(photo)]
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4) and hits[1]["score"] < hits[0]["score"]


def test_search_text_scores_are_the_text_vector_times_the_photo_vectors(server, family, album, photo_models, clip):
    from facegrid.encoder.runtime import EncoderSettings
    from facegrid.encoder.towers.registry import load_tower_model

    text = "a dog on the beach"
    photos = sorted(p for p in album.iterdir() if p.suffix == ".jpg")
    model = load_tower_model(photo_models, clip, EncoderSettings(models_dir=photo_models))
    scores = expected_vectors(photo_models, clip, photos) @ model.embed_texts([text]).vectors[0]
    best = np.argsort(-scores)[:4]
    with server.client() as client:
        found = client.search_photos(text=text, k=4, collection="family")
    assert found.model == clip and not found.text_truncated and len(found.hits) == 4
    assert [h.paths for h in found.hits] == [[str(photos[i])] for i in best]
    assert [h.score for h in found.hits] == pytest.approx([float(scores[i]) for i in best], abs=1e-4)
    with server.client() as client:
        long = client.search_photos(text="people on a beach " * 40, k=1, collection="family")
        assert long.text_truncated  # over the 77-token context: cut as open_clip cuts it, and said so
        assert code_of(lambda: client.search_photos(text="  ", collection="family")) is grpc.StatusCode.INVALID_ARGUMENT


def test_near_duplicates_at_the_measured_threshold_pair_a_copy_with_its_original(server, family, album, photo_models, clip):
    with server.client() as client:
        with pytest.raises(FacegridError) as caught:
            client.similar_photos("family")  # never measured for this model
        assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION and "bench near-duplicates" in caught.value.message
    run = facegrid("bench", "near-duplicates", "--model", clip, "--models-dir", str(photo_models), "--photos", "60",
                   "--edited", "20", "--false-merge-rate", "1e-3", "--write", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    measured = last_json(run.stdout)
    assert measured["distinct_pairs"] == 60 * 59 // 2 and measured["duplicate_pairs"] == 80
    assert measured["measured_false_merge_rate"] <= 1e-3 and measured["written"].endswith("near_duplicates.json")
    run = facegrid("similar", "--collection", "family", "--server", server.address, "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    similar = last_json(run.stdout)
    assert similar["threshold"] == pytest.approx(measured["threshold"], abs=1e-5)
    assert similar["threshold_source"] == measured["written"] and similar["photos"] == 11
    original = str(sorted(album.glob("id10_katy_perry-*"))[0])
    copy = str(album / "copy-of-katy.jpg")
    together = [g for g in similar["groups"] if copy in [p for hit in g for p in hit["paths"]]]
    assert together and original in [p for hit in together[0] for p in hit["paths"]]
    assert sum(len(g) for g in similar["groups"]) < 11  # not everything in one heap
    with server.client() as client:
        strict = client.similar_photos("family", threshold=0.999999)  # given: only (near-)identical pixels link
    assert strict.threshold_source == "given" and all(len(g) == 2 for g in strict.groups)


def test_kmeans_over_photo_vectors(server, family, album):
    with server.client() as client:
        clusters = client.kmeans("family", k=2, photos=True)
        assert clusters.k == 2 and sum(clusters.sizes) == 11 and len(clusters.clusters) == 11
        assert sorted(p[0] for p in clusters.paths) == sorted(str(p) for p in album.iterdir() if p.suffix == ".jpg")
        assert len(set(clusters.photo_sha256)) == 11
        assert code_of(lambda: client.kmeans("family", k=3, photos=True)) is grpc.StatusCode.INVALID_ARGUMENT  # > n / 5
        assert sum(client.kmeans("family", k=2).sizes) == client.stats("family").faces  # faces, as before
    run = facegrid("kmeans", "--photos", "--collection", "family", "--server", server.address, "--json")
    assert run.returncode == 0 and sum(last_json(run.stdout)["sizes"]) == 11


def test_models_are_never_mixed(server, family, album, clip, resnet):
    photo = sorted(album.glob("id01_angelina_jolie-*"))[0]
    data = photo.read_bytes()
    with server.client() as client:
        # A collection without an image model has no photo vectors to search.
        assert list(client.index_photos([(str(photo), data)], "faces-only"))[0].error == ""
        assert code_of(lambda: client.search_photos(text="a dog", collection="faces-only")) is grpc.StatusCode.FAILED_PRECONDITION
        assert code_of(lambda: client.kmeans("faces-only", photos=True)) is grpc.StatusCode.FAILED_PRECONDITION
        # Another image model than the collection's: refused, per photo.
        refused = list(client.index_photos([("again.jpg", data)], "family", image_model=resnet))[0]
        assert refused.error_code == "FAILED_PRECONDITION" and clip in refused.error
        assert code_of(lambda: client.set_image_model("family", resnet)) is grpc.StatusCode.FAILED_PRECONDITION
        # Unknown models, and face models, are not image models.
        for name in ("no-such-model", "fused"):
            result = list(client.index_photos([(str(photo), data)], f"new-{name}", image_model=name))[0]
            assert result.error_code == "INVALID_ARGUMENT", result.error
            assert code_of(lambda: client.stats(f"new-{name}")) is grpc.StatusCode.NOT_FOUND  # nothing was made
        # An image-only model has no text tower.
        assert list(client.index_photos([(str(photo), data)], "scenes", image_model=resnet))[0].error == ""
        with pytest.raises(FacegridError) as caught:
            client.search_photos(text="a dog", collection="scenes")
        assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION and "text" in caught.value.message
        assert client.search_photos(photo=photo, k=1, collection="scenes").hits[0].score == pytest.approx(1.0, abs=1e-4)
        # Vectors: of the wrong length, or said to be of another model.
        dim = client.stats("family").image_dim
        assert code_of(lambda: client.search_photos(vector=[0.1] * (dim + 1), collection="family")) is grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.search_photos(vector=[0.1] * dim, collection="family", model=resnet)) \
            is grpc.StatusCode.FAILED_PRECONDITION
        assert client.search_photos(vector=[0.1] * dim, collection="family", model=clip, k=2).hits
        assert code_of(lambda: client.search(vector=[0.1] * 256, collection="family", model=clip)) is grpc.StatusCode.FAILED_PRECONDITION
        assert client.search(vector=[0.1] * 256, collection="family", model="fused", k=1).queries[0].hits


def test_unknown_collections_are_not_found(server, clip):
    with server.client() as client:
        for call in (lambda: client.search_photos(text="a dog", collection="nowhere"),
                     lambda: client.similar_photos("nowhere"),
                     lambda: client.set_image_model("nowhere", clip)):
            assert code_of(call) is grpc.StatusCode.NOT_FOUND
        assert code_of(lambda: client.stats("nowhere")) is grpc.StatusCode.NOT_FOUND  # and none was made


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_background_reembedding_shows_progress_and_resumes_after_sigkill(server_factory, tmp_path, album, photo_models, clip):
    folder = tmp_path / "later"
    shutil.copytree(album, folder)
    late = folder.parent / "late.jpg"  # indexed while the re-embedding runs
    Image.open(sorted(album.glob("id11_matt_damon-*"))[0]).rotate(90, expand=True).save(late, "JPEG")
    # One photo a step, with a pause: slow enough to be killed half-way.
    env = {"FACEGRID_MODELS_DIR": str(photo_models), "FACEGRID_REEMBED_BATCH": "1", "FACEGRID_REEMBED_PAUSE_S": "0.25"}
    server = server_factory(tmp_path / "data", env)
    run = facegrid("index", str(folder), "--collection", "later", "--server", server.address, "--json")
    assert last_json(run.stdout)["indexed"] == 11
    gone = folder / "group.jpg"
    gone.unlink()  # its only path is gone: counted missing, the rest go on
    with server.client() as client:
        assert client.stats("later").image_model == ""
        assert code_of(lambda: client.search_photos(text="a dog", collection="later")) is grpc.StatusCode.FAILED_PRECONDITION
        started = client.set_image_model("later", clip)
        assert started.image_model == clip and started.reembed.state == "running" and started.reembed.total == 11
        # A photo indexed meanwhile has its photo vector at once.
        assert list(client.index_photos([(str(late), late.read_bytes())], "later"))[0].error == ""
        assert client.stats("later").reembed.state == "running"
        hit = client.search_photos(photo=late, k=1, collection="later").hits[0]
        assert hit.paths == [str(late)] and hit.score == pytest.approx(1.0, abs=1e-4)
        before = _wait(lambda: (lambda s: s if s.reembed.done >= 4 else None)(client.stats("later")), 60, "progress").reembed
    assert before.state == "running" and before.done < 11, before
    server.kill()  # SIGKILL mid-way

    server = server_factory(tmp_path / "data", env)
    with server.client() as client:
        after = client.stats("later").reembed
        assert after.done >= before.done and after.total == 12  # nothing done was lost
        done = _wait(lambda: (lambda s: s if s.reembed.state == "done" else None)(client.stats("later")), 90, "the end")
        assert done.reembed.done == 11 and done.reembed.missing == 1 and done.reembed.total == 12
        assert done.photo_vectors == 11  # FAISS rebuilt from Redis and followed: one vector per photo, none twice
        photo = sorted(folder.glob("id01_angelina_jolie-*"))[2]
        hit = client.search_photos(photo=photo, k=1, collection="later").hits[0]
        assert hit.paths == [str(photo)] and hit.score == pytest.approx(1.0, abs=1e-4)
    status = last_json(facegrid("collections", "status", "later", "--server", server.address, "--json").stdout)
    assert status["reembed"] == {"state": "done", "done": 11, "total": 12, "missing": 1}
