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
    assert "50051:50051" in facegrid["ports"]
