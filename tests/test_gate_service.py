"""The gate over a real socket: a real `facegrid serve` (embedded Redis), driven through the SDK."""

from __future__ import annotations

import io
import struct
import zlib

import grpc
import numpy as np
import pytest
from PIL import Image

from facegrid.clients.sdk import FacegridError

from helpers import running_server

PEOPLE = {
    "angelina": "deepface/id01_angelina_jolie",
    "scarlett": "deepface/id03_scarlett_johansson",
    "katy": "deepface/id10_katy_perry",
}
STRANGER = "deepface/id11_matt_damon"


def photos(faces_dir, folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


def jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG file whose header claims width x height (a decompression bomb's calling card)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b"")


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(FacegridError) as caught:
        call()
    return caught.value.code


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    with running_server(tmp_path_factory.mktemp("gate"), {"FACEGRID_MAX_MESSAGE_MB": "8"}) as server:
        yield server


@pytest.fixture(scope="module")
def enrolled(server, faces_dir):
    """Three people enrolled from two photos each; the rest of their photos are probes."""
    probes = {}
    with server.client(timeout=120) as client:
        for subject, folder in PEOPLE.items():
            pictures = photos(faces_dir, folder)
            reply = client.enroll(subject, pictures[:2], display_name=subject.title())
            assert reply.templates >= 1, [o.reason for o in reply.photos]
            probes[subject] = pictures[2:]
    return probes


def test_verify_accepts_the_right_person_and_rejects_an_impostor(server, enrolled):
    with server.client() as client:
        genuine = client.verify("angelina", enrolled["angelina"][0])
        assert genuine.match and genuine.score >= genuine.threshold
        assert 0 < genuine.estimated_far < 1e-3
        impostor = client.verify("angelina", enrolled["scarlett"][0])
        assert not impostor.match and impostor.score < impostor.threshold


def test_identify_names_enrolled_people_and_says_unknown_for_strangers(server, enrolled, faces_dir):
    with server.client() as client:
        hits = [client.identify(photo).subject for photo in enrolled["katy"][:3]]
        assert hits.count("katy") >= 2 and set(hits) <= {"katy", None}
        for photo in photos(faces_dir, STRANGER)[:3]:
            result = client.identify(photo)
            assert result.subject is None and result.reason
            assert len(result.candidates) == 5 or len(result.candidates) == 3


def test_subjects_and_get_subject(server, enrolled):
    with server.client() as client:
        assert {"angelina", "scarlett", "katy"} <= {s.subject_id for s in client.subjects(page_size=1)}
        subject = client.subject("scarlett")
        assert subject.display_name == "Scarlett" and len(subject.templates) >= 1
        assert all(len(t.photo_sha256) == 64 and t.model == "fused" for t in subject.templates)


def test_re_enrolling_the_same_photo_is_idempotent(server, enrolled, faces_dir):
    with server.client() as client:
        before = len(client.subject("angelina").templates)
        reply = client.enroll("angelina", photos(faces_dir, PEOPLE["angelina"])[:1])
        assert reply.photos[0].duplicate and reply.templates == before


def test_enrollment_refuses_photos_without_one_usable_face(server, faces_dir):
    blank = jpeg(np.full((480, 640, 3), 200, np.uint8))
    couple = (faces_dir / "face_recognition" / "unlabeled" / "obama_and_biden.jpg").read_bytes()
    with server.client() as client:
        with pytest.raises(FacegridError) as caught:
            client.enroll("nobody", [blank])
        assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION and "no face" in caught.value.message
        with pytest.raises(FacegridError) as caught:
            client.enroll("nobody", [couple])
        assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION and "faces in the photo" in caught.value.message
        # Partly usable: the good photo is taken, the bad one comes back with its reason.
        good = photos(faces_dir, PEOPLE["katy"])[0]
        reply = client.enroll("katy-partial", [good, blank])
        assert reply.photos[0].accepted and not reply.photos[1].accepted and "no face" in reply.photos[1].reason
        client.forget("katy-partial")


def test_bad_requests_get_clear_status_codes_and_the_server_keeps_serving(server, enrolled, faces_dir):
    probe = enrolled["angelina"][0]
    with server.client() as client:
        assert code_of(lambda: client.verify("no-such-person", probe)) == grpc.StatusCode.NOT_FOUND
        assert code_of(lambda: client.verify("angelina", b"not a photo")) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.verify("angelina", b"")) == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(FacegridError) as huge:
            client.identify(png_header_only(50_000, 50_000))
        # The input's fault, refused anywhere: no OVERLOADED detail, so no client sends it again
        assert huge.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and huge.value.reason != "OVERLOADED"
        assert huge.value.retry_after is None
        assert code_of(lambda: client.identify(jpeg(np.zeros((300, 300, 3), np.uint8)))) == grpc.StatusCode.FAILED_PRECONDITION
        assert code_of(lambda: client.enroll("", [probe])) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.enroll("x" * 10_000, [probe])) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.enroll("two words", [probe])) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.enroll("tab\there", [probe])) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.enroll("someone", [])) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.identify(probe, candidates=-1)) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.identify(probe, candidates=10**9)) == grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: client.forget("no-such-person")) == grpc.StatusCode.NOT_FOUND
        # Over the server's 8 MB message limit (set for this test server).
        assert code_of(lambda: client.identify(b"\xff\xd8" + bytes(9 * 1024 * 1024))) == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Still serving, nothing lost.
        assert client.verify("angelina", probe).match
        assert len(client.subject("katy").templates) >= 1


