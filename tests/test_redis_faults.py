"""Redis failing under a running server: UNAVAILABLE and NOT_SERVING while it is down, served again
when it is back, without a restart; the change feed follows again, or rebuilds when data was lost."""

from __future__ import annotations

import os
import signal
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from facegrid.clients.sdk import FacegridError
from facegrid.server.store.subjects import NewTemplate, SubjectStore

from helpers import RedisServer, ServerProcess, free_port

PASSWORD = "hunter2-not-for-logs"
ANGELINA = "deepface/id01_angelina_jolie"


def photos(faces_dir, folder: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


def health(server) -> int:
    with grpc.insecure_channel(server.address) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


def until(condition, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"not within {limit} s"
        time.sleep(0.05)


def failure(call) -> FacegridError:
    with pytest.raises(FacegridError) as caught:
        call()
    return caught.value


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis", "--requirepass", PASSWORD).start()
    yield server
    server.kill()


def store_of(redis_server) -> SubjectStore:
    """The test as another server writing to the same Redis (its own feed origin)."""
    return SubjectStore.connect(redis_server.url)


def test_redis_killed_and_restarted_under_a_running_server(server_factory, redis_server, tmp_path, faces_dir):
    pictures = photos(faces_dir, ANGELINA)
    server = server_factory(tmp_path / "data", {"FACEGRID_REDIS_URL": redis_server.url})
    SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    with server.client(timeout=30, retries=0) as client:
        client.enroll("angelina", pictures[:2])
        assert health(server) == SERVING

        redis_server.kill()
        until(lambda: health(server) == NOT_SERVING, 3)
        for call in (lambda: client.verify("angelina", pictures[3]), lambda: client.identify(pictures[3]),
                     lambda: client.enroll("bob", pictures[4:5]), lambda: client.subject("angelina")):
            error = failure(call)
            assert error.code == grpc.StatusCode.UNAVAILABLE and "Redis" in error.message
            assert PASSWORD not in error.message and str(redis_server.port) not in error.message
        assert server.process.poll() is None

        redis_server.start()
        until(lambda: health(server) == SERVING, 3)
        assert client.verify("angelina", pictures[3]).match  # the AOF kept every acknowledged write
        assert client.enroll("angelina", pictures[2:3]).templates == 3

        # Another server's enrollment after the restart reaches this one: the feed follows again.
        other = store_of(redis_server)
        template = other.templates("angelina")[0]
        client.forget("angelina")
        other.add_templates("angelina-elsewhere", [NewTemplate(template.model, template.vector, template.photo_sha256, template.quality)])
        until(lambda: client.identify(pictures[3]).subject == "angelina-elsewhere", 2)

        # A hung Redis (stopped, not dead) is found by the watchdog's short timeout too.
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            until(lambda: health(server) == NOT_SERVING, 4)
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        until(lambda: health(server) == SERVING, 3)
    assert PASSWORD not in (tmp_path / "data" / "server.log").read_text()


def test_redis_that_lost_its_data_is_followed_by_a_rebuild(server_factory, redis_server, tmp_path):
    server = server_factory(tmp_path / "data", {"FACEGRID_REDIS_URL": redis_server.url})
    with server.client(retries=0) as client:
        client.create_collection("kept", 4)
        client.add_vectors("kept", [1, 2], np.eye(4)[:2])
        assert client.stats("kept").vectors == 2
        store_of(redis_server).redis.flushall()  # as a Redis restarted without its files would be

        def gone() -> bool:
            try:
                client.stats("kept")
            except FacegridError as error:
                return error.code == grpc.StatusCode.NOT_FOUND
            return False

        until(gone, 3)  # the server's FAISS copy was rebuilt from the (now empty) Redis
        client.create_collection("kept", 4)
        assert client.stats("kept").vectors == 0
    assert "rebuilding from Redis" in (tmp_path / "data" / "server.log").read_text()


def test_a_server_started_before_its_redis_waits_for_it(tmp_path, faces_dir):
    import threading

    redis_server = RedisServer(tmp_path / "redis", "--requirepass", PASSWORD)
    server = ServerProcess(tmp_path / "data", {"FACEGRID_REDIS_URL": redis_server.url})
    log_file = tmp_path / "data" / "server.log"

    def start_redis_once_the_server_waits() -> None:
        # Redis comes up only after the server has said it waits (a fixed delay raced the server's start-up).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if log_file.exists() and "waiting for Redis" in log_file.read_text():
                break
            time.sleep(0.1)
        time.sleep(1.0)
        redis_server.start()

    timer = threading.Thread(target=start_redis_once_the_server_waits)
    timer.start()
    try:
        server.start()
        with server.client(timeout=60) as client:
            assert client.enroll("angelina", photos(faces_dir, ANGELINA)[:1]).templates == 1
    finally:
        timer.join()
        server.kill()
        redis_server.kill()
    log = (tmp_path / "data" / "server.log").read_text()
    assert "waiting for Redis at redis://:***@" in log and PASSWORD not in log


def test_a_redis_that_never_answers_stops_the_start_with_one_clear_line(tmp_path):
    import subprocess
    import sys

    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    run = subprocess.run(
        [sys.executable, "-m", "facegrid.clients.cli", "serve", "--address", "127.0.0.1:0", "--data-dir", str(tmp_path / "data")],
        env={**os.environ, "FACEGRID_REDIS_URL": url, "FACEGRID_REDIS_START_TIMEOUT": "1"}, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1
    assert "cannot start: Redis at redis://:***@127.0.0.1" in run.stderr and "did not answer within 1 s" in run.stderr
    assert PASSWORD not in run.stderr + run.stdout and "Traceback" not in run.stderr
