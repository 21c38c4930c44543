"""The Prometheus endpoint of a real server: RPC counts and latency by status code, vectors held, Redis up."""

from __future__ import annotations

import re
import urllib.request

import pytest

from facegrid.clients.sdk import Facegrid, FacegridError

from helpers import ServerProcess



def scrape(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


def test_metrics_count_calls_by_code_and_show_what_is_held(tmp_path, faces_dir):
    server = ServerProcess(tmp_path / "data", args=["--metrics-address", "127.0.0.1:0"]).start()
    try:
        assert server.metrics_url
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
