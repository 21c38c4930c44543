"""API keys and scopes over a real socket: every RPC x {no key, bad key, revoked key, each scope} (the matrix in
docs/security.md is generated here); the audit log, failed authentications included, and the penalty of a host that
keeps failing; least disclosure (a gate key gets decisions and bands, not scores; unknown ids answer as non-matches;
a second face refuses; raw-vector search of faces needs admin: the reconstruction attack); look-alike subject ids;
KMeans without centroids; the `facegrid keys`, `audit` and `verify` commands.

One server for the module, listening on every interface with --insecure and no key at start: its first
(admin) key is made without a key, as the rule allows, and from then on every call needs one. Before it starts,
one subject is written to its Redis without a look-alike skeleton (as a bulk import or an older version left it).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import redis

from facegrid.clients.sdk import FacegridError
from facegrid.v1 import (admin_pb2, admin_pb2_grpc, encoder_pb2, encoder_pb2_grpc, gate_pb2, gate_pb2_grpc, index_pb2,
                         index_pb2_grpc)

from helpers import eventually, last_json, make_keys, running_server

SERVICES = {
    "GateService": (gate_pb2, gate_pb2_grpc.GateServiceStub),
    "IndexService": (index_pb2, index_pb2_grpc.IndexServiceStub),
    "EncoderService": (encoder_pb2, encoder_pb2_grpc.EncoderServiceStub),
    "AdminService": (admin_pb2, admin_pb2_grpc.AdminServiceStub),
}

# The documented scope of every RPC (README, admin.proto), written out here rather than read from
# server/rpc/auth.py, so that a wrong entry there fails this test.
DOCUMENTED = {
    "GateService/Verify": {"gate"}, "GateService/Identify": {"gate"},
    "GateService/Enroll": {"enroll"}, "GateService/Forget": {"enroll"}, "GateService/GetSubject": {"enroll"},
    "GateService/ListSubjects": {"enroll"}, "GateService/UpdateSubject": {"enroll"}, "GateService/Pass": {"gate"},
    **{f"IndexService/{m}": {"library"} for m in (
        "IndexPhotos", "KnownPhotos", "Search", "Stats", "Cluster", "Groups", "Correct", "Undo", "KMeans",
        "CreateCollection", "AddVectors", "RemoveVectors", "SearchPhotos", "SimilarPhotos", "SetImageModel")},
    "IndexService/Correct(name)": {"library", "enroll"},
    "GateService/Enroll(replace)": {"enroll", "admin"},  # replacing a subject's templates with unlike photos
    "GateService/Pass(another door)": {"gate"},
    "IndexService/Search(vector, faces)": {"library", "admin"},
    "IndexService/Search(vector, own vectors)": {"library"},
    "IndexService/SearchPhotos(vector)": {"library", "admin"},
    "EncoderService/Embed": {"embed"}, "EncoderService/ListModels": {"embed"}, "EncoderService/EmbedPhoto": {"embed"},
    "EncoderService/EmbedText": {"embed"}, "EncoderService/EmbedStream": {"embed"}, "EncoderService/EmbedAudio": {"embed"},
    **{f"AdminService/{m}": {"admin"} for m in ("CreateKey", "ListKeys", "RevokeKey", "ListAudit", "SetDoor",
                                                  "ListDoors", "DeleteDoor")},
}

# A request for each case that, once past the key check, fails validation or finds nothing, or does nothing.
REQUESTS = {
    "GateService/Verify": gate_pb2.VerifyRequest(subject_id="nobody"),
    "GateService/Identify": gate_pb2.IdentifyRequest(),
    "GateService/Enroll": gate_pb2.EnrollRequest(subject_id="nobody"),
    "GateService/Enroll(replace)": gate_pb2.EnrollRequest(subject_id="nobody", replace=True),
    "GateService/Forget": gate_pb2.ForgetRequest(subject_id="no-such-subject"),
    "GateService/GetSubject": gate_pb2.GetSubjectRequest(subject_id="no-such-subject"),
    "GateService/ListSubjects": gate_pb2.ListSubjectsRequest(page_size=1),
    "GateService/UpdateSubject": gate_pb2.UpdateSubjectRequest(subject_id="no-such-subject"),
    "GateService/Pass": gate_pb2.PassRequest(door="front"),
    "IndexService/IndexPhotos": [],
    "IndexService/KnownPhotos": index_pb2.KnownPhotosRequest(collection="no-such", photo_sha256=["0" * 64]),
    "IndexService/Search": index_pb2.SearchRequest(collection="no-such", k=0),
    "IndexService/Stats": index_pb2.StatsRequest(collection="no-such"),
    "IndexService/Cluster": index_pb2.ClusterRequest(collection="no-such"),
    "IndexService/Groups": index_pb2.GroupsRequest(collection="no-such"),
    "IndexService/Correct": index_pb2.CorrectRequest(collection="no-such", merge=index_pb2.Merge(group_id=1, other_group_id=1)),
    "IndexService/Correct(name)": index_pb2.CorrectRequest(collection="no-such", name=index_pb2.Name(group_id=1, subject_id="bad id")),
    "GateService/Pass(another door)": gate_pb2.PassRequest(door="back"),
    "IndexService/Search(vector, faces)": index_pb2.SearchRequest(collection="photos", k=1, vector=index_pb2.Vector(values=[0.1] * 4)),
    "IndexService/Search(vector, own vectors)": index_pb2.SearchRequest(collection="own-vectors", k=1,
                                                                       vector=index_pb2.Vector(values=[1, 0, 0])),
    "IndexService/SearchPhotos(vector)": index_pb2.SearchPhotosRequest(collection="photos", k=1,
                                                                       vector=index_pb2.Vector(values=[0.1] * 4)),
    "IndexService/Undo": index_pb2.UndoRequest(collection="no-such"),
    "IndexService/KMeans": index_pb2.KMeansRequest(collection="no-such"),
    "IndexService/CreateCollection": index_pb2.CreateCollectionRequest(collection="matrix", dim=0),
    "IndexService/AddVectors": index_pb2.AddVectorsRequest(collection="no-such", ids=[1]),
    "IndexService/RemoveVectors": index_pb2.RemoveVectorsRequest(collection="no-such", ids=[1]),
    "IndexService/SearchPhotos": index_pb2.SearchPhotosRequest(collection="no-such", text="a dog", k=0),
    "IndexService/SimilarPhotos": index_pb2.SimilarPhotosRequest(collection="no-such"),
    "IndexService/SetImageModel": index_pb2.SetImageModelRequest(collection="no-such", image_model="no-such-model"),
    "EncoderService/Embed": encoder_pb2.EmbedRequest(),
    "EncoderService/ListModels": encoder_pb2.ListModelsRequest(),
    "EncoderService/EmbedPhoto": encoder_pb2.EmbedPhotoRequest(),
    "EncoderService/EmbedText": encoder_pb2.EmbedTextRequest(),
    "EncoderService/EmbedAudio": encoder_pb2.EmbedAudioRequest(),
    "EncoderService/EmbedStream": [encoder_pb2.EmbedItem(id="a")],
    "AdminService/CreateKey": admin_pb2.CreateKeyRequest(name="", scopes=["gate"]),
    "AdminService/ListKeys": admin_pb2.ListKeysRequest(),
    "AdminService/RevokeKey": admin_pb2.RevokeKeyRequest(name="no-such-key"),
    "AdminService/ListAudit": admin_pb2.ListAuditRequest(limit=1),
    "AdminService/SetDoor": gate_pb2.Door(name="Not A Door Name"),
    "AdminService/ListDoors": admin_pb2.ListDoorsRequest(),
    "AdminService/DeleteDoor": admin_pb2.DeleteDoorRequest(name="no-such-door"),
}
SCOPES = ("gate", "enroll", "library", "embed", "admin")
VARIANTS = {"IndexService/Correct(name)", "GateService/Pass(another door)", "IndexService/Search(vector, faces)",
            "IndexService/Search(vector, own vectors)", "IndexService/SearchPhotos(vector)", "GateService/Enroll(replace)"}
DOOR = "front"  # the door the door key is bound to (REQUESTS' Pass is as that door)
SECURITY_DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"
MATRIX_BEGIN, MATRIX_END = "<!-- auth-matrix:begin (tests/test_auth.py writes this) -->", "<!-- auth-matrix:end -->"
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
BROKEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNIMPLEMENTED}
ANGELINA, SCARLETT, KATY = "deepface/id01_angelina_jolie", "deepface/id03_scarlett_johansson", "deepface/id10_katy_perry"


def photos(faces_dir, folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


def every_rpc() -> set[str]:
    """Service/Method of every RPC in the protos."""
    return {f"{name}/{m.name}" for name, (pb2, _) in SERVICES.items() for m in pb2.DESCRIPTOR.services_by_name[name].methods}


def call(channel, case: str, metadata) -> grpc.StatusCode:
    """The status a call ends with."""
    service, method = case.split("(")[0].split("/")
    stub = getattr(SERVICES[service][1](channel), method)
    request = REQUESTS[case]
    try:
        if isinstance(request, list):  # a request stream
            list(stub(iter(request), metadata=metadata, timeout=30))
        else:
            stub(request, metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def bearer(key: str) -> tuple:
    return (("authorization", f"Bearer {key}"),)


def cli(*args: str, key: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FACEGRID_API_KEY"}
    if key:
        env["FACEGRID_API_KEY"] = key  # the environment, as a gate device would set it
    return subprocess.run([sys.executable, "-m", "facegrid.clients.cli", *args], capture_output=True, text=True, timeout=120, env=env)



def test_every_rpc_has_a_scope_and_the_table_names_no_other():
    from facegrid.server.domain.keys import SCOPES as SERVER_SCOPES
    from facegrid.server.rpc.auth import METHOD_SCOPES, REQUEST_SCOPES

    from facegrid.clients.admin_commands import SCOPE_NAMES

    full = {f"/facegrid.v1.{case}" for case in every_rpc()}
    assert full - METHOD_SCOPES.keys() == set(), "RPCs without a scope in server/rpc/auth.py"
    assert METHOD_SCOPES.keys() - full == set(), "scopes for RPCs that do not exist"
    assert set(METHOD_SCOPES.values()) <= set(SERVER_SCOPES) and SCOPE_NAMES == SERVER_SCOPES == SCOPES
    assert every_rpc() | VARIANTS == DOCUMENTED.keys() == REQUESTS.keys()
    for method in REQUEST_SCOPES:  # scopes decided by a request's fields need a request that is not a stream
        service, name = method.rsplit(".", 1)[-1].split("/")
        descriptor = SERVICES[service][0].DESCRIPTOR.services_by_name[service].methods_by_name[name]
        assert not descriptor.client_streaming


LEGACY_ID = "b0b1"  # written before the server starts, without a skeleton: `bOb1` looks like it (0 and O)


def write_legacy_subject(data_dir: Path) -> None:
    """One subject straight into the data directory's Redis, as a bulk import (or an older version) leaves it."""
    from facegrid.encoder.quality import FaceQuality
    from facegrid.server.store.embedded_redis import EmbeddedRedis
    from facegrid.server.store.subjects import NewTemplate, SubjectStore

    embedded = EmbeddedRedis(data_dir / "redis").start(30)
    try:
        vector = np.random.default_rng(3).standard_normal(256).astype(np.float32)
        SubjectStore.connect(embedded.url).add_subjects_bulk(
            [(LEGACY_ID, NewTemplate("fused", vector / np.linalg.norm(vector), "legacy", FaceQuality.from_dict({})))])
    finally:
        embedded.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("auth")
    write_legacy_subject(folder / "data")
    with running_server(folder, args=["--address", "0.0.0.0:0", "--insecure", "--reflection"]) as server:
        yield server


