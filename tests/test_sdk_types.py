"""The SDK hands out typed results, never protobuf messages: by its annotations, and by what a real server's answers
become. Also: the SDK reads no environment (the CLI's ClientSettings does, once)."""

from __future__ import annotations

import dataclasses
import inspect
import io
import types
import typing
from typing import Iterable

import numpy as np
import pytest
from google.protobuf.message import Message
from PIL import Image

from facegrid.clients.sdk import ClientSettings, Facegrid, FacegridError
from facegrid.clients.transport import DEFAULT_ADDRESS, TLS
from facegrid.v1 import gate_pb2

from helpers import ServerProcess

PUBLIC = sorted(name for name, member in inspect.getmembers(Facegrid) if callable(member) and not name.startswith("_"))
# Calls that need a model with an image, text or audio tower (tests/test_photo_search.py, test_encoder_service.py):
# their annotations are checked here, their values there.
NEEDS_A_TOWER_MODEL = {"embed_photo", "embed_text", "embed_audio", "search_photos", "similar_photos", "set_image_model"}
# FacegridError.details: the server's google.rpc detail messages as sent, kept (documented) beside the typed fields
# (reason, retry_after, outcomes, refusal) for what those do not say. Every other attribute is checked.
RAW_ERROR_DETAILS = "details"


def messages_in_hint(hint, seen: set | None = None) -> list[type]:
    """The protobuf message classes a type hint can hold: itself, its arguments, a dataclass's or an exception's fields."""
    seen = set() if seen is None else seen
    if isinstance(hint, type):
        if hint in seen:
            return []
        seen.add(hint)
        if issubclass(hint, Message):
            return [hint]
        if dataclasses.is_dataclass(hint):
            return [m for field_hint in typing.get_type_hints(hint).values() for m in messages_in_hint(field_hint, seen)]
        if issubclass(hint, BaseException):
            return [m for name, h in typing.get_type_hints(hint.__init__).items() if name != RAW_ERROR_DETAILS
                    for m in messages_in_hint(h, seen)]
    return [m for argument in typing.get_args(hint) for m in messages_in_hint(argument, seen)]


def messages_in_value(value, where: str = "result") -> list[str]:
    """Where in a returned value a protobuf message sits (dataclass fields, containers, an error's attributes)."""
    if isinstance(value, Message):
        return [f"{where}: {type(value).__name__}"]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [m for f in dataclasses.fields(value) for m in messages_in_value(getattr(value, f.name), f"{where}.{f.name}")]
    if isinstance(value, BaseException):
        return [m for name, v in vars(value).items() if name != RAW_ERROR_DETAILS for m in messages_in_value(v, f"{where}.{name}")]
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in messages_in_value(k, where) + messages_in_value(v, f"{where}[{k!r}]")]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [m for i, v in enumerate(value) for m in messages_in_value(v, f"{where}[{i}]")]
    return []


def test_the_checks_find_a_message_where_there_is_one():
    """The two checks below can fail: a protobuf in a hint or a value is found, however deep."""
    assert messages_in_hint(Iterable[gate_pb2.Subject]) == [gate_pb2.Subject]
    assert messages_in_hint(dict[str, list[gate_pb2.Door] | None]) == [gate_pb2.Door]

    @dataclasses.dataclass
    class Holder:
        inner: list[gate_pb2.Template]

    assert messages_in_hint(Holder) == [gate_pb2.Template]
    assert messages_in_value(Holder([gate_pb2.Template()])) == ["result.inner[0]: Template"]
    assert messages_in_value({"a": (1, gate_pb2.Door())}) == ["result['a'][1]: Door"]


@pytest.mark.parametrize("name", PUBLIC)
def test_no_public_method_is_annotated_to_return_a_protobuf_message(name):
    hints = typing.get_type_hints(getattr(Facegrid, name))
    assert "return" in hints, f"Facegrid.{name} has no return annotation"
    assert messages_in_hint(hints["return"]) == [], f"Facegrid.{name} returns protobuf messages"


def test_the_sdk_reads_no_environment_and_the_client_settings_read_it_once(monkeypatch):
    monkeypatch.setenv("FACEGRID_SERVER", "elsewhere:1234")
    monkeypatch.setenv("FACEGRID_API_KEY", "from-the-environment")
    with Facegrid() as client:  # no address given: the default, whatever the environment says
        assert client.address == DEFAULT_ADDRESS and client.transport.metadata is None
    settings = ClientSettings.from_environment()
    assert (settings.server, settings.api_key, settings.tls) == ("elsewhere:1234", "from-the-environment", None)
    assert ClientSettings.from_environment({}) == ClientSettings(DEFAULT_ADDRESS, None)
    flags = settings.with_overrides(server="flag:1", api_key=None, tls=TLS(server_name="gate"))
    assert (flags.server, flags.api_key, flags.tls.server_name) == ("flag:1", "from-the-environment", "gate")
    with Facegrid.from_settings(flags.with_overrides(tls=False)) as client:
        assert client.address == "flag:1" and client.transport.metadata == (("authorization", "Bearer from-the-environment"),)


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    # Liveness off: Pass decides without a liveness model; one embedding process for IndexPhotos (each loads the model).
    env = {"FACEGRID_LIVENESS": "off", "FACEGRID_INDEX_WORKERS": "1"}
    server = ServerProcess(tmp_path_factory.mktemp("sdk-types") / "data", env).start()
    yield server
    server.kill()


