"""docker-compose.yml is valid (where docker compose exists) and describes Redis with AOF plus facegrid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_validates_with_docker_compose():
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed here; the compose file is checked where it is")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed here")
    run = subprocess.run(["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr


def test_compose_file_has_redis_with_aof_and_facegrid_pointing_at_it():
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the compose file")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis, facegrid = compose["services"]["redis"], compose["services"]["facegrid"]
    assert "--appendonly" in redis["command"] and "always" in redis["command"]
    assert facegrid["environment"]["FACEGRID_REDIS_URL"].startswith("redis://redis:")
    assert facegrid["build"] == "." and (ROOT / "Dockerfile").is_file()
    # Published on the host's loopback only, TLS files picked up from the mounted /certs.
    assert "127.0.0.1:50051:50051" in facegrid["ports"] and all(p.startswith("127.0.0.1:") for p in facegrid["ports"])
    assert facegrid["environment"]["FACEGRID_TLS_DIR"] == "/certs" and any(v.endswith(":/certs:ro") for v in facegrid["volumes"])


def test_tls_turns_on_when_the_certificate_files_are_there(tmp_path):
    from facegrid.server.config import Settings

    settings = Settings().with_overrides(tls_dir=str(tmp_path))
    assert settings.tls_files() == ("", "", "")  # an empty folder: plaintext
    (tmp_path / "server.pem").write_text("cert")
    (tmp_path / "server.key").write_text("key")
    assert settings.tls_files() == (str(tmp_path / "server.pem"), str(tmp_path / "server.key"), "")
    (tmp_path / "client-ca.pem").write_text("ca")
    assert settings.tls_files()[2] == str(tmp_path / "client-ca.pem")  # mutual TLS
