"""Split roles over real sockets: `facegrid serve --role encoder` servers and `--role index` servers calling them."""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from facegrid.clients.sdk import Facegrid, FacegridError
from facegrid.v1 import encoder_pb2, encoder_pb2_grpc, gate_pb2, gate_pb2_grpc

from helpers import ServerProcess, facegrid, free_port, last_json, make_test_pki, server_port

ANGELINA, KATY, STRANGER = "deepface/id01_angelina_jolie", "deepface/id10_katy_perry", "deepface/id11_matt_damon"


def photos(faces_dir: Path, folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


def encoder_server(folder: Path, env: dict | None = None) -> ServerProcess:
    return ServerProcess(folder, env, args=["--role", "encoder"]).start()


def index_server(folder: Path, *encoders: str, env: dict | None = None, args: tuple = ()) -> ServerProcess:
    return ServerProcess(folder, env, args=["--role", "index", "--encoder", ",".join(encoders), *args]).start()


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    server = encoder_server(tmp_path_factory.mktemp("encoder") / "data")
    yield server
    server.kill()


@pytest.fixture(scope="module")
def index(tmp_path_factory, encoder):
    server = index_server(tmp_path_factory.mktemp("index") / "data", encoder.address)
    yield server
    server.kill()


@pytest.fixture(scope="module")
def lfw_photos(faces_dir) -> list[tuple[str, bytes]]:
    """80 LFW photos, one or a few per person, as (path, bytes)."""
    found = sorted((faces_dir / "lfw").rglob("*.jpg"))[:80]
    return [(str(p), p.read_bytes()) for p in found]


def test_enroll_verify_identify_through_an_index_server(index, faces_dir):
    angelina, katy = photos(faces_dir, ANGELINA), photos(faces_dir, KATY)
    with index.client(timeout=60) as client:
        assert client.enroll("angelina", angelina[:2]).templates == 2
        assert client.enroll("katy", katy[:2]).templates == 2
        match = client.verify("angelina", angelina[3])
        assert match.match and match.score > match.threshold
        assert match.quality.size > 40 and match.face_box[2] > 0  # box and quality came back from the encoder
        assert not client.verify("angelina", katy[3]).match
        assert client.identify(katy[4]).subject == "katy"
        assert client.identify(photos(faces_dir, STRANGER)[0]).subject is None
        with pytest.raises(FacegridError) as caught:  # the encoder's INVALID_ARGUMENT, passed on as it is
            client.verify("angelina", b"not a photo")
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_index_photos_through_an_index_server(index, lfw_photos, faces_dir):
    batch = lfw_photos[:12] + [("broken.jpg", b"\xff\xd8 not really")]
    with index.client(timeout=60) as client:
        results = list(client.index_photos(batch, "album"))
        assert [bool(r.error) for r in results] == [False] * 12 + [True]
        assert results[-1].error_code == "INVALID_ARGUMENT"
        stats = client.stats("album")
        assert stats.photos == 12 and stats.faces == sum(r.faces for r in results) and stats.dim == 256
        probe = photos(faces_dir, "lfw/" + Path(lfw_photos[0][0]).parent.name)[0]
        hit = client.search(photo=probe, k=1, collection="album").queries[0].hits[0]
        assert hit.score > 0.99  # the photo itself


def test_the_index_role_serves_no_encoder_and_the_encoder_role_no_gate(index, encoder):
    with grpc.insecure_channel(index.address) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            encoder_pb2_grpc.EncoderServiceStub(channel).ListModels(encoder_pb2.ListModelsRequest(), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with grpc.insecure_channel(encoder.address) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            gate_pb2_grpc.GateServiceStub(channel).Verify(gate_pb2.VerifyRequest(subject_id="x", photo=b"x"), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with Facegrid(encoder.address) as client:
        assert client.health() == "SERVING"
        assert "fused" in [m.name for m in client.models()]


def test_the_encoder_role_holds_no_redis(encoder):
    assert not (encoder.data_dir / "redis").exists()  # no embedded Redis was started in its data directory
    children = Path(f"/proc/{encoder.process.pid}/task/{encoder.process.pid}/children").read_text().split()
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] for pid in children if Path(f"/proc/{pid}").exists()]
    assert not [c for c in commands if b"redis" in c or b"valkey" in c]
    assert "Redis" not in (encoder.data_dir / "server.log").read_text()


def test_the_index_role_needs_encoders(tmp_path):
    with pytest.raises(RuntimeError, match="--encoder"):
        ServerProcess(tmp_path / "data", args=["--role", "index"]).start(timeout=30)


def test_an_index_server_given_another_index_server_as_its_encoder_refuses_to_start(tmp_path, index):
    with pytest.raises(RuntimeError, match="not an encoder server"):
        index_server(tmp_path / "confused", index.address)


def test_bulk_index_run_survives_an_encoder_killed_half_way(tmp_path, encoder, lfw_photos):
    doomed = encoder_server(tmp_path / "doomed")
    server = index_server(tmp_path / "index", doomed.address, encoder.address, args=("--metrics-address", "127.0.0.1:0"))
    results, failure = [], []

    def run() -> None:
        try:
            with server.client(timeout=120) as client:
                results.extend(client.index_photos(lfw_photos, "bulk"))
        except Exception as error:  # noqa: BLE001 - reported by the assertions below
            failure.append(error)

    try:
        indexing = threading.Thread(target=run)
        indexing.start()
        deadline = time.monotonic() + 60
        while indexed(server) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        done_at_kill = indexed(server)
        doomed.kill()
        indexing.join(timeout=120)
        assert not failure and len(results) == len(lfw_photos)
        assert not [r.error for r in results if r.error]
        assert 10 <= done_at_kill < len(lfw_photos)  # killed with the run under way
        stats = client_stats(server)
        assert stats.photos == len(lfw_photos)  # every photo indexed exactly once
        assert stats.faces == sum(r.faces for r in results) and not any(r.already_indexed for r in results)
        assert f"encoder {doomed.address} is down" in (server.data_dir / "server.log").read_text()
        scraped = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
        assert f'facegrid_encoder_up{{address="{doomed.address}"}} 0.0' in scraped
        assert f'facegrid_encoder_up{{address="{encoder.address}"}} 1.0' in scraped
    finally:
        server.kill()
        doomed.kill()


def client_stats(server: ServerProcess):
    with server.client() as client:
        return client.stats("bulk")


def indexed(server: ServerProcess) -> int:
    """Photos held by the collection "bulk" so far (0 before its first photo made it)."""
    try:
        return client_stats(server).photos
    except FacegridError:
        return 0


def test_all_encoders_down_is_unavailable_naming_them(tmp_path, faces_dir):
    lonely = encoder_server(tmp_path / "lonely")
    never = f"127.0.0.1:{free_port()}"  # down from the start: the index server starts on the one that answers
    server = index_server(tmp_path / "index", never, lonely.address)
    try:
        angelina = photos(faces_dir, ANGELINA)
        with server.client(timeout=60, retries=0) as client:
            assert client.enroll("angelina", angelina[:1]).templates == 1
            lonely.kill()
            with pytest.raises(FacegridError) as caught:
                client.verify("angelina", angelina[2])
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE
        assert never in str(caught.value) and lonely.address in str(caught.value)
    finally:
        server.kill()
        lonely.kill()


BUSY_ENCODER = {"FACEGRID_BATCH_QUEUE": "1", "FACEGRID_BATCH_MAX": "1", "FACEGRID_BATCH_WORKERS": "1"}  # a queue of one


def burst(call, inputs: list) -> list:
    """call(x) for every input at once, one thread each: each result, or the exception it raised."""
    results: list = [None] * len(inputs)

    def one(i: int) -> None:
        try:
            results[i] = call(inputs[i])
        except Exception as error:  # noqa: BLE001 - kept for the assertions
            results[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def busy_refusals(server: ServerProcess, encoder: str) -> float:
    """The index server's count of calls `encoder` refused for load (its /metrics)."""
    scraped = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    line = next(l for l in scraped.splitlines() if l.startswith(f'facegrid_encoder_busy_total{{address="{encoder}"}}'))
    return float(line.split()[-1])


def test_an_encoder_refusing_for_load_sends_calls_to_the_other_and_all_busy_is_resource_exhausted(
        tmp_path, faces_dir, lfw_photos):
    from facegrid.server.rpc.error_details import is_overloaded

    busy = encoder_server(tmp_path / "busy", env=BUSY_ENCODER)
    calm = encoder_server(tmp_path / "calm")
    probes = (photos(faces_dir, ANGELINA) + photos(faces_dir, KATY)) * 2
    servers = []
    try:
        with grpc.insecure_channel(busy.address) as channel:  # the busy encoder itself refuses, for load, with details
            stub = encoder_pb2_grpc.EncoderServiceStub(channel)
            direct = burst(lambda photo: stub.Embed(encoder_pb2.EmbedRequest(photo=photo, model="fused"), timeout=60), probes)
        refused = [r for r in direct if isinstance(r, grpc.RpcError)]
        assert refused and all(is_overloaded(r) for r in refused), direct
        assert any(isinstance(r, encoder_pb2.EmbedResponse) for r in direct)

        both = index_server(tmp_path / "both", busy.address, calm.address, args=("--metrics-address", "127.0.0.1:0"))
        servers.append(both)
        with both.client(timeout=60, retries=0) as client:
            for _ in range(5):  # until the busy one has refused a call (the first burst nearly always does)
                answers = burst(client.identify, probes)
                assert not [a for a in answers if isinstance(a, Exception)], answers  # every call answered
                if busy_refusals(both, busy.address) > 0:
                    break
            else:
                pytest.fail("the busy encoder refused no call in five bursts")
        scraped = urllib.request.urlopen(both.metrics_url, timeout=10).read().decode()
        assert f'facegrid_encoder_up{{address="{busy.address}"}} 1.0' in scraped  # busy is not down

        alone = index_server(tmp_path / "alone", busy.address, args=("--metrics-address", "127.0.0.1:0"))
        servers.append(alone)
        with alone.client(timeout=60, retries=0) as client:
            answers = burst(client.identify, probes)
        failed = [a for a in answers if isinstance(a, Exception)]
        assert failed and all(isinstance(f, FacegridError) and f.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                              and f.reason == "OVERLOADED" and f.retry_after and busy.address in f.message
                              for f in failed), failed
        with alone.client(timeout=60, retries=6) as client:  # the SDK waits as told and sends the call again
            answers = burst(client.identify, probes)
            assert not [a for a in answers if isinstance(a, Exception)], answers
            refusals = busy_refusals(alone, busy.address)
            # bulk indexing (several Embed calls in flight) waits for the busy encoder: no photo fails
            results = list(client.index_photos(lfw_photos[:16], "patient"))
            assert [r.error for r in results] == [""] * 16 and client.stats("patient").photos == 16
        assert busy_refusals(alone, busy.address) > refusals  # it was refused, and waited
    finally:
        for server in servers + [busy, calm]:
            server.kill()


def indexes_one_photo(server: ServerProcess, faces_dir, collection: str) -> None:
    """One photo indexed through an index server (its encoder did the embedding), then the server killed."""
    try:
        with server.client(timeout=60) as client:
            [result] = client.index_photos([("a.jpg", photos(faces_dir, ANGELINA)[0])], collection)
            assert result.faces == 1 and not result.error
    finally:
        server.kill()


def test_an_encoder_that_requires_a_key(tmp_path, faces_dir):
    key = "fg_test_encoder_key_0123456789abcdef"
    keys_file = tmp_path / "encoder-keys"
    line = facegrid("keys", "digest", key, "--name", "index-servers").stdout  # as an operator makes the file
    assert line.split() == [hashlib.sha256(key.encode()).hexdigest(), "index-servers"]
    keys_file.write_text(f"# keys the index servers use\n{line}")
    keyed = encoder_server(tmp_path / "keyed", {"FACEGRID_ENCODER_KEYS_FILE": str(keys_file)})
    try:
        for presented in (None, "fg_wrong"):
            with Facegrid(keyed.address, api_key=presented, retries=0) as client:
                with pytest.raises(FacegridError) as caught:
                    client.models()
                assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(RuntimeError, match="FACEGRID_ENCODER_API_KEY"):  # refused at start, not at the first call
            index_server(tmp_path / "keyless", keyed.address)
        indexes_one_photo(index_server(tmp_path / "index", keyed.address, env={"FACEGRID_ENCODER_API_KEY": key}),
                          faces_dir, "keyed")
    finally:
        keyed.kill()


def test_mutual_tls_between_the_roles(tmp_path, faces_dir):
    pki = make_test_pki(tmp_path / "pki")
    secured = ServerProcess(tmp_path / "tls-encoder", args=[
        "--role", "encoder", "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
        "--client-ca", str(pki / "ca.pem")]).start()
    try:
        trusting = {"FACEGRID_ENCODER_CA": str(pki / "ca.pem"), "FACEGRID_ENCODER_START_TIMEOUT": "2"}
        with pytest.raises(RuntimeError, match="no encoder server answered"):  # no client certificate: no handshake
            index_server(tmp_path / "no-cert", secured.address, env=trusting)
        indexes_one_photo(index_server(tmp_path / "index", secured.address, env={
            **trusting, "FACEGRID_ENCODER_CERT": str(pki / "client.pem"), "FACEGRID_ENCODER_KEY": str(pki / "client.key")}),
            faces_dir, "tls")
        # As docker-compose wires it: the folder of TLS files the encoders serve from (ca.pem, client.pem, client.key).
        indexes_one_photo(index_server(tmp_path / "index-folder", secured.address, env={"FACEGRID_ENCODER_TLS_DIR": str(pki)}),
                          faces_dir, "tls-folder")
    finally:
        secured.kill()


def test_the_encoder_keys_file_holds_digests_and_is_read_again_when_it_changes(tmp_path):
    from facegrid.server.domain.key_file import KeyFileError, KeyFileRing

    first, second = "fg_first_key", "fg_second_key"
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"{hashlib.sha256(first.encode()).hexdigest()} index-a\n")
    ring = KeyFileRing(keys_file, ttl=0)
    assert ring.lookup(first).name == "index-a" and ring.lookup(first).scopes == ("embed",)
    assert ring.lookup(second) is None and ring.lookup(hashlib.sha256(first.encode()).hexdigest()) is None
    time.sleep(0.01)
    keys_file.write_text(f"# rotated\n{hashlib.sha256(second.encode()).hexdigest()}\n")
    assert ring.lookup(first) is None and ring.lookup(second) is not None  # withdrawn and added without a restart
    (tmp_path / "plain").write_text(f"{first}\n")  # the key itself instead of its digest: refused, naming the line
    with pytest.raises(KeyFileError, match="line 1"):
        KeyFileRing(tmp_path / "plain")


def test_photo_search_and_re_embedding_through_an_index_server(tmp_path, models_dir, lfw_photos):
    from facegrid.encoder.towers.card import read_card

    clip = read_card(next(p for p in models_dir.iterdir() if p.is_dir())).name
    towers = encoder_server(tmp_path / "towers", {"FACEGRID_MODELS_DIR": str(models_dir)})
    server = index_server(tmp_path / "index", towers.address)
    try:
        with server.client(timeout=120) as client:
            results = list(client.index_photos(lfw_photos[:4], "scenes", image_model=clip))
            assert not [r.error for r in results if r.error]
            assert client.stats("scenes").photo_vectors == 4
            path, photo = lfw_photos[2]
            found = client.search_photos(photo=photo, k=1, collection="scenes")  # decoded here, embedded there
            assert found.hits[0].paths == [path] and found.hits[0].score > 0.999 and found.model == clip
            assert len(client.search_photos(text="a photo of a face", k=3, collection="scenes").hits) == 3
            list(client.index_photos(lfw_photos[4:7], "later"))  # no image model yet: re-embedded when it gets one
            client.set_image_model("later", clip)
            deadline = time.monotonic() + 60
            while client.stats("later").photo_vectors < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert client.stats("later").photo_vectors == 3
    finally:
        server.kill()
        towers.kill()


def test_a_callers_deadline_bounds_the_encoder_call_and_marks_no_encoder_down(index, faces_dir):
    probe = photos(faces_dir, KATY)[5]
    log = index.data_dir / "server.log"
    downs = log.read_text().count("is down")
    with index.client(timeout=0.02, retries=0) as client:
        with pytest.raises(FacegridError) as caught:
            client.identify(probe)
        assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.5)
    assert log.read_text().count("is down") == downs  # the caller's time ran out, not the encoder's
    with index.client(timeout=60) as client:
        assert client.identify(probe).quality.size > 40


