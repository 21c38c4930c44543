"""The Prometheus endpoint of a real server: RPC counts and latency by status code, vectors held, Redis up."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from facegrid.clients.sdk import Facegrid, FacegridError

from helpers import ServerProcess



METRICS_KEY = "scrape-key-for-the-test"


def scrape(url: str, key: str = METRICS_KEY) -> dict[str, float]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    text = urllib.request.urlopen(request, timeout=10).read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


def test_metrics_count_calls_by_code_and_show_what_is_held(tmp_path, faces_dir):
    # A port alone binds loopback; FACEGRID_METRICS_KEY makes a scrape show a bearer token.
    server = ServerProcess(tmp_path / "data", env={"FACEGRID_METRICS_KEY": METRICS_KEY}, args=["--metrics-address", "0"]).start()
    try:
        assert server.metrics_url.startswith("http://127.0.0.1:")
        for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {METRICS_KEY}"}):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(server.metrics_url, headers=headers), timeout=10)
            assert refused.value.code == 401 and refused.value.headers["WWW-Authenticate"].startswith("Bearer")
        photos = sorted((faces_dir / "deepface" / "id01_angelina_jolie").iterdir())
        with Facegrid(server.address, timeout=60) as client:
            client.enroll("angelina", [photos[0].read_bytes()])
            assert client.verify("angelina", photos[3].read_bytes()).match
            with pytest.raises(FacegridError):
                client.verify("nobody-here", photos[3].read_bytes())
        metrics = scrape(server.metrics_url)
        assert metrics['facegrid_rpc_total{code="OK",method="Verify"}'] == 1
        assert metrics['facegrid_rpc_total{code="NOT_FOUND",method="Verify"}'] == 1
        assert metrics['facegrid_rpc_seconds_count{method="Enroll"}'] == 1
        assert metrics['facegrid_vectors{collection="subjects"}'] == 1
        assert metrics["facegrid_redis_up"] == 1
        assert metrics['facegrid_faces_embedded_total{kind="probe"}'] >= 1
    finally:
        server.kill()