def test_what_a_real_server_answers_comes_back_without_protobuf_messages(server, faces_dir):
    angelina = sorted((faces_dir / "deepface" / "id01_angelina_jolie").iterdir())
    katy = sorted((faces_dir / "deepface" / "id10_katy_perry").iterdir())
    called: set[str] = set()

    def check(client: Facegrid, name: str, *args, **options):
        value = getattr(client, name)(*args, **options)
        if isinstance(value, types.GeneratorType):
            value = list(value)
        assert messages_in_value(value) == [], f"Facegrid.{name}"
        called.add(name)
        return value

    with Facegrid(server.local_address) as keyless:  # loopback, no key yet: the first key is made this way
        created = check(keyless, "create_key", "sdk-types", ["admin", "enroll", "gate", "library", "embed"])
    with check(Facegrid, "from_settings", ClientSettings(server.local_address, created.key), timeout=60) as client:
        check(client, "wait_ready")
        assert check(client, "health") == "SERVING"
        check(client, "models")
        check(client, "list_keys")
        enrolled = check(client, "enroll", "angelina", angelina[:2], groups=["staff"])
        with pytest.raises(FacegridError) as refused:  # no face: every outcome comes with the error
            client.enroll("nobody", [np.full((4, 4), 0, np.uint8).tobytes()])
        assert refused.value.outcomes and refused.value.reason == "NO_USABLE_PHOTO" and messages_in_value(refused.value) == []
        assert enrolled.templates == 2
        check(client, "verify", "angelina", angelina[3])
        blank = io.BytesIO()
        Image.new("RGB", (320, 240), (200, 200, 200)).save(blank, "JPEG")
        with pytest.raises(FacegridError) as no_face:  # a refused probe: why, in a typed refusal
            client.verify("angelina", blank.getvalue())
        assert no_face.value.refusal.issue == "NO_FACE" and messages_in_value(no_face.value) == []
        check(client, "identify", angelina[4])
        subject = check(client, "subject", "angelina")
        assert len(subject.templates) == 2 and all(len(t.photo_sha256) == 64 for t in subject.templates)
        check(client, "subjects")
        check(client, "update_subject", "angelina", groups=["staff", "students"])
        check(client, "set_door", "lobby", ["staff"])
        check(client, "doors")
        check(client, "pass_burst", [angelina[5].read_bytes()], door="lobby", subject_id="angelina")
        check(client, "delete_door", "lobby")
        faces = check(client, "embed", katy[0])
        assert faces.faces and faces.faces[0].vector.dtype == np.float32 and len(faces.faces[0].landmarks) == 5
        check(client, "embed_many", [("photo", "fused", "photo", katy[0]), ("text", "fused", "text", "a cat")])

        photos = [(str(p), p.read_bytes()) for p in angelina[6:8] + katy[6:8]]
        indexed = check(client, "index_photos", photos, "people")
        assert [r.path for r in indexed] == [p for p, _ in photos] and all(not r.error for r in indexed)
        check(client, "known_photos", [r.photo_sha256 for r in indexed], "people")
        check(client, "search", angelina[0], collection="people")
        check(client, "stats", "people")
        grouped = check(client, "cluster", "people")
        check(client, "groups", "people")
        first, *others = sorted(grouped.groups, key=lambda g: -len(g.faces))
        if others:
            check(client, "merge_groups", first.group_id, others[0].group_id, "people")
            check(client, "undo", "people")
        check(client, "split_face", first.faces[0].face_id, "people")
        check(client, "undo", "people")
        largest = max(client.groups("people").groups, key=lambda g: len(g.faces))
        check(client, "name_group", largest.group_id, "named-group", "people")
        check(client, "undo", "people")

        check(client, "create_collection", "points", 8)
        vectors = np.random.default_rng(0).standard_normal((12, 8)).astype(np.float32)
        check(client, "add_vectors", "points", range(12), vectors)
        check(client, "search", vector=vectors[0], collection="points")
        check(client, "kmeans", "points", k=2)
        check(client, "remove_vectors", "points", [0])

        check(client, "audit")
        assert check(client, "forget", "angelina") == 2
        check(client, "revoke_key", "sdk-types")
        check(client, "close")
    assert called | NEEDS_A_TOWER_MODEL >= set(PUBLIC), "a public method this test does not call"
