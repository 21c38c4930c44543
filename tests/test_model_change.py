"""Restarting with another FACEGRID_MODEL: every collection keeps the model it was made with, gate
templates of another model are never compared with this one's, and the server always starts.

fused is 256-dimensional, sface and dlib are both 128: the sface -> dlib restart is the case
where mixing would go unnoticed by any dimension check.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from facegrid.clients.sdk import FacegridError

from helpers import ServerProcess

ANGELINA = "deepface/id01_angelina_jolie"
KATY = "deepface/id10_katy_perry"


def photos(faces_dir, folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


def failure(call) -> FacegridError:
    with pytest.raises(FacegridError) as caught:
        call()
    return caught.value


def restarted(data_dir, model: str) -> ServerProcess:
    return ServerProcess(data_dir, {"FACEGRID_MODEL": model}).start()


def test_another_default_model_never_mixes_vector_spaces(tmp_path, faces_dir):
    angelina, katy = photos(faces_dir, ANGELINA), photos(faces_dir, KATY)
    data = tmp_path / "data"

    server = restarted(data, "fused")
    try:
        with server.client(timeout=60) as client:
            client.enroll("angelina", angelina[:2])
            list(client.index_photos([(f"katy-{i}.jpg", p) for i, p in enumerate(katy[:2])], collection="photos"))
            client.create_collection("mine", 3)
            client.add_vectors("mine", [7], [[1.0, 0.0, 0.0]])
    finally:
        server.stop()

    server = restarted(data, "sface")  # 128 dimensions where the collection and templates have 256
    try:
        with server.client(timeout=60) as client:
            stats = client.stats("photos")
            assert (stats.model, stats.dim, stats.faces) == ("fused", 256, 2)
            hits = client.search(photo=katy[2], k=1, collection="photos").queries[0].hits
            assert hits[0].paths[0].startswith("katy-")  # the query was embedded with fused, like the collection
            list(client.index_photos([("katy-2.jpg", katy[2])], collection="photos"))
            assert client.stats("photos").faces == 3  # new photos too go in with fused
            assert client.stats("mine").dim == 3 and client.search(vector=[1, 0, 0], k=1, collection="mine").queries[0].hits[0].vector_id == 7

            error = failure(lambda: client.verify("angelina", angelina[3]))
            assert error.code == grpc.StatusCode.FAILED_PRECONDITION and "enroll again" in error.message
            assert client.identify(angelina[3]).subject is None  # its fused templates are not in the sface index
            assert client.enroll("angelina", angelina[:2]).templates == 4
            assert client.verify("angelina", angelina[3]).match
            assert sorted(t.model for t in client.subject("angelina").templates) == ["fused", "fused", "sface", "sface"]

            list(client.index_photos([("katy-0.jpg", katy[0])], collection="fresh"))
            stats = client.stats("fresh")
            assert (stats.model, stats.dim) == ("sface", 128)

            # Naming a group of a fused collection cannot enroll its faces at an sface gate.
            group = client.cluster("photos").groups[0]
            error = failure(lambda: client.name_group(group.group_id, "katy", collection="photos"))
            assert error.code == grpc.StatusCode.FAILED_PRECONDITION and "fused" in error.message
    finally:
        server.stop()

    server = restarted(data, "dlib")  # the same 128 dimensions as sface, another space
    try:
        with server.client(timeout=60) as client:
            assert client.stats("fresh").model == "sface"
            hits = client.search(photo=katy[1], k=1, collection="fresh").queries[0].hits
            assert hits[0].score > 0.5  # embedded with sface: the same person scores high
            error = failure(lambda: client.verify("angelina", angelina[3]))
            assert error.code == grpc.StatusCode.FAILED_PRECONDITION
            assert client.identify(angelina[3]).subject is None
    finally:
        server.stop()
