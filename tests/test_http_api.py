"""The REST API over a real socket: one real `facegrid serve --http` (embedded Redis) for the module, driven with
`requests` and compared with the gRPC SDK on the same server.

The server runs with a 2 MB body cap (FACEGRID_MAX_MESSAGE_MB) so an oversized body is cheap to send, and with
liveness off so a door's Pass reaches a decision without a liveness model. The failed-authentication penalty is
tested last: it holds this host's failing calls back for the rest of the module.
"""

from __future__ import annotations

import io
import re
import socket
import time
from urllib.parse import urlparse

import grpc
import numpy as np
import pytest
import requests
from PIL import Image

from facegrid.clients.sdk import FacegridError
from facegrid.server.rpc.auth import METHOD_SCOPES

from helpers import eventually, make_keys, running_server

PROBLEM = "application/problem+json"
PEOPLE = {"powell": "Colin_Powell", "blair": "Tony_Blair", "schroeder": "Gerhard_Schroeder"}
MAX_BODY = 2 * 1024 * 1024

# gRPC methods with no HTTP route (yet), each with why; the test below fails when one gets a route (shrink the list)
# or a new RPC gets neither. The photo library's routes are built on branch h23lib (server/http/library_routes.py).
NOT_MIRRORED = {
    "/facegrid.v1.EncoderService/EmbedStream": "a stream of mixed items: one POST per item does the same over HTTP",
}
# HTTP routes that name a method gRPC does not have: /metrics is the metrics port's page, over the API's keys.
HTTP_ONLY = {"AdminService/Metrics": "admin"}


def photos_of(faces_dir, person: str, count: int) -> list[bytes]:
    folder = faces_dir / "lfw" / PEOPLE[person]
    return [p.read_bytes() for p in sorted(folder.iterdir())[:count]]


def jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG")
    return buffer.getvalue()


def problem_of(response: requests.Response, status: int) -> dict:
    """The problem+json body of a failed call, checked to have the status and the RFC 9457 members."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"] and body["detail"]
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"FACEGRID_MAX_MESSAGE_MB": str(MAX_BODY // (1024 * 1024)), "FACEGRID_LIVENESS": "off"}
    with running_server(tmp_path_factory.mktemp("http"), env, ["--http", "127.0.0.1:0"]) as server:
        yield server


@pytest.fixture(scope="module")
def keys(server) -> dict[str, str]:
    return make_keys(server, {"enroll": ("enroller", ("gate", "enroll")), "gate": ("turnstile", ("gate",)),
                              "door": ("north-door", ("gate",), "north"), "embed": ("embedder", ("embed",))})


class Api:
    """`requests` against the server's HTTP port with one key."""

    def __init__(self, url: str, key: str | None) -> None:
        self.url = url
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def __call__(self, method: str, path: str, **options) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=120, **options)


@pytest.fixture(scope="module")
def api(server, keys):
    """label -> Api with that key ("nobody": no key)."""
    made = {label: Api(server.http_url, key) for label, key in keys.items()}
    made["nobody"] = Api(server.http_url, None)
    return made


@pytest.fixture(scope="module")
def enrolled(api, faces_dir):
    """Two people enrolled over REST from two photos each; the rest of their photos are probes."""
    probes = {}
    for subject in ("powell", "blair"):
        pictures = photos_of(faces_dir, subject, 5)
        answer = api["enroll"]("POST", "/v1/subjects", data={"subject_id": subject, "display_name": subject.title(),
                                                             "groups": "staff"},
                               files=[("photos", (f"{i}.jpg", p, "image/jpeg")) for i, p in enumerate(pictures[:2])])
        assert answer.status_code == 200, answer.text
        assert answer.json()["templates"] >= 1, answer.json()
        probes[subject] = pictures[2:]
    return probes


def verify(api: Api, subject: str, photo: bytes) -> requests.Response:
    return api("POST", "/v1/verify", data={"subject_id": subject}, files={"photo": ("probe.jpg", photo, "image/jpeg")})


# --- the gate --------------------------------------------------------------------------------------------------


def test_enroll_answers_each_photos_outcome(api, enrolled, faces_dir):
    answer = api["enroll"]("POST", "/v1/subjects", data={"subject_id": "schroeder"},
                           files=[("photos", ("a.jpg", photos_of(faces_dir, "schroeder", 1)[0], "image/jpeg")),
                                  ("photos", ("b.jpg", jpeg(np.full((200, 200, 3), 128, np.uint8)), "image/jpeg"))])
    body = answer.json()
    assert answer.status_code == 200 and body["subject_id"] == "schroeder" and body["templates"] == 1, body
    first, second = body["photos"]
    assert first["accepted"] and first["template_id"] and first["quality"]["size"] > 20
    assert not second["accepted"] and second["issue"] == "NO_FACE" and second["reason"], second