def test_unicode_subject_ids_are_normalised(server, enrolled, faces_dir):
    picture = photos(faces_dir, PEOPLE["scarlett"])[2]
    decomposed = "Zoe\u0308-\u5b66\u751f42"  # "Zoë-学生42" with a combining diaeresis
    composed = "Zo\u00eb-\u5b66\u751f42"
    with server.client() as client:
        reply = client.enroll(decomposed, [picture])
        assert reply.subject_id == composed
        assert client.verify(composed, picture).match
        assert client.forget(decomposed) == 1


def test_forget_removes_the_subject_from_verify_and_identify(server, faces_dir):
    pictures = photos(faces_dir, "deepface/id12_leonardo_dicaprio")
    with server.client(timeout=60) as client:
        client.enroll("leo", pictures[:2])
        assert client.identify(pictures[3]).subject == "leo"
        assert client.forget("leo") >= 1
        assert code_of(lambda: client.verify("leo", pictures[3])) == grpc.StatusCode.NOT_FOUND
        for picture in pictures:
            result = client.identify(picture, candidates=100)
            assert result.subject != "leo" and "leo" not in [s for s, _ in result.candidates]


def test_encoder_service_embeds_and_lists_models(server, faces_dir):
    picture = (faces_dir / "dlib" / "unlabeled" / "2008_002506.jpg").read_bytes()
    with server.client() as client:
        reply = client.embed(picture)
        assert len(reply.faces) >= 3 and reply.model == "fused"
        assert len(reply.faces[0].vector) == 256 and len(reply.faces[0].landmarks) == 5
        assert len(client.embed(picture, model="sface").faces[0].vector) == 128
        assert code_of(lambda: client.embed(picture, model="nope")) == grpc.StatusCode.INVALID_ARGUMENT
        models = {m.name: m for m in client.models()}
        assert models["fused"].is_default and models["fused"].dim == 256


def test_health(server):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel = grpc.insecure_channel(server.address)
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="facegrid.v1.GateService"), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    channel.close()  # reflection is off by default: tests/test_open_streams.py; on with --reflection: tests/test_auth.py


@pytest.mark.slow
def test_acknowledged_enrollment_survives_sigkill(server_factory, tmp_path, faces_dir):
    pictures = photos(faces_dir, PEOPLE["katy"])
    first = server_factory(tmp_path / "data")
    with first.client(timeout=60) as client:
        reply = client.enroll("katy", pictures[:2])
        acknowledged = reply.templates
    first.kill()  # SIGKILL right after the acknowledgement
    second = server_factory(tmp_path / "data")
    with second.client(timeout=60) as client:
        assert len(client.subject("katy").templates) == acknowledged  # Redis has it
        assert client.identify(pictures[3]).subject == "katy"  # and FAISS was rebuilt from it
        assert client.verify("katy", pictures[4]).match
    assert second.stop() == 0  # SIGTERM: graceful


