"""The photo library over REST, against one real server per module over a real socket: indexing real photos, listing
them, search by photo, by words and by vector, groups by person (cluster, name, merge, split, undo), k-means, plain
vectors, and the scopes and refusals gRPC has; answers compared field by field with the gRPC SDK's for the same
calls, and no answer holding a stored vector."""

from __future__ import annotations

import json
import math
import time

import pytest
import requests

from facegrid.server.domain.library_core import PhotoRef

from helpers import faces_dir_or_skip, make_keys, running_server

PEOPLE = {"Colin_Powell": 6, "Tony_Blair": 5}  # LFW people and how many of their photos: two groups, k-means k=2
PROBLEM = "application/problem+json"


def photos_of_people() -> list[tuple[str, bytes]]:
    lfw = faces_dir_or_skip() / "lfw"
    return [(f"album/{photo.name}", photo.read_bytes())
            for person, count in PEOPLE.items() for photo in sorted((lfw / person).glob("*.jpg"))[:count]]


@pytest.fixture(scope="module")
def image_model(request) -> tuple[str, str] | None:
    """(models directory, name) of a CLIP model imported with random weights (words need a text tower), or None where
    open_clip is not installed here (search by words is then skipped, the rest runs)."""
    try:
        models = request.getfixturevalue("models_dir")
    except pytest.skip.Exception:
        return None
    from facegrid.encoder.towers.card import read_card

    return str(models), read_card(next(p for p in models.iterdir() if p.is_dir())).name


@pytest.fixture(scope="module")
def server(tmp_path_factory, image_model):
    faces_dir_or_skip()
    env = {"FACEGRID_MODELS_DIR": image_model[0]} if image_model else {}
    with running_server(tmp_path_factory.mktemp("http-library"), env, ["--http", "127.0.0.1:0"]) as server:
        yield server


@pytest.fixture(scope="module")
def keys(server) -> dict[str, str]:
    return make_keys(server, {"library": ("librarian", ("library",)), "namer": ("namer", ("library", "enroll")),
                              "curator": ("curator", ("library", "admin"))})


def no_vectors(answer) -> None:
    """No stored vector in an answer: no list of 16 or more numbers, and no field named like one."""
    if isinstance(answer, dict):
        assert not {"vector", "vectors", "centroids", "embedding"} & {k for k, v in answer.items() if isinstance(v, list)}
        for value in answer.values():
            no_vectors(value)
    elif isinstance(answer, list):
        assert not (len(answer) >= 16 and all(isinstance(v, float) for v in answer)), "a vector in an answer"
        for value in answer:
            no_vectors(value)


def raw_json(body) -> dict:
    """A JSON body as Python writes it, NaN included (`requests` refuses to send NaN as JSON)."""
    return {"data": json.dumps(body), "headers": {"content-type": "application/json"}}