def test_verify_and_identify_over_rest(api, enrolled):
    genuine = verify(api["gate"], "powell", enrolled["powell"][0]).json()
    assert genuine["match"] and genuine["band"] in ("MEDIUM", "HIGH") and genuine["face"]["width"] > 20
    impostor = verify(api["gate"], "powell", enrolled["blair"][0]).json()
    assert not impostor["match"] and impostor["band"] == "LOW"
    known = api["gate"]("POST", "/v1/identify", files={"photo": ("p.jpg", enrolled["blair"][1], "image/jpeg")}).json()
    assert known["known"] and known["subject_id"] == "blair"


def test_subject_with_its_templates_status_and_paging(api, enrolled):
    subject = api["enroll"]("GET", "/v1/subjects/powell").json()
    assert subject["display_name"] == "Powell" and subject["groups"] == ["staff"] and subject["status"] == "active"
    assert len(subject["templates"]) == 2
    assert all(t["quality"]["interocular"] > 0 and len(t["photo_sha256"]) == 64 and "vector" not in t for t in subject["templates"])

    suspended = api["enroll"]("PATCH", "/v1/subjects/powell", json={"status": "suspended", "status_reason": "lost card"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert suspended.json()["status_reason"] == "lost card"
    assert api["enroll"]("PATCH", "/v1/subjects/powell", json={"status": "active"}).json()["status"] == "active"
    problem_of(api["enroll"]("PATCH", "/v1/subjects/powell", json={"status": "gone"}), 400)

    seen, token = [], ""
    while True:
        page = api["enroll"]("GET", "/v1/subjects", params={"page_size": 1, "page_token": token}).json()
        assert len(page["subjects"]) <= 1 and page["total"] >= 2
        seen += [s["subject_id"] for s in page["subjects"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == sorted(seen) and {"powell", "blair"} <= set(seen)
    problem_of(api["enroll"]("GET", "/v1/subjects", params={"page_token": "not-a-token"}), 400)


def test_forget_over_rest(api, faces_dir):
    photos = photos_of(faces_dir, "schroeder", 4)[2:]
    made = api["enroll"]("POST", "/v1/subjects", data={"subject_id": "forget-me"},
                         files=[("photos", (f"{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)])
    assert made.status_code == 200, made.text
    forgotten = api["enroll"]("DELETE", "/v1/subjects/forget-me")
    assert forgotten.status_code == 200 and forgotten.json()["templates_removed"] == made.json()["templates"]
    assert problem_of(api["enroll"]("GET", "/v1/subjects/forget-me"), 404)["code"] == "NOT_FOUND"
    assert problem_of(api["enroll"]("DELETE", "/v1/subjects/forget-me"), 404)["code"] == "NOT_FOUND"


def test_verify_answers_as_the_grpc_sdk_field_by_field(server, keys, api, enrolled):
    """The same photo over both transports: the same answer; the numbers only to a key with enroll (least disclosure)."""
    probe = enrolled["powell"][1]
    for label in ("enroll", "gate"):
        rest = verify(api[label], "powell", probe).json()
        with server.client(api_key=keys[label]) as client:
            sdk = client.verify("powell", probe)
        assert rest["match"] == sdk.match and rest["band"] == sdk.band and rest["other_faces"] == sdk.other_faces
        assert (rest["quality_issue"], rest["quality_warning"]) == (sdk.quality_issue, sdk.quality_warning)
        box = rest["face"]
        assert (box["x"], box["y"], box["width"], box["height"]) == pytest.approx(sdk.face_box, abs=1e-3)
        assert rest["quality"] == pytest.approx(vars(sdk.quality), abs=1e-3)
        if label == "enroll":
            decision = rest["decision"]
            assert sdk.score is not None and decision["score"] == pytest.approx(sdk.score, abs=1e-6)
            assert decision["threshold"] == pytest.approx(sdk.threshold, abs=1e-6)
            assert decision["estimated_far"] == pytest.approx(sdk.estimated_far, rel=1e-5)
        else:
            assert rest.get("decision") is None and sdk.score is None and sdk.threshold is None


def test_the_same_call_over_grpc_and_http_writes_the_same_audit_entry(server, keys, api, enrolled):
    from facegrid.clients.errors import FacegridError

    def audited_calls(over_grpc: bool) -> list[dict]:
        since = time.time()
        if over_grpc:
            with server.client(api_key=keys["enroll"]) as client:
                client.verify("powell", enrolled["powell"][1])
                with pytest.raises(FacegridError):  # an enroll key is told the subject is unknown
                    client.verify("nobody-here", enrolled["powell"][1])
                client.identify(enrolled["blair"][2])
                client.update_subject("blair", groups=["staff", "gym"])
                with pytest.raises(FacegridError):
                    client.forget("nobody-here")
        else:
            verify(api["enroll"], "powell", enrolled["powell"][1])
            verify(api["enroll"], "nobody-here", enrolled["powell"][1])
            api["enroll"]("POST", "/v1/identify", files={"photo": ("p.jpg", enrolled["blair"][2], "image/jpeg")})
            api["enroll"]("PATCH", "/v1/subjects/blair", json={"groups": ["staff", "gym"]})
            api["enroll"]("DELETE", "/v1/subjects/nobody-here")
        entries = eventually(lambda: (lambda found: found if len(found) >= 5 else None)(
            api["admin"]("GET", "/v1/audit", params={"since": since, "oldest_first": True}).json()["entries"]))
        assert entries and len(entries) == 5, entries
        return [{k: v for k, v in e.items() if k not in ("peer", "id", "entry_id", "time")} for e in entries]

    over_grpc, over_http = audited_calls(True), audited_calls(False)
    assert [e["decision"] for e in over_grpc] == ["match", "NOT_FOUND", "known", "updated", "NOT_FOUND"]
    assert over_http == over_grpc


def test_http_calls_are_audited_as_grpc_calls_are(api, enrolled):
    """Before the refusals' tests: refused calls are audited one by one only a few per host and minute."""
    since = time.time()
    verify(api["gate"], "blair", enrolled["blair"][0])
    api["admin"]("PUT", "/v1/doors/audited", json={"groups": ["staff"]})
    api["admin"]("DELETE", "/v1/doors/audited")
    api["gate"]("GET", "/v1/keys")  # refused: audited with its method
    entries = []
    for _ in range(50):  # entries are written in the background
        entries = api["admin"]("GET", "/v1/audit", params={"since": since}).json()["entries"]
        if len(entries) >= 4:
            break
        time.sleep(0.1)
    assert len(entries) == 4, entries
    assert [e["rpc"] for e in entries[:4]] == ["AdminService/ListKeys", "AdminService/DeleteDoor", "AdminService/SetDoor",
                                               "GateService/Verify"]  # newest first
    refused, deleted, door_set, verified = entries[:4]
    assert refused["decision"] == "PERMISSION_DENIED" and refused["key_name"] == "turnstile"
    assert (deleted["decision"], deleted["door"], deleted["key_name"]) == ("door_deleted", "audited", "admin")
    assert door_set["decision"] == "door_set" and door_set["detail"] == "groups staff; hours always"
    assert verified["subject_id"] == "blair" and verified["decision"] == "match" and verified["score"] > verified["threshold"]
    assert verified["peer"].startswith("ipv4:127.0.0.1:")

    only_blair = api["admin"]("GET", "/v1/audit", params={"subject_id": "blair"}).json()["entries"]
    assert only_blair and all(e["subject_id"] == "blair" for e in only_blair)
    first = api["admin"]("GET", "/v1/audit", params={"since": since, "limit": 2}).json()
    second = api["admin"]("GET", "/v1/audit", params={"since": since, "limit": 2, "page_token": first["next_page_token"]}).json()
    assert [e["id"] for e in first["entries"] + second["entries"]] == [e["id"] for e in entries[:4]]
    oldest = api["admin"]("GET", "/v1/audit", params={"since": since, "oldest_first": True}).json()["entries"]
    assert [e["id"] for e in oldest] == [e["id"] for e in reversed(entries)]
    problem_of(api["admin"]("GET", "/v1/audit", params={"page_token": "forged"}), 400)


# --- keys, scopes and refusals ---------------------------------------------------------------------------------


def test_a_stranger_gets_401_before_404_or_405(api):
    for method, path in (("GET", "/v1/no-such-thing"), ("DELETE", "/v1/verify"), ("GET", "/nowhere"), ("GET", "/v1/keys")):
        refused = problem_of(api["nobody"](method, path), 401)
        assert refused["code"] == "UNAUTHENTICATED"
    assert api["nobody"]("GET", "/v1/keys").headers["WWW-Authenticate"].startswith("Bearer")
    problem_of(Api(api["nobody"].url, "fgk_not-a-key")("GET", "/v1/no-such-thing"), 401)
    assert problem_of(api["gate"]("GET", "/v1/no-such-thing"), 404)["code"] == "NOT_FOUND"
    assert problem_of(api["gate"]("DELETE", "/v1/verify"), 405)["code"] == "UNIMPLEMENTED"


def test_a_missing_scope_is_403(api, enrolled):
    for label, method, path in (("gate", "GET", "/v1/keys"), ("gate", "GET", "/v1/subjects"), ("embed", "GET", "/v1/audit"),
                                ("enroll", "GET", "/metrics")):
        refused = problem_of(api[label](method, path), 403)
        assert refused["code"] == "PERMISSION_DENIED" and "needs scope" in refused["detail"]
    refused = problem_of(verify(api["embed"], "powell", enrolled["powell"][0]), 403)
    assert "scope gate" in refused["detail"]


def test_a_door_key_passes_only_as_its_door(api, enrolled):
    assert api["admin"]("PUT", "/v1/doors/north", json={"groups": ["staff"]}).status_code == 200
    frames = [("frames", ("f.jpg", enrolled["blair"][2], "image/jpeg"))]
    other = problem_of(api["door"]("POST", "/v1/pass", data={"door": "south"}, files=frames), 403)
    assert other["code"] == "PERMISSION_DENIED"
    problem_of(verify(api["door"], "blair", enrolled["blair"][2]), 403)  # a door key makes no other call
    passed = api["door"]("POST", "/v1/pass", data={"door": "north"}, files=frames)
    assert passed.status_code == 200, passed.text
    assert passed.json()["decision"] == "ACCEPT" and passed.json()["subject_id"] == "blair", passed.json()
    assert passed.json()["door"] == "north" and passed.json()["score"] is None  # a gate key sees no numbers


def test_an_oversized_body_is_413_declared_or_chunked(server, api):
    host, port = urlparse(server.http_url).hostname, urlparse(server.http_url).port
    # Declared: refused from the headers alone, before a byte of the body is read.
    with socket.create_connection((host, port), timeout=30) as raw:
        raw.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                    + f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
        head = raw.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413") and PROBLEM in head, head

    def chunked(parts: int):
        yield (b'--b\r\nContent-Disposition: form-data; name="subject_id"\r\n\r\npowell\r\n--b\r\n'
               b'Content-Disposition: form-data; name="photo"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n')
        for _ in range(parts):
            yield b"\xff" * (512 * 1024)
        yield b"\r\n--b--\r\n"

    # Sent without a length (chunked): cut off where it passes the cap, a multipart form and a JSON body alike.
    form = api["gate"]("POST", "/v1/verify", data=chunked(5), headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert problem_of(form, 413)["code"] == "RESOURCE_EXHAUSTED"
    document = api["admin"]("PUT", "/v1/doors/east", data=(b"x" * (512 * 1024) for _ in range(5)),
                            headers={"Content-Type": "application/json"})
    problem_of(document, 413)
    small = api["gate"]("POST", "/v1/verify", data=chunked(1), headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert problem_of(small, 400)["code"] == "INVALID_ARGUMENT"  # under the cap: read, and refused as no photo


def test_verify_wants_multipart(api, enrolled):
    refused = problem_of(api["gate"]("POST", "/v1/verify", json={"subject_id": "powell", "photo": "aGVsbG8="}), 415)
    assert "multipart/form-data" in refused["detail"]


def test_bad_photos_get_the_grpc_code_and_reason(server, keys, api, enrolled):
    blank = jpeg(np.full((240, 240, 3), 128, np.uint8))
    for photo, status in ((b"\xff\xd8\xff\xe0 not a jpeg at all", 400), (blank, 400)):
        refused = problem_of(verify(api["enroll"], "powell", photo), status)
        with server.client(api_key=keys["enroll"]) as client, pytest.raises(FacegridError) as caught:
            client.verify("powell", photo)
        assert refused["code"] == caught.value.code.name and refused["reason"] == caught.value.reason
    assert refused["code"] == "FAILED_PRECONDITION" and refused["reason"] == "NO_FACE"


# --- administration --------------------------------------------------------------------------------------------


def test_keys_over_rest_show_the_key_once_and_revoking_stops_it_at_once_on_both_transports(server, api):
    created = api["admin"]("POST", "/v1/keys", json={"name": "kiosk", "scopes": ["gate"]})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert created.json()["record"] == {**created.json()["record"], "name": "kiosk", "scopes": ["gate"], "revoked": False}
    problem_of(api["admin"]("POST", "/v1/keys", json={"name": "kiosk", "scopes": ["gate"]}), 409)
    problem_of(api["admin"]("POST", "/v1/keys", json={"name": "kiosk2", "scopes": ["root"]}), 400)

    kiosk = Api(server.http_url, key)
    assert kiosk("GET", "/v1/subjects/powell").status_code == 403  # live: refused for scope, not for the key
    listed = api["admin"]("GET", "/v1/keys")
    assert key not in listed.text and "digest" not in listed.text

    def kiosk_record() -> dict:
        return next(k for k in api["admin"]("GET", "/v1/keys").json()["keys"] if k["name"] == "kiosk")
    assert eventually(lambda: kiosk_record()["last_used_at"] > 0, 5.0)  # written in the background, as audit entries are
    assert not kiosk_record()["revoked"]

    revoked = api["admin"]("DELETE", "/v1/keys/kiosk")
    assert revoked.status_code == 200 and revoked.json()["revoked"] and revoked.json()["revoked_at"] > 0
    assert problem_of(kiosk("GET", "/v1/subjects/powell"), 401)["code"] == "UNAUTHENTICATED"
    with server.client(api_key=key) as client, pytest.raises(FacegridError) as caught:
        client.verify("powell", b"x")
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    problem_of(api["admin"]("DELETE", "/v1/keys/no-such-key"), 404)


def test_doors_over_rest(api):
    rule = {"groups": ["guests", "staff"], "hours": "Mon-Fri 06:00-22:00", "timezone": "Europe/Berlin",
            "fallback": "call the desk"}
    door = api["admin"]("PUT", "/v1/doors/library", json=rule)
    assert door.status_code == 200 and door.json() == {**door.json(), **rule, "name": "library"}
    listed = api["admin"]("GET", "/v1/doors").json()["doors"]
    assert [d for d in listed if d["name"] == "library"][0]["hours"] == rule["hours"]
    problem_of(api["admin"]("PUT", "/v1/doors/library", json={**rule, "hours": "Someday 25:00-26:00"}), 400)
    problem_of(api["admin"]("PUT", "/v1/doors/library", json={**rule, "timezone": "Mars/Olympus"}), 400)
    assert api["admin"]("DELETE", "/v1/doors/library").json()["name"] == "library"
    problem_of(api["admin"]("DELETE", "/v1/doors/library"), 404)


def test_models_and_embed_over_rest(server, keys, api, enrolled):
    models = api["embed"]("GET", "/v1/models").json()
    assert any(m["is_default"] and m["modality"] == "face" and m["dim"] > 0 for m in models["models"])
    assert models["broken"] == []
    photo = enrolled["powell"][0]
    rest = api["embed"]("POST", "/v1/embed", files={"photo": ("p.jpg", photo, "image/jpeg")}).json()
    with server.client(api_key=keys["embed"]) as client:
        sdk = client.embed(photo)
    assert rest["model"] == sdk.model and len(rest["faces"]) == len(sdk.faces) >= 1
    assert np.allclose(rest["faces"][0]["vector"], sdk.faces[0].vector, atol=1e-6)  # the caller's own photo
    problem_of(api["embed"]("POST", "/v1/embed/text", json={"texts": ["a dog"], "model": "fused"}), 400)


# --- open pages, the document and its docs ---------------------------------------------------------------------


def test_healthz_is_open_and_metrics_need_admin(api):
    assert api["nobody"]("GET", "/healthz").json() == {"status": "SERVING"}
    problem_of(api["nobody"]("GET", "/metrics"), 401)
    metrics = api["admin"]("GET", "/metrics")
    assert metrics.status_code == 200 and "facegrid_" in metrics.text


def test_openapi_describes_the_api_alone(api):
    document = api["nobody"]("GET", "/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert all(path.startswith("/v1/") or path in ("/healthz", "/metrics") for path in document["paths"])
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    assert all("422" not in op["responses"] for op in operations)  # invalid requests are 400 problems
    assert all(list(op["responses"]["400"]["content"]) == [PROBLEM] for op in operations if "400" in op["responses"])


def test_docs_load_without_any_network(api):
    page = api["nobody"]("GET", "/docs")
    assert page.status_code == 200
    if "not installed" in page.text:
        pytest.skip("fastapi-offline (Swagger UI) is not installed here")
    assert not re.search(r"(src|href)=[\"']https?://", page.text), page.text
    assets = re.findall(r"[\"'](/docs/static/[^\"']+)[\"']", page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        loaded = api["nobody"]("GET", asset)
        assert loaded.status_code == 200 and len(loaded.content) > 100, asset


# --- the mirror of the gRPC services ---------------------------------------------------------------------------


def app_routes() -> list:
    """(route, path) for each API and console route of the app, built without a core: nothing is called."""
    from fastapi import routing
    from prometheus_client import CollectorRegistry

    from facegrid.server.http.access import HttpAccess
    from facegrid.server.http.app import create_app

    app = create_app(None, HttpAccess(None, False), registry=CollectorRegistry())
    if hasattr(routing, "iter_route_contexts"):  # newer FastAPI keeps an included router whole in app.routes
        routes = [(context.original_route, context.path) for context in routing.iter_route_contexts(app.routes)]
    else:
        routes = [(route, getattr(route, "path", "")) for route in app.routes]
    return [(route, path) for route, path in routes if isinstance(route, routing.APIRoute)]


def dependencies_of(dependant):
    """Every dependency a route's handler has, however deep."""
    for sub in dependant.dependencies:
        yield sub.call
        yield from dependencies_of(sub)


def test_every_console_page_needs_a_session_but_signing_in():
    signing_in = {"/ui", "/ui/", "/ui/sign-in"}
    pages = [(route, path) for route, path in app_routes() if path.startswith("/ui")]
    assert len(pages) > 20  # the console's routes were found
    open_pages = [path for route, path in pages if path not in signing_in
                  and not any(getattr(call, "__name__", "").startswith("signed_in") for call in dependencies_of(route.dependant))]
    assert open_pages == []


def http_routes() -> dict[str, list[tuple[str, str]]]:
    """Each HTTP route of the app -> the (gRPC method, scope) pairs it names in needs(), walking its dependencies."""
    from fastapi import routing

    def needs_of(dependant):
        for call in dependencies_of(dependant):
            if hasattr(call, "method"):
                yield call.method, call.scope

    return {f"{','.join(sorted(route.methods))} {path}": list(needs_of(route.dependant)) for route, path in app_routes()
            if isinstance(route, routing.APIRoute)}


def test_every_grpc_method_has_an_http_route_with_its_scope_or_a_reason():
    routes = http_routes()
    open_api_routes = [r for r, named in routes.items() if not named and (" /v1/" in r or r.endswith(" /metrics"))]
    assert not open_api_routes, "API routes that check no key"
    mirrored: dict[str, list[tuple[str, str]]] = {}
    for route, named in routes.items():
        for method, scope in named:
            mirrored.setdefault(method, []).append((scope, route))
    for method, scope in METHOD_SCOPES.items():
        name = method.rsplit(".", 1)[-1]
        if method in NOT_MIRRORED:
            assert name not in mirrored, f"{name} has a route ({mirrored[name]}): take it off NOT_MIRRORED"
            continue
        assert name in mirrored, f"{name} has no HTTP route: add one naming it in needs(), or say why in NOT_MIRRORED"
        for route_scope, route in mirrored[name]:
            assert route_scope == scope, f"{route} needs scope {route_scope}, gRPC's {name} {scope}"
    unknown = {m: r for m, named in mirrored.items() for s, r in named
               if f"/facegrid.v1.{m}" not in METHOD_SCOPES and HTTP_ONLY.get(m) != s}
    assert not unknown, f"routes naming no gRPC method: {unknown}"


# --- last: it puts this host in penalty ------------------------------------------------------------------------


def test_many_bad_keys_from_one_host_are_held_back_but_live_keys_are_not(server, api):
    stranger = Api(server.http_url, "fgk_guessing")
    for _ in range(60):
        answer = stranger("GET", "/v1/subjects")
        if answer.status_code == 429:
            break
        problem_of(answer, 401)
    held = problem_of(answer, 429)
    assert held["reason"] == "AUTH_PENALTY" and held["code"] == "UNAUTHENTICATED"
    assert int(answer.headers["Retry-After"]) >= 1 and held["retry_after_s"] > 0
    assert api["enroll"]("GET", "/v1/subjects").status_code == 200  # a live key is never held back
    with server.client(api_key="fgk_guessing") as client, pytest.raises(FacegridError) as caught:
        client.list_keys()  # the same host over gRPC: the same count
    assert caught.value.reason == "AUTH_PENALTY"