@pytest.fixture(scope="module")
def keys(server) -> dict[str, str]:
    """An admin key made without a key (none existed), then one key per scope and a few more."""
    made = make_keys(server, {**{scope: (f"only-{scope}", [scope]) for scope in SCOPES[:-1]},
                              "library+enroll": ("library-enroll", ["library", "enroll"]),
                              "library+admin": ("library-admin", ["library", "admin"]),
                              "gate+enroll": ("desk", ["gate", "enroll"]),
                              "door": ("front-camera", ["gate"], DOOR),
                              "all": ("everything", list(SCOPES)),
                              "revoked": ("revoked", list(SCOPES))})
    with server.client(api_key=made["admin"]) as client:
        client.revoke_key("revoked")
    with server.client(api_key=made["library"]) as library:  # the library key's own vectors, searched by vector
        library.create_collection("own-vectors", 3)
        library.add_vectors("own-vectors", [1, 2], np.eye(3, dtype=np.float32)[:2])
    return made


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.local_address) as channel:
        yield channel


MATRIX_COLUMNS = ("no key", "garbage key", "revoked key", *SCOPES, "library+enroll", "library+admin", "door key", "all scopes")
SHORT = {grpc.StatusCode.UNAUTHENTICATED: "UNAUTH", grpc.StatusCode.PERMISSION_DENIED: "DENIED"}