class Api:
    """The REST API as one key sees it."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.session = url, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, status: int = 200, **kwargs) -> dict:
        reply = self.session.request(method, self.url + path, timeout=120, **kwargs)
        assert reply.status_code == status, reply.text[:2000]
        if status >= 400:
            assert reply.headers["content-type"] == PROBLEM
        answer = reply.json()
        no_vectors(answer)
        return answer


@pytest.fixture(scope="module")
def api(server, keys) -> Api:
    return Api(server.http_url, keys["library"])


@pytest.fixture(scope="module")
def curator(server, keys) -> Api:
    """Scopes library and admin: raw vectors against stored faces."""
    return Api(server.http_url, keys["curator"])


@pytest.fixture(scope="module")
def album(api, image_model) -> dict:
    """The photos indexed into collection `album` (with the CLIP model as its image model where there is one), and a
    file that is not a photo among them."""
    photos = photos_of_people()
    files = [("photos", (name.rsplit("/", 1)[1], data, "image/jpeg")) for name, data in photos]
    files.insert(3, ("photos", ("notes.txt", b"not a photo", "text/plain")))
    fields = [("collection", "album"), *[("paths", name) for name, _ in photos[:3]], ("paths", "album/notes.txt"),
              *[("paths", name) for name, _ in photos[3:]]]
    if image_model:
        fields.append(("image_model", image_model[1]))
    answer = api.call("POST", "/v1/photos", data=fields, files=files)
    return {"answer": answer, "photos": photos}


def test_indexing_answers_each_photo_in_order_and_a_bad_photo_fails_alone(api, album):
    answer, photos = album["answer"], album["photos"]
    assert answer["collection"] == "album" and answer["failed"] == 1 and answer["indexed"] == len(photos)
    results = answer["photos"]
    assert [r["path"] for r in results] == [p for p, _ in photos[:3]] + ["album/notes.txt"] + [p for p, _ in photos[3:]]
    bad = results[3]
    assert bad["error_code"] == "INVALID_ARGUMENT" and "not an image" in bad["error"] and bad["faces"] == 0
    assert all(r["faces"] >= 1 and not r["error"] for r in results if r is not bad)
    # The same photo again under another name: only its path is new; the filename is the default path.
    again = api.call("POST", "/v1/photos", data={"collection": "album"},
                     files=[("photos", ("copy.jpg", photos[0][1], "image/jpeg"))])
    assert again["already_indexed"] == 1 and again["photos"][0]["path"] == "copy.jpg"
    assert again["photos"][0]["photo_sha256"] == results[0]["photo_sha256"]


def test_photos_list_the_collection_with_stats_as_grpc_answers_them(server, keys, api, album):
    listing = api.call("GET", "/v1/photos", params={"collection": "album", "page_size": 4})
    with server.client(api_key=keys["library"]) as client:
        stats = client.stats("album")
    assert listing["stats"] == {"collection": stats.collection, "model": stats.model, "dim": stats.dim, "photos": stats.photos,
                                "faces": stats.faces, "vectors": stats.vectors, "image_model": stats.image_model,
                                "image_dim": stats.image_dim, "photo_vectors": stats.photo_vectors, "index": stats.index,
                                "reembed": listing["stats"]["reembed"]}
    assert stats.photos == len(album["photos"])
    # Page by page to the last, each photo with every path it was seen under.
    listed = listing["photos"]
    while listing["next_page_token"]:
        listing = api.call("GET", "/v1/photos", params={"collection": "album", "page_size": 4,
                                                        "page_token": listing["next_page_token"]})
        listed += listing["photos"]
    paths = {p["photo_sha256"]: p["paths"] for p in listed}
    assert len(paths) == len(album["photos"])
    first = album["answer"]["photos"][0]
    assert paths[first["photo_sha256"]] == [first["path"], "copy.jpg"]
    known = api.call("POST", "/v1/photos/known", json={"collection": "album", "photo_sha256": [first["photo_sha256"], "0" * 64]})
    assert known == {"photo_sha256": [first["photo_sha256"]]}
    bad_token = api.call("GET", "/v1/photos", 400, params={"collection": "album", "page_token": "xyz"})
    assert bad_token["code"] == "INVALID_ARGUMENT"


def test_search_by_photo_answers_as_grpc_does(server, keys, api, album):
    name, photo = album["photos"][1]
    answer = api.call("POST", "/v1/search/faces", data={"collection": "album", "k": 3},
                      files={"photo": ("probe.jpg", photo, "image/jpeg")})
    with server.client(api_key=keys["library"]) as client:
        grpc_answer = client.search(photo=photo, k=3, collection="album")
    assert len(answer["queries"]) == len(grpc_answer.queries) >= 1
    for rest, grpc_query in zip(answer["queries"], grpc_answer.queries):
        assert [(h["face_id"], h["photo_sha256"], h["paths"], h["vector_id"]) for h in rest["hits"]] == \
               [(h.face_id, h.photo_sha256, h.paths, None) for h in grpc_query.hits]
        assert [h["score"] for h in rest["hits"]] == pytest.approx([h.score for h in grpc_query.hits], abs=1e-6)
        assert [(h["box"]["x"], h["box"]["y"], h["box"]["width"], h["box"]["height"]) for h in rest["hits"]] == [
            pytest.approx(tuple(h.box), abs=1e-4) for h in grpc_query.hits]
    best = answer["queries"][0]["hits"][0]
    assert best["paths"] == [name] and best["score"] == pytest.approx(1.0, abs=1e-4)


def test_a_raw_vector_against_faces_needs_scope_admin(api, curator, album):
    query = {"collection": "album", "vector": [0.0625] * 256, "k": 2}
    refused = api.call("POST", "/v1/search/faces", 403, json=query)
    assert refused["code"] == "PERMISSION_DENIED" and "admin" in refused["detail"]
    refused = api.call("POST", "/v1/search", 403, json=query)
    assert refused["code"] == "PERMISSION_DENIED"
    found = curator.call("POST", "/v1/search/faces", json=query)
    assert len(found["queries"]) == 1 and len(found["queries"][0]["hits"]) == 2 and found["queries"][0]["face"] is None
    nan = curator.call("POST", "/v1/search/faces", 400, **raw_json({**query, "vector": [math.nan] * 256}))
    assert nan["code"] == "INVALID_ARGUMENT" and "NaN" in nan["detail"]
    short = curator.call("POST", "/v1/search/faces", 400, json={**query, "vector": [0.1] * 3})
    assert "256" in short["detail"]


def test_search_by_words_and_by_a_dropped_photo(server, keys, api, album, image_model):
    if image_model is None:
        pytest.skip("no image model here: open_clip is not installed to import one (pip install 'facegrid[import]')")
    words = api.call("POST", "/v1/search", json={"collection": "album", "text": "a man in a suit", "k": 4})
    with server.client(api_key=keys["library"]) as client:
        grpc_words = client.search_photos(text="a man in a suit", k=4, collection="album")
    assert words["model"] == grpc_words.model == image_model[1] and words["text_truncated"] is False
    assert [(h["photo_sha256"], h["paths"]) for h in words["hits"]] == [(h.photo_sha256, h.paths) for h in grpc_words.hits]
    assert [h["score"] for h in words["hits"]] == pytest.approx([h.score for h in grpc_words.hits], abs=1e-5)
    name, photo = album["photos"][-1]
    like = api.call("POST", "/v1/search", data={"collection": "album", "k": 2}, files={"photo": ("drop.jpg", photo, "image/jpeg")})
    assert like["hits"][0]["paths"] == [name] and like["hits"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert api.call("PUT", "/v1/collections/album/image-model", json={"image_model": image_model[1]})["photo_vectors"] == len(album["photos"])
    near = api.call("POST", "/v1/similar", json={"collection": "album", "threshold": 0.999})
    assert near["threshold"] == pytest.approx(0.999) and near["photos"] == len(album["photos"]) and near["threshold_source"] == "given"
    scenes = api.call("POST", "/v1/kmeans", json={"collection": "album", "k": 2, "photos": True})
    assert sorted(p["photo_sha256"] for p in scenes["photos"]) == sorted(p["photo_sha256"] for p in album["answer"]["photos"][:3] + album["answer"]["photos"][4:])


def test_groups_cluster_merge_split_name_and_undo(server, keys, api, album):
    namer = Api(server.http_url, keys["namer"])
    grouped = api.call("POST", "/v1/groups/cluster", json={"collection": "album"})
    assert api.call("GET", "/v1/groups", params={"collection": "album"}) == grouped
    with server.client(api_key=keys["library"]) as client:
        grpc_groups = client.groups("album")
    assert [(g["group_id"], g["name"], [(f["face_id"], f["photo_sha256"], f["paths"]) for f in g["faces"]]) for g in grouped["groups"]] == \
           [(g.group_id, g.name, [(f.face_id, f.photo_sha256, f.paths) for f in g.faces]) for g in grpc_groups.groups]
    assert grouped["unassigned"] == grpc_groups.unassigned and grouped["threshold"] == pytest.approx(grpc_groups.threshold, abs=1e-6)
    largest, second = grouped["groups"][0], grouped["groups"][1]
    assert len(largest["faces"]) >= 3 and len(second["faces"]) >= 3  # Colin Powell and Tony Blair

    merged = api.call("POST", "/v1/groups/merge", json={"collection": "album", "group_id": largest["group_id"],
                                                         "other_group_id": second["group_id"]})
    sizes = {g["group_id"]: len(g["faces"]) for g in merged["groups"]}
    assert sizes[largest["group_id"]] == len(largest["faces"]) + len(second["faces"]) and second["group_id"] not in sizes
    assert api.call("POST", "/v1/groups/undo", json={"collection": "album"})["groups"] == grouped["groups"]

    stranger = largest["faces"][-1]["face_id"]
    split = api.call("POST", "/v1/groups/not-this-person", json={"collection": "album", "face_id": stranger})
    alone = [g for g in split["groups"] if stranger in [f["face_id"] for f in g["faces"]]]
    assert len(alone) == 1 and len(alone[0]["faces"]) == 1
    api.call("POST", "/v1/groups/undo", json={"collection": "album"})
    missing = api.call("POST", "/v1/groups/split", 404, json={"collection": "album", "face_id": "999999"})
    assert missing["code"] == "NOT_FOUND"

    # Naming enrolls at the gate: scope enroll too, refused and audited without it; audited as gRPC's Correct with it.
    path = f"/v1/groups/{second['group_id']}/name"
    refused = api.call("POST", path, 403, json={"collection": "album", "subject_id": "tony"})
    assert refused["code"] == "PERMISSION_DENIED" and "enroll" in refused["detail"]
    named = namer.call("POST", path, json={"collection": "album", "subject_id": "tony"})
    assert named["naming"]["subject_id"] == "tony" and named["naming"]["created"] is True
    assert any(f["accepted"] and f["template_id"] for f in named["naming"]["faces"])
    assert {g["group_id"]: g["name"] for g in named["groups"]}[second["group_id"]] == "tony"
    undone = api.call("POST", "/v1/groups/undo", json={"collection": "album"})
    assert all(g["name"] == "" for g in undone["groups"]) and undone["naming"] is None
    nothing = api.call("POST", "/v1/groups/undo", 400, json={"collection": "album"})
    assert nothing["code"] == "FAILED_PRECONDITION"
    with server.client(api_key=keys["admin"]) as client:
        for _ in range(50):  # entries are written in the background
            entries = [e for e in client.audit() if e.rpc == "IndexService/Correct"]
            if len(entries) == 2:
                break
            time.sleep(0.1)
    assert [(e.key_name, e.decision) for e in entries] == [("librarian", "PERMISSION_DENIED"), ("namer", "named")]
    assert f"named group {second['group_id']} of collection 'album'" in entries[1].detail


def test_kmeans_gives_clusters_and_sizes_never_centroids(server, keys, api, album):
    clusters = api.call("POST", "/v1/kmeans", json={"collection": "album", "k": 2})
    with server.client(api_key=keys["library"]) as client:
        stats = client.stats("album")
    assert clusters["k"] == 2 and sum(clusters["sizes"]) == len(clusters["ids"]) == stats.faces
    assert sorted(set(clusters["clusters"])) == [0, 1] and "centroids" not in clusters and clusters["photos"] == []
    too_many = api.call("POST", "/v1/kmeans", 400, json={"collection": "album", "k": stats.faces})
    assert too_many["code"] == "INVALID_ARGUMENT"


def test_plain_vectors_round_trip_with_scope_library(api):
    made = api.call("POST", "/v1/collections", json={"collection": "mine", "dim": 4})
    assert (made["model"], made["dim"], made["vectors"]) == ("vectors", 4, 0)
    added = api.call("POST", "/v1/collections/mine/vectors", json={"ids": [7, 8, 2**40],
                                                                   "vectors": [[1, 0, 0, 0], [0, 1, 0, 0], [0.6, 0.8, 0, 0]]})
    assert added["vectors"] == 3
    found = api.call("POST", "/v1/search/faces", json={"collection": "mine", "vector": [0, 1, 0, 0], "k": 2})
    hits = found["queries"][0]["hits"]
    assert [h["vector_id"] for h in hits] == [8, 2**40] and hits[0]["face_id"] is None
    assert [h["score"] for h in hits] == pytest.approx([1.0, 0.8], abs=1e-6)
    nan = api.call("POST", "/v1/collections/mine/vectors", 400, **raw_json({"ids": [9], "vectors": [[math.nan, 0, 0, 0]]}))
    assert nan["code"] == "INVALID_ARGUMENT"
    assert api.call("POST", "/v1/collections/mine/vectors", 400, json={"ids": [9], "vectors": [[1, 0, 0]]})["code"] == "INVALID_ARGUMENT"
    taken = api.call("POST", "/v1/collections", 409, json={"collection": "mine", "dim": 8})
    assert taken["code"] == "ALREADY_EXISTS"
    removed = api.call("DELETE", "/v1/collections/mine/vectors", params={"ids": [7, 8]})
    assert removed["vectors"] == 1 and api.call("GET", "/v1/collections/mine")["vectors"] == 1


def test_unknown_collections_and_bad_requests_are_problems(api):
    for method, path, kwargs in (("GET", "/v1/collections/nowhere", {}),
                                 ("GET", "/v1/groups", {"params": {"collection": "nowhere"}}),
                                 ("POST", "/v1/kmeans", {"json": {"collection": "nowhere"}}),
                                 ("POST", "/v1/collections/nowhere/vectors", {"json": {"ids": [1], "vectors": [[1.0]]}})):
        assert api.call(method, path, 404, **kwargs)["code"] == "NOT_FOUND"
    # A raw vector may search without admin only a collection known to hold plain vectors: fail closed, as over gRPC.
    unknown = api.call("POST", "/v1/search/faces", 403, json={"collection": "nowhere", "vector": [1.0], "k": 1})
    assert unknown["code"] == "PERMISSION_DENIED"
    assert api.call("GET", "/v1/collections/bad%20name", 400)["code"] == "INVALID_ARGUMENT"
    assert api.call("POST", "/v1/search/faces", 415, data=b"x", headers={"content-type": "text/plain"})["status"] == 415
    assert api.call("POST", "/v1/search", 400, json={"collection": "album"})["code"] == "INVALID_ARGUMENT"
    assert api.call("POST", "/v1/groups/split", 400, json={"collection": "album", "face_id": "\u00b2"})["code"] == "INVALID_ARGUMENT"


def test_photo_listing_pages_through_a_large_collection_once(external_redis):
    """Past Redis's compact encoding (128 entries) HSCAN pages for real: every photo is listed exactly once."""
    from facegrid.server.domain.page_tokens import decode_cursor, encode_cursor
    from facegrid.server.store.feed import ChangeFeed
    from facegrid.server.store.library import LibraryStore
    from facegrid.server.store.photos import NewPhoto

    client = external_redis.client()
    store = LibraryStore(client, ChangeFeed(client))
    store.collections.create("big", "test", 4)
    digests = [f"{i:064x}" for i in range(300)]
    store.photos.add("big", [NewPhoto(d, [f"{i}.jpg"], []) for i, d in enumerate(digests)])
    listed, cursor, pages = [], 0, 0
    while True:
        records, cursor = store.photos.page("big", cursor, 50)
        listed += [PhotoRef(r.photo_sha256, r.paths) for r in records]
        pages += 1
        if not cursor:
            break
        assert decode_cursor(encode_cursor(cursor)) == cursor
    assert pages > 2 and sorted(r.photo_sha256 for r in listed) == digests
    assert all(r.paths == [f"{int(r.photo_sha256, 16)}.jpg"] for r in listed)
