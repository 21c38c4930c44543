"""docker-compose.yml is valid (where docker compose exists) and describes the roles: encoders, index, Redis, Milvus."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _compose_command() -> list[str]:
    """`docker compose` (the plugin) or the older `docker-compose`; skip with the reason where neither exists."""
    if shutil.which("docker") is not None and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    pytest.skip("neither the docker compose plugin nor docker-compose is installed here; the file is checked where one is")


@pytest.mark.parametrize("profiles", [[], ["gpu"], ["milvus"], ["gpu", "milvus"]])
def test_compose_file_validates_with_docker_compose(profiles):
    command = _compose_command() + ["-f", str(ROOT / "docker-compose.yml")]
    for profile in profiles:
        command += ["--profile", profile]
    run = subprocess.run(command + ["config", "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    services = subprocess.run(command + ["config", "--services"], capture_output=True, text=True, cwd=ROOT).stdout.split()
    assert {"redis", "encoder", "index"} <= set(services)


def test_compose_file_has_the_roles_wired_together():
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the compose file")
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    redis, encoder, gpu, index = (services[name] for name in ("redis", "encoder", "encoder-gpu", "index"))
    assert "--appendonly" in redis["command"] and "always" in redis["command"]
    assert encoder["command"][:4] == ["facegrid", "serve", "--role", "encoder"] and "FACEGRID_REDIS_URL" not in encoder["environment"]
    assert encoder["environment"]["FACEGRID_ENCODER_KEYS_FILE"].startswith("/keys/")  # no Redis: keys from a file
    assert gpu["command"] == encoder["command"] and gpu["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert index["command"][:4] == ["facegrid", "serve", "--role", "index"]
    environment = index["environment"]
    assert environment["FACEGRID_REDIS_URL"].startswith("redis://redis:") and "encoder:50051" in environment["FACEGRID_ENCODERS"]
    assert environment["FACEGRID_MILVUS_URI"].startswith("http://milvus:")
    assert index["build"] == "." and (ROOT / "Dockerfile").is_file()
    # Published on the host's loopback only, TLS files picked up from the mounted /certs.
    assert all(p.startswith("127.0.0.1:") for p in index["ports"])
    assert environment["FACEGRID_TLS_DIR"] == "/certs" and any(v.endswith(":/certs:ro") for v in index["volumes"])
    assert services["milvus"]["profiles"] == ["milvus"]


def test_tls_turns_on_when_the_certificate_files_are_there(tmp_path):
    from facegrid.server.config import Settings

    settings = Settings().with_overrides(tls_dir=str(tmp_path))
    assert settings.tls_files() == ("", "", "")  # an empty folder: plaintext
    (tmp_path / "server.pem").write_text("cert")
    (tmp_path / "server.key").write_text("key")
    assert settings.tls_files() == (str(tmp_path / "server.pem"), str(tmp_path / "server.key"), "")
    (tmp_path / "client-ca.pem").write_text("ca")
    assert settings.tls_files()[2] == str(tmp_path / "client-ca.pem")  # mutual TLS