@pytest.mark.slow
def test_state_survives_a_graceful_restart(server_factory, tmp_path, faces_dir):
    pictures = photos(faces_dir, PEOPLE["scarlett"])
    first = server_factory(tmp_path / "data")
    with first.client(timeout=60) as client:
        client.enroll("scarlett", pictures[:2])
        client.enroll("gone", photos(faces_dir, PEOPLE["angelina"])[:1])
        client.forget("gone")
    assert first.stop() == 0
    second = server_factory(tmp_path / "data")
    with second.client() as client:
        assert [s.subject_id for s in client.subjects()] == ["scarlett"]
        assert client.verify("scarlett", pictures[3]).match


def test_a_photo_of_someone_else_is_refused_for_an_enrolled_subject(server, enrolled, faces_dir):
    with server.client(timeout=60) as client:
        reply = client.enroll("angelina-mixed", photos(faces_dir, PEOPLE["angelina"])[:2])
        assert all(o.accepted and o.resembles == "angelina" for o in reply.photos)  # flagged: she is enrolled already
        with pytest.raises(FacegridError) as odd:  # replacing them is an admin's call: tests/test_roster.py
            client.enroll("angelina-mixed", photos(faces_dir, STRANGER)[:1])
        assert odd.value.outcomes[0].issue == "NOT_LIKE_SUBJECT" and "unlike" in odd.value.outcomes[0].reason
        assert len(client.subject("angelina-mixed").templates) == 2
        client.forget("angelina-mixed")


def test_cli_gate_commands(server, enrolled, faces_dir, tmp_path):
    from helpers import facegrid, last_json

    stranger = sorted((faces_dir / STRANGER).iterdir())[0]
    photo = sorted((faces_dir / PEOPLE["scarlett"]).iterdir())
    common = ["--server", server.address, "--json"]
    run = facegrid("enroll", "cli-person", str(photo[0]), *common)
    assert run.returncode == 0, run.stderr
    assert last_json(run.stdout)["templates"] == 1
    match = facegrid("verify", "cli-person", str(photo[3]), *common)
    assert match.returncode == 0 and last_json(match.stdout)["match"] is True
    no_match = facegrid("verify", "cli-person", str(stranger), *common)
    assert no_match.returncode == 1 and last_json(no_match.stdout)["match"] is False
    unknown = facegrid("identify", str(stranger), *common)
    assert unknown.returncode == 1 and last_json(unknown.stdout)["subject"] is None
    listed = facegrid("subjects", *common)
    assert "cli-person" in [s["subject"] for s in last_json(listed.stdout)["subjects"]]
    missing = facegrid("verify", "nobody-here", str(photo[3]), *common)
    assert missing.returncode == 2 and last_json(missing.stdout)["error"] == "NOT_FOUND"
    gone = facegrid("forget", "cli-person", *common)
    assert gone.returncode == 0 and last_json(gone.stdout)["templates_removed"] == 1


def test_page_tokens_are_opaque_and_checked(server, enrolled):
    from facegrid.v1 import gate_pb2, gate_pb2_grpc

    with grpc.insecure_channel(server.address) as channel:
        stub = gate_pb2_grpc.GateServiceStub(channel)
        everyone = stub.ListSubjects(gate_pb2.ListSubjectsRequest(page_size=1000), timeout=10)
        ids = [s.subject_id for s in everyone.subjects]
        assert everyone.next_page_token == "" and len(ids) == everyone.total >= 3
        first = stub.ListSubjects(gate_pb2.ListSubjectsRequest(page_size=1), timeout=10)
        token = first.next_page_token
        assert token and ids[0] not in token  # not the last id in clear text
        second = stub.ListSubjects(gate_pb2.ListSubjectsRequest(page_size=1, page_token=token), timeout=10)
        assert [s.subject_id for s in second.subjects] == ids[1:2]
        # A full last page has no token: nothing follows it.
        last = stub.ListSubjects(gate_pb2.ListSubjectsRequest(page_size=len(ids) - 1, page_token=token), timeout=10)
        assert [s.subject_id for s in last.subjects] == ids[1:] and last.next_page_token == ""
        for garbage in ("garbage", ids[0], token[:-1], token + "A", token.replace(token[2], "!" if token[2] != "!" else "?", 1), "%%%"):
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListSubjects(gate_pb2.ListSubjectsRequest(page_size=1, page_token=garbage), timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, garbage
            assert "page_token" in caught.value.details()