def expected_refusal(case: str, caller: str) -> grpc.StatusCode | None:
    """The code the key check must answer `case` with for `caller`; None where the call must get past it."""
    if caller in ("no key", "garbage key", "revoked key"):
        return grpc.StatusCode.UNAUTHENTICATED
    if caller == "door key":  # scope gate, bound to DOOR: Pass as that door and nothing else
        return None if case == "GateService/Pass" else grpc.StatusCode.PERMISSION_DENIED
    held = set(SCOPES) if caller == "all scopes" else set(caller.split("+"))
    return None if DOCUMENTED[case] <= held else grpc.StatusCode.PERMISSION_DENIED


def matrix_table(answers: dict[tuple[str, str], grpc.StatusCode]) -> str:
    """The markdown table of what the key check answered: `ok` (past it: the RPC then answers on its own), UNAUTH, DENIED."""
    lines = ["| RPC (request) | " + " | ".join(MATRIX_COLUMNS) + " |", "|---" * (len(MATRIX_COLUMNS) + 1) + "|"]
    for case in sorted(DOCUMENTED):
        cells = [SHORT.get(answers[case, caller], "ok") for caller in MATRIX_COLUMNS]
        lines.append(f"| `{case}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_every_rpc_answers_each_kind_of_caller_with_the_documented_code_and_the_doc_shows_it(channel, keys):
    callers = {"no key": None, "garbage key": bearer("fgk_" + "x" * 43), "revoked key": bearer(keys["revoked"]),
               **{name: bearer(keys[name]) for name in (*SCOPES, "library+enroll", "library+admin")}, "door key": bearer(keys["door"]),
               "all scopes": bearer(keys["all"])}
    wrong, answers = [], {}
    for case in DOCUMENTED:
        for caller, metadata in callers.items():
            code = answers[case, caller] = call(channel, case, metadata)
            refusal = expected_refusal(case, caller)
            if (code is not refusal) if refusal is not None else code in REFUSED | BROKEN:
                wrong.append(f"{case} with {caller}: {code.name}")
    assert wrong == []
    # docs/security.md shows this matrix as measured: regenerate it (FACEGRID_WRITE_DOCS=1) when the rules change.
    table = matrix_table(answers)
    text = SECURITY_DOC.read_text()
    assert MATRIX_BEGIN in text and MATRIX_END in text, f"docs/security.md lacks the matrix markers {MATRIX_BEGIN!r}"
    head, rest = text.split(MATRIX_BEGIN, 1)
    documented, tail = rest.split(MATRIX_END, 1)
    if documented.strip() != table and os.environ.get("FACEGRID_WRITE_DOCS") == "1":
        SECURITY_DOC.write_text(f"{head}{MATRIX_BEGIN}\n{table}\n{MATRIX_END}{tail}")
        documented = table
    assert documented.strip() == table, f"docs/security.md's matrix differs from what the server answers; it is now:\n{table}"


def test_key_headers(channel, keys):
    assert call(channel, "GateService/ListSubjects", (("x-api-key", keys["enroll"]),)) is grpc.StatusCode.OK
    assert call(channel, "GateService/ListSubjects", (("authorization", f"bearer {keys['enroll']}"),)) is grpc.StatusCode.OK
    assert call(channel, "GateService/ListSubjects", (("authorization", f"Basic {keys['enroll']}"),)) is grpc.StatusCode.UNAUTHENTICATED
    assert call(channel, "GateService/ListSubjects", (("authorization", "Bearer"),)) is grpc.StatusCode.UNAUTHENTICATED


def test_health_and_reflection_need_no_key(server, channel, keys):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    listing = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    names = {s.name for reply in listing for s in reply.list_services_response.service}
    assert "facegrid.v1.AdminService" in names
    # The same under reflection v1, the name grpcurl and Postman ask for first (same messages on the wire).
    v1 = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                               request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                               response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    listing = v1(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    assert "facegrid.v1.GateService" in {s.name for reply in listing for s in reply.list_services_response.service}
    run = cli("health", "--server", server.local_address)
    assert run.returncode == 0 and run.stdout.strip() == "SERVING", run.stderr


def test_the_first_key_was_made_without_a_key_and_now_keys_are_required(server, keys):
    with server.client() as client:
        with pytest.raises(FacegridError) as caught:
            client.create_key("sneaky", ["admin"])
        assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
    with server.client(api_key=keys["admin"]) as client:
        first = next(e for e in client.audit() if e.rpc == "AdminService/CreateKey")
        assert first.key_name == "" and first.decision == "created" and "'admin'" in first.detail
        listed = {k.name: k for k in client.list_keys()}
        assert listed["revoked"].revoked and not listed["only-gate"].revoked and listed["only-gate"].scopes == ["gate"]
        assert "sneaky" not in listed


def test_a_revoked_key_is_refused_at_once(server, keys):
    with server.client(api_key=keys["admin"]) as admin:
        key = admin.create_key("short-lived", ["enroll"]).key
        with server.client(api_key=key) as client:
            assert list(client.subjects()) is not None  # its record is in the server's cache now
            admin.revoke_key("short-lived")
            with pytest.raises(FacegridError) as caught:
                list(client.subjects())
            assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(FacegridError) as caught:
            admin.create_key("only-gate", ["gate"])  # a live key has that name
        assert caught.value.code is grpc.StatusCode.ALREADY_EXISTS
        assert admin.create_key("short-lived", ["gate"]).record.scopes == ["gate"]  # a revoked key's name is free again
        with server.client(api_key=key) as client, pytest.raises(FacegridError) as caught:
            list(client.subjects())
        assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED  # and the old key stays refused


@pytest.fixture(scope="module")
def enrolled(server, keys, faces_dir) -> dict[str, list[bytes]]:
    """Angelina and Scarlett enrolled from one photo each (with a key holding only `enroll`); the rest are probes."""
    probes = {}
    with server.client(api_key=keys["enroll"], timeout=120) as client:
        for subject, folder in (("angelina", ANGELINA), ("scarlett", SCARLETT)):
            pictures = photos(faces_dir, folder)
            assert client.enroll(subject, pictures[:1]).templates == 1
            probes[subject] = pictures[2:4]
    return probes


def test_a_gate_key_gets_the_decision_and_a_band_but_no_numbers_or_candidates(server, keys, enrolled):
    probe = enrolled["angelina"][0]
    with server.client(api_key=keys["gate"]) as gate:
        result = gate.identify(probe, candidates=5)
        assert result.subject == "angelina" and result.band in ("MEDIUM", "HIGH")
        assert result.score is None and result.threshold is None and result.estimated_far is None
        assert result.candidates == [] and result.margin == 0.0
        verified = gate.verify("angelina", probe)
        assert verified.match and verified.band in ("MEDIUM", "HIGH") and verified.score is None and verified.threshold is None
        stranger = gate.verify("scarlett", probe)
        assert not stranger.match and stranger.band == "LOW" and stranger.score is None
    with server.client(api_key=keys["gate+enroll"]) as desk:
        result = desk.identify(probe, candidates=5)
        assert result.subject == "angelina" and {s for s, _ in result.candidates} >= {"angelina", "scarlett"}
        assert result.margin > 0 and result.score >= result.threshold and result.band in ("MEDIUM", "HIGH")
        assert desk.verify("angelina", probe).score >= desk.verify("angelina", probe).threshold


def raw_verify(server, key: str, subject: str, photo: bytes):
    """The VerifyResponse as sent (or the RpcError)."""
    with grpc.insecure_channel(server.local_address) as channel:
        stub = gate_pb2_grpc.GateServiceStub(channel)
        try:
            return stub.Verify(gate_pb2.VerifyRequest(subject_id=subject, photo=photo), metadata=bearer(key), timeout=60)
        except grpc.RpcError as error:
            return error


def test_a_gate_key_cannot_tell_an_unknown_id_from_a_known_one_that_does_not_match(server, keys, enrolled):
    probe = enrolled["scarlett"][0]  # not Angelina
    unknown = raw_verify(server, keys["gate"], "nobody-enrolled-by-this-name", probe)
    known = raw_verify(server, keys["gate"], "angelina", probe)
    assert isinstance(unknown, gate_pb2.VerifyResponse) and isinstance(known, gate_pb2.VerifyResponse)
    assert unknown.SerializeToString(deterministic=True) == known.SerializeToString(deterministic=True)
    assert not known.match and known.band == gate_pb2.LOW and not known.HasField("decision")
    # A key that may see the subjects is told the truth.
    desk = raw_verify(server, keys["gate+enroll"], "nobody-enrolled-by-this-name", probe)
    assert isinstance(desk, grpc.RpcError) and desk.code() is grpc.StatusCode.NOT_FOUND
    with server.client(api_key=keys["admin"]) as admin:  # the log says what happened, whoever asked
        seen = eventually(lambda: [e.decision for e in admin.audit("nobody-enrolled-by-this-name")
                                   if e.key_name == "only-gate"])
        assert seen and seen[-1] == "not_enrolled"


def side_by_side(*photos: bytes) -> bytes:
    """One JPEG with the photos next to each other at one height: two people of the same size in view."""
    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in photos]
    height = 400
    images = [i.resize((round(i.width * height / i.height), height)) for i in images]
    joined = Image.new("RGB", (sum(i.width for i in images), height))
    x = 0
    for image in images:
        joined.paste(image, (x, 0))
        x += image.width
    out = io.BytesIO()
    joined.save(out, "JPEG", quality=92)
    return out.getvalue()


def test_a_second_person_in_view_refuses_a_gate_key_and_is_counted_for_the_desk(server, keys, enrolled):
    pair = side_by_side(enrolled["angelina"][0], enrolled["scarlett"][0])
    with server.client(api_key=keys["gate"]) as gate:
        for attempt in (lambda: gate.verify("angelina", pair), lambda: gate.identify(pair)):
            with pytest.raises(FacegridError) as caught:
                attempt()
            assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION and caught.value.reason == "SEVERAL_FACES"
            assert "one person at a time" in caught.value.message and caught.value.refusal.issue == "SEVERAL_FACES"
    with server.client(api_key=keys["gate+enroll"]) as desk:
        result = desk.verify("angelina", pair)
        assert result.other_faces == 1 and result.score is not None
        assert desk.identify(pair).other_faces == 1


def test_facegrid_verify_prints_the_band_to_a_gate_key(server, keys, enrolled, faces_dir):
    probe = sorted((faces_dir / ANGELINA).iterdir())[2]
    run = cli("verify", "angelina", str(probe), "--server", server.local_address, key=keys["gate"])
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("MATCH: angelina (score band ") and "score " not in run.stdout.replace("score band", "")
    shown = last_json(cli("verify", "scarlett", str(probe), "--json", "--server", server.local_address, key=keys["gate"]).stdout)
    assert shown["match"] is False and shown["band"] == "LOW" and shown["score"] is None and shown["threshold"] is None


def test_raw_vector_search_of_faces_needs_admin_so_a_library_key_cannot_rebuild_them(server, keys, faces_dir):
    """The reconstruction attack: one Search per vector of an orthonormal basis, each score a coordinate of every
    stored face vector. A library key is refused; a key with admin rebuilds them (the figure in docs/security.md)."""
    from facegrid.server.store.embedded_redis import EmbeddedRedis
    from facegrid.server.store.schema import face_key

    pictures = photos(faces_dir, ANGELINA)
    with server.client(api_key=keys["library"], timeout=120) as library:
        indexed = list(library.index_photos([("angelina-5.jpg", pictures[5]), ("scarlett-5.jpg", photos(faces_dir, SCARLETT)[5])],
                                            collection="album"))
        assert [r.faces for r in indexed] == [1, 1], indexed
        by_photo = library.search(photo=pictures[6], collection="album", k=2)  # searching by photo is the library's
        assert by_photo.queries[0].hits[0].paths == ["angelina-5.jpg"]
    with server.client(api_key=keys["embed"]) as encoder:  # another photo of her, as an attacker holding one would embed it
        another = np.array(encoder.embed(pictures[6]).faces[0].vector, dtype=np.float32)
    dim = len(another)
    basis = np.linalg.qr(np.random.default_rng(21).standard_normal((dim, dim)))[0]  # any orthonormal basis: its columns

    def attack(key: str) -> tuple[dict[str, np.ndarray], set]:
        coordinates: dict[str, np.ndarray] = {}
        refused = set()
        with server.client(api_key=key) as client:
            for i in range(dim):
                try:
                    hits = client.search(vector=basis[:, i], k=10, collection="album").queries[0].hits
                except FacegridError as error:
                    refused.add(error.code)
                    continue
                for hit in hits:
                    coordinates.setdefault(hit.face_id, np.zeros(dim, np.float32))[i] = hit.score
        return {face: basis @ values for face, values in coordinates.items()}, refused

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))

    stored = redis.Redis.from_url(EmbeddedRedis(server.data_dir / "redis").url)
    face_ids = [str(f) for f in range(1, 100) if stored.exists(face_key("album", f))]
    assert len(face_ids) == 2
    vectors = {f: np.frombuffer(stored.hget(face_key("album", int(f)), "vector"), np.float32) for f in face_ids}
    hers = max(face_ids, key=lambda f: cosine(vectors[f], another))

    rebuilt, refused = attack(keys["library"])
    assert rebuilt == {} and refused == {grpc.StatusCode.PERMISSION_DENIED}
    library_cosine = np.mean([cosine(rebuilt.get(f, np.zeros(dim)), another) for f in [hers]])
    assert library_cosine < 0.3

    rebuilt, refused = attack(keys["all"])
    assert refused == set() and set(rebuilt) == set(face_ids)
    exact = min(cosine(rebuilt[f], vectors[f]) for f in face_ids)
    to_another = cosine(rebuilt[hers], another)
    assert exact > 0.999 and to_another > 0.5
    print(f"reconstruction ({dim} Search calls, random orthonormal basis): library key refused "
          f"({dim} x PERMISSION_DENIED), cosine to another photo of her {library_cosine:.2f}; admin key: cosine to the "
          f"stored vectors {exact:.5f}, to another photo of her {to_another:.3f} (her own stored vector: "
          f"{cosine(vectors[hers], another):.3f})")