def test_an_encoder_back_after_a_restart_takes_calls_again(tmp_path, faces_dir):
    address = f"127.0.0.1:{server_port()}"  # restarted on the same port: below the ephemeral range
    first = ServerProcess(tmp_path / "first", args=["--role", "encoder", "--address", address]).start()
    second = encoder_server(tmp_path / "second")
    server = index_server(tmp_path / "index", address, second.address, args=("--metrics-address", "127.0.0.1:0"))
    probe = photos(faces_dir, ANGELINA)[0]

    def up(which: str) -> bool:
        return f'facegrid_encoder_up{{address="{which}"}} 1.0' in urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()

    try:
        with server.client(timeout=60) as client:
            first.kill()
            assert client.identify(probe).quality.size > 40  # the second encoder answers
            first = ServerProcess(tmp_path / "first", args=["--role", "encoder", "--address", address]).start()
            deadline = time.monotonic() + 30
            while not up(address) and time.monotonic() < deadline:  # found back by the health checks
                time.sleep(0.2)
            assert up(address)
            second.kill()
            assert client.identify(probe).quality.size > 40  # the restarted one answers alone
    finally:
        server.kill()
        first.kill()
        second.kill()


@pytest.mark.slow
def test_bench_roles_json_on_a_small_run():
    run = facegrid("bench", "roles", "--repeats", "3", "--photos", "12", "--json", timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    report = last_json(run.stdout)
    assert set(report["verify"]) >= {"all", "split", "hop_p50_ms", "hop_paired_median_ms", "embed_call_overhead"}
    assert report["verify"]["split"]["p50_ms"] > 0 and report["verify"]["embed_call_overhead"]["p50_ms"] > 0
    failover = report["failover"]
    assert failover["photos_indexed"] == failover["distinct_photos"] == 12 and failover["duplicates"] == 0
    assert report["every_photo_once"] is True and report["target_hop_ms"] == 2.0
