"""schemathesis against a live server's /openapi.json over a real socket: every operation, called with examples made
from the schema itself (valid ones, then invalid ones where the schema allows any), with a key of every scope so the
calls get past the key check. It fails on any 5xx and on any answer the document does not describe: an undocumented
status code, another content type, a body that breaks its schema.

Random bytes are never a face, so in about half the examples the photos are replaced with a real one and the subject
with one that is enrolled: the successful answers of verify, identify, enroll, pass and embed are checked too.
Deterministic (derandomize, no example database), so CI sees the same calls every run.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings, strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import Failure, FailureGroup  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,  # noqa: E402
                                               response_schema_conformance, status_code_conformance)

from facegrid.server.domain.keys import SCOPES  # noqa: E402

from helpers import running_server  # noqa: E402

EXAMPLES = 25  # per operation and mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
PHOTO_FIELDS = ("photo", "photos", "frames")
SUBJECT = "fuzz-person"
ADMIN = "fuzz-admin-7c1e"  # a name the examples will not revoke


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    env = {"FACEGRID_MAX_MESSAGE_MB": "4", "FACEGRID_LIVENESS": "off"}
    with running_server(tmp_path_factory.mktemp("schema"), env, ["--http", "127.0.0.1:0"]) as server:
        yield server


@pytest.fixture(scope="module")
def photo(faces_dir) -> bytes:
    return sorted((faces_dir / "lfw" / "Colin_Powell").iterdir())[0].read_bytes()


@pytest.fixture(scope="module")
def admin_key(server, faces_dir, photo) -> str:
    """A key of every scope, a subject enrolled and a door that admits it."""
    with server.client() as anyone:
        key = anyone.create_key(ADMIN, list(SCOPES)).key
    with server.client(api_key=key, timeout=120) as client:
        client.enroll(SUBJECT, [photo, sorted((faces_dir / "lfw" / "Colin_Powell").iterdir())[1]], groups=["staff"])
        client.set_door("north", groups=["staff"])
    return key


def examples(operation, mode: GenerationMode, photo: bytes):
    """The operation's examples; half the valid ones with a real photo and the enrolled subject."""
    @st.composite
    def cases(draw):
        case = draw(operation.as_strategy(generation_mode=mode))
        if mode is GenerationMode.POSITIVE and draw(st.booleans()):
            if isinstance(case.body, dict) and (case.media_type or "").startswith("multipart/"):
                for field in PHOTO_FIELDS:
                    if field in case.body:
                        case.body[field] = [photo] if isinstance(case.body[field], list) else photo
                if "subject_id" in case.body:
                    case.body["subject_id"] = SUBJECT
            if case.path_parameters and "subject_id" in case.path_parameters and case.method != "DELETE":
                case.path_parameters["subject_id"] = SUBJECT
        return case

    return cases()


def test_every_operation_answers_as_its_schema_says(server, admin_key, photo):
    schema = schemathesis.openapi.from_url(server.http_url + "/openapi.json")
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin_key}"
    failures: dict[str, list[str]] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            found = failures.setdefault(f"{operation.label} ({mode.value})", [])

            @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=examples(operation, mode, photo))
            def call(case):
                try:
                    case.call_and_validate(session=session, checks=CHECKS, timeout=60)
                except (Failure, FailureGroup) as failure:  # collected: every operation still runs
                    if len(found) < 3:
                        found.append(str(failure)[:1500])

            try:
                call()
            except Unsatisfiable:  # no invalid example exists (a GET without parameters): nothing to send
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations >= 20
    broken = {label: found for label, found in failures.items() if found}
    assert not broken, "\n\n".join(f"{label}:\n" + "\n".join(found) for label, found in broken.items())