def test_audit_log_holds_decisions_and_key_changes_but_no_face_data(server, keys, enrolled, faces_dir):
    with server.client(api_key=keys["admin"]) as admin:
        audited_gate = admin.create_key("audited-gate", ["gate"]).key  # its refusals are not summed up with others'
    with server.client(api_key=audited_gate) as gate:
        verdict = gate.verify("angelina", enrolled["angelina"][1])
        stranger = gate.verify("scarlett", enrolled["angelina"][1])
        with pytest.raises(FacegridError):
            gate.enroll("mallory", enrolled["angelina"][:1])  # refused: gate keys may not enroll
    with server.client(api_key=keys["enroll"], timeout=120) as desk:
        desk.enroll("katy", photos(faces_dir, KATY)[:1])
        desk.forget("katy")
    with server.client(api_key=keys["admin"]) as admin:
        admin.create_key("audited", ["gate"])
        admin.revoke_key("audited")

        def entries(subject=""):
            return list(admin.audit(subject))

        angelina = eventually(lambda: [e for e in entries("angelina") if e.key_name == "audited-gate" and e.rpc == "GateService/Verify"])
        assert len(angelina) >= 1
        entry = angelina[-1]
        # The log keeps the numbers the gate key was only given a band for.
        assert verdict.score is None and verdict.band in ("MEDIUM", "HIGH") and stranger.score is None
        assert entry.decision == "match" and entry.score >= entry.threshold > 0.5 and entry.peer.startswith("ipv4:127.0.0.1:")
        no_match = [e for e in entries("scarlett") if e.rpc == "GateService/Verify" and e.decision == "no_match"
                    and e.key_name == "audited-gate"]
        assert no_match and no_match[-1].score < no_match[-1].threshold
        katy = eventually(lambda: [(e.rpc, e.decision, e.key_name) for e in entries("katy")] if len(entries("katy")) >= 2 else [])
        assert ("GateService/Enroll", "enrolled", "only-enroll") in katy and ("GateService/Forget", "forgotten", "only-enroll") in katy
        assert [(e.decision, e.key_name) for e in entries("mallory")] == [("PERMISSION_DENIED", "audited-gate")]
        changes = eventually(lambda: [e.decision for e in entries() if "'audited'" in e.detail] if len(
            [e for e in entries() if "'audited'" in e.detail]) >= 2 else [])
        assert changes == ["created", "revoked"]
        since = eventually(lambda: list(admin.audit(since=time.time() + 3600)) == [])
        assert since  # nothing in the future

    # The stream itself: only the documented fields, short values, no key and no vector.
    from facegrid.server.store.embedded_redis import EmbeddedRedis

    raw = redis.Redis.from_url(EmbeddedRedis(server.data_dir / "redis").url).xrange("{fg:audit}")
    assert len(raw) >= 8
    keys_made = set(keys.values())
    for _, fields in raw:
        assert set(fields) <= {b"key", b"rpc", b"subject", b"decision", b"score", b"threshold", b"peer", b"detail", b"door",
                               b"reason"}
        assert all(len(v) < 200 for v in fields.values()) and not any(v.decode() in keys_made for v in fields.values())
        assert not any(b"fgk_" in v for v in fields.values())


