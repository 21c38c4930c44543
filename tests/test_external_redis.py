"""The same code path against an external redis-server through FACEGRID_REDIS_URL."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from helpers import server_port


@pytest.fixture
def redis_server(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (CI installs it: apt-get install redis-server)")
    port = server_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path), "--appendonly", "yes",
         "--appendfsync", "always", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


def test_gate_on_external_redis(server_factory, redis_server, tmp_path, faces_dir):
    import redis

    pictures = sorted((faces_dir / "deepface" / "id01_angelina_jolie").iterdir())
    server = server_factory(tmp_path / "data", {"FACEGRID_REDIS_URL": redis_server})
    with server.client(timeout=60) as client:
        reply = client.enroll("angelina", [pictures[0].read_bytes()])
        assert reply.templates == 1
        assert client.verify("angelina", pictures[2].read_bytes()).match
        key = client.create_key("desk", ["gate"]).key  # keys and the audit log live in that Redis too
    with server.client(api_key=key, timeout=60) as desk:
        assert desk.verify("angelina", pictures[3].read_bytes()).match
    # The system of record is that Redis, and no embedded one was started.
    external = redis.Redis.from_url(redis_server)
    assert external.zrange("{fg}:subjects", 0, -1) == [b"angelina"]
    assert not (tmp_path / "data" / "redis").exists()
    assert list(external.hkeys("{fg}:keys")) == [b"desk"] and key.encode() not in external.dump("{fg}:keys")
    deadline = time.monotonic() + 10  # audit entries are written in the background
    while time.monotonic() < deadline and not any(f.get(b"key") == b"desk" for _, f in external.xrange("{fg:audit}")):
        time.sleep(0.05)
    assert any(f.get(b"key") == b"desk" and f[b"decision"] == b"match" for _, f in external.xrange("{fg:audit}"))