def test_audit_paging_and_bad_page_tokens(server, keys, enrolled):
    stub = admin_pb2_grpc.AdminServiceStub(grpc.insecure_channel(server.local_address))
    metadata = bearer(keys["admin"])
    first = stub.ListAudit(admin_pb2.ListAuditRequest(limit=2), metadata=metadata, timeout=10)
    assert len(first.entries) == 2 and first.next_page_token
    second = stub.ListAudit(admin_pb2.ListAuditRequest(limit=2, page_token=first.next_page_token), metadata=metadata, timeout=10)
    assert tuple(map(int, second.entries[0].id.split("-"))) > tuple(map(int, first.entries[1].id.split("-")))
    for bad in ("garbage!", "bm90LWFuLWlk", "MTIz"):  # not base64 of an entry id / "not-an-id" / "123"
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListAudit(admin_pb2.ListAuditRequest(page_token=bad), metadata=metadata, timeout=10)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    for bad_request in (admin_pb2.ListAuditRequest(limit=5000), admin_pb2.ListAuditRequest(since=1e17),
                        admin_pb2.ListAuditRequest(since=float("nan")), admin_pb2.ListAuditRequest(since=-1)):
        with pytest.raises(grpc.RpcError) as caught:  # 1e17 s: no stream id (fuzzing found Redis refusing it: UNAVAILABLE)
            stub.ListAudit(bad_request, metadata=metadata, timeout=10)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_kmeans_returns_no_centroids_and_refuses_tiny_clusters(server, keys):
    assert "centroids" not in index_pb2.KMeansResponse.DESCRIPTOR.fields_by_name
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((20, 3)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with server.client(api_key=keys["library"]) as client:
        client.create_collection("kmeans-points", 3)
        client.add_vectors("kmeans-points", range(20), vectors)
        clustered = client.kmeans("kmeans-points", k=4)
        assert clustered.k == 4 and len(clustered.sizes) == 4 and sum(clustered.sizes) == 20
        assert sorted(clustered.ids) == list(range(20)) and len(clustered.clusters) == 20
        assert list(np.bincount(clustered.clusters, minlength=4)) == list(clustered.sizes)
        assert 1 <= client.kmeans("kmeans-points").k <= 4
        for k in (5, 20):  # fewer than 5 vectors per cluster on average
            with pytest.raises(FacegridError) as caught:
                client.kmeans("kmeans-points", k=k)
            assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT and "at least 5" in caught.value.message
        client.remove_vectors("kmeans-points", range(16))
        with pytest.raises(FacegridError) as caught:
            client.kmeans("kmeans-points")
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT


def test_keys_and_audit_commands(server, keys, enrolled):
    address = server.local_address
    made = cli("keys", "create", "--scope", "gate", "--scope", "embed", "--name", "dining-hall-north", "--json",
               "--server", address, key=keys["admin"])
    assert made.returncode == 0, made.stderr
    created = last_json(made.stdout)
    assert created["name"] == "dining-hall-north" and created["scopes"] == ["gate", "embed"] and created["key"].startswith("fgk_")
    with server.client(api_key=created["key"]) as device:
        assert device.verify("angelina", enrolled["angelina"][0]).match
    listed = last_json(cli("keys", "list", "--json", "--server", address, "--api-key", keys["admin"]).stdout)
    entry = next(k for k in listed["keys"] if k["name"] == "dining-hall-north")
    assert entry["scopes"] == ["gate", "embed"] and not entry["revoked"] and "key" not in entry
    assert all(created["key"] not in json.dumps(k) for k in listed["keys"])
    refused = cli("keys", "list", "--json", "--server", address, key=keys["gate"])
    assert refused.returncode == 2 and last_json(refused.stdout)["error"] == "PERMISSION_DENIED"

    # On the server's machine, straight into its Redis: a key the running server accepts, and a revocation
    # that it applies within a second (it re-reads a key's record at most a second after the last read).
    local = cli("keys", "create", "--scope", "enroll", "--name", "local-desk", "--json", "--data-dir", str(server.data_dir))
    assert local.returncode == 0, local.stderr
    local_key = last_json(local.stdout)["key"]
    with server.client(api_key=local_key) as desk:
        assert list(desk.subjects()) is not None
        revoked = cli("keys", "revoke", "local-desk", "--json", "--data-dir", str(server.data_dir))
        assert revoked.returncode == 0 and last_json(revoked.stdout)["revoked"], revoked.stderr

        def refused_now() -> bool:
            try:
                list(desk.subjects())
                return False
            except FacegridError as error:
                return error.code is grpc.StatusCode.UNAUTHENTICATED
        started = time.monotonic()
        assert eventually(refused_now, 5.0)
        print(f"local revocation applied after {time.monotonic() - started:.2f} s")

    audit = cli("audit", "--subject", "angelina", "--json", "--server", address, "--api-key", keys["admin"])
    assert audit.returncode == 0, audit.stderr
    entries = last_json(audit.stdout)["entries"]
    assert entries and {e["subject_id"] for e in entries} == {"angelina"}
    assert any(e["key_name"] == "dining-hall-north" and e["decision"] == "match" for e in entries)
    changes = last_json(cli("audit", "--since", "1h", "--json", "--server", address, "--api-key", keys["admin"]).stdout)["entries"]
    assert any(e["key_name"] == "local" and "'local-desk'" in e["detail"] and e["decision"] == "revoked" for e in changes)


@pytest.fixture()
def fresh_server(tmp_path):
    """A server of its own, with its own key: the module's server has audited other tests' failures from this host
    within the same minute, and the per-host budget is what is tested here."""
    with running_server(tmp_path, args=["--insecure"]) as server:
        yield server, make_keys(server, {"embed": ("only-embed", ["embed"])})


def test_failed_authentications_are_audited_and_a_host_that_keeps_failing_is_told_to_back_off(fresh_server):
    server, keys = fresh_server
    started = time.time()
    failures = []
    with server.client(api_key="fgk_" + "y" * 43) as stranger:
        for _ in range(40):  # past the threshold (20 a minute) from this host
            with pytest.raises(FacegridError) as caught:
                stranger.models()
            failures.append(caught.value)
    assert {f.code for f in failures} == {grpc.StatusCode.UNAUTHENTICATED}  # the same code, penalty or not
    last = failures[-1]
    assert last.reason == "AUTH_PENALTY" and last.retry_after > 0 and "retry in" in last.message
    assert failures[-1].retry_after >= failures[-2].retry_after  # the delay grows while the failures go on
    # Many doors may share this address: a live key is served at once all the same, and nothing sleeps.
    with server.client(api_key=keys["embed"]) as device:
        began = time.perf_counter()
        assert device.models()
        assert time.perf_counter() - began < 2.0
    with server.client(api_key=keys["admin"]) as admin:
        def ours():
            return [e for e in admin.audit(since=started) if e.rpc == "EncoderService/ListModels" and e.key_name == ""]
        written = eventually(ours)
        assert written and all(e.decision == "UNAUTHENTICATED" and e.peer.startswith("ipv4:127.0.0.1:") for e in written)
        assert all(e.detail == "unknown or revoked key" for e in written)
        assert len(written) <= 10  # 40 failures: a few one by one (5 a minute per host), the rest in a minute's summary


def test_failures_beyond_the_budget_become_one_summary_per_minute_and_the_penalty_is_capped():
    """AuthFailures with its clocks driven: what a minute of a flood leaves in the audit log."""
    from facegrid.server.domain.auth_failures import AuthFailures, FailureLimits

    now = {"t": 1000.0, "wall": 60 * 1000.0}
    written = []
    failures = AuthFailures(FailureLimits(threshold=3, first_penalty_s=1.0, max_penalty_s=8.0), written.append,
                            clock=lambda: now["t"], wall=lambda: now["wall"])
    one_by_one = [failures.failed("/facegrid.v1.GateService/Verify", f"ipv4:10.0.0.{1 + i % 2}:{5000 + i}", "UNAUTHENTICATED")
                  for i in range(50)]
    assert sum(one_by_one) == 10 and written == []  # 5 per host; the rest counted
    assert failures.penalty("ipv4:10.0.0.1:1") == 8.0 and failures.penalty("ipv4:10.0.0.3:1") == 0.0  # capped; others free
    assert failures.failed("/facegrid.v1.GateService/Enroll", "ipv4:10.0.0.1:9", "PERMISSION_DENIED", key_name="gate-1")
    now["wall"] += 60
    now["t"] += 9
    failures.flush()
    assert [(e.peer, e.rpc) for e in written] == [("ipv4:10.0.0.1", "(summary)"), ("ipv4:10.0.0.2", "(summary)")]
    assert written[0].detail.startswith("20 more failed calls in ") and "UNAUTHENTICATED 20" in written[0].detail
    assert failures.penalty("ipv4:10.0.0.1:1") == 0.0  # it has run out
    failures.flush()
    assert len(written) == 2  # each minute is summed up once


def test_look_alike_and_mixed_script_subject_ids_are_refused_on_enroll(server, keys, faces_dir):
    photo = photos(faces_dir, KATY)[2]

    def refused(subject: str) -> FacegridError:
        with pytest.raises(FacegridError) as caught:
            desk.enroll(subject, [photo])
        return caught.value

    with server.client(api_key=keys["enroll"], timeout=120) as desk:
        assert desk.enroll("poppy", [photo]).templates == 1
        cyrillic = refused("\u0440\u043e\u0440\u0440\u0443")  # рорру: every letter Cyrillic, one script, and looks like it
        assert cyrillic.code is grpc.StatusCode.ALREADY_EXISTS and "'poppy'" in cyrillic.message
        fullwidth = refused("\uff50\uff4f\uff50\uff50\uff59")  # ｐｏｐｐｙ
        assert fullwidth.code is grpc.StatusCode.ALREADY_EXISTS and "'poppy'" in fullwidth.message
        mixed = refused("p\u043eppy")  # Latin with a Cyrillic о
        assert mixed.code is grpc.StatusCode.INVALID_ARGUMENT and "mixes scripts (Cyrillic, Latin)" in mixed.message
        legacy = refused("bOb1")  # the subject written before the server started got its skeleton at start
        assert legacy.code is grpc.StatusCode.ALREADY_EXISTS and f"'{LEGACY_ID}'" in legacy.message
        assert desk.enroll("poppy", [photo]).templates == 1  # the holder itself enrolls as before
        desk.forget("poppy")  # its skeleton goes with it
        assert desk.enroll("\u0440\u043e\u0440\u0440\u0443", [photo]).templates == 1
        desk.forget("\u0440\u043e\u0440\u0440\u0443")


def test_skeletons_and_scripts():
    from facegrid.server.domain.confusables import mixed_scripts, skeleton

    assert skeleton("\u0430lice") == skeleton("alice") == skeleton("\uff41lice")  # Cyrillic а, fullwidth ａ
    assert skeleton("s1001") == skeleton("s100l") == skeleton("sl00l") != skeleton("s1002")
    assert skeleton("modern") == skeleton("modem") and skeleton("Alice") != skeleton("alice")  # case is kept, as TR39 does
    assert mixed_scripts("\u0430lice") == {"Cyrillic", "Latin"} and mixed_scripts("ABΓ") == {"Greek", "Latin"}
    for fine in ("alice", "jos\u00e9.garc\u00eda", "\u5c71\u7530\u305f\u308d\u3046", "\u5c71\u7530-\u30bf\u30ed\u30a6-2",
                 "\u0394\u03b7\u03bc\u03ae\u03c4\u03c1\u03b7\u03c2", "\u0438\u0432\u0430\u043d-07", "kim-\ud55c\uad6d"):
        assert mixed_scripts(fine) == set(), fine
