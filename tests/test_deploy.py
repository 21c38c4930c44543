"""docker-compose.yml is valid (where docker compose exists) and describes the roles: encoders, index, Redis, Milvus;
with ./certs every gRPC hop is TLS, and its ports are published on loopback only."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import make_test_pki

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


def _rendered(profiles: list[str]) -> dict:
    """The services of docker-compose.yml as compose renders them (variables filled in with their defaults)."""
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the rendered compose file")
    command = _compose_command() + ["-f", str(ROOT / "docker-compose.yml")]
    for profile in profiles:
        command += ["--profile", profile]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGRID_")}  # the file's own defaults
    run = subprocess.run(command + ["config"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    return yaml.safe_load(run.stdout)["services"]


def _published(service: dict) -> list[tuple[str, str, int]]:
    """(host address, host port or range, container port) of each published port, in either rendering (short or long)."""
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append((port.get("host_ip", ""), str(port.get("published", "")), int(port["target"])))
        else:
            host, published, target = str(port).split("/")[0].rsplit(":", 2)
            ports.append((host, published, int(target)))
    return ports


def _settings_in(service: dict, certs: Path, monkeypatch):
    """The Settings a service's container would build, with its /certs mounted from `certs`."""
    from facegrid.server.config import Settings

    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in service["volumes"]]
    assert any(m.startswith(f"{ROOT / 'certs'}:/certs") for m in mounts), "./certs is not mounted at /certs"
    for name in [k for k in os.environ if k.startswith("FACEGRID_")]:
        monkeypatch.delenv(name)
    for name, value in service["environment"].items():
        monkeypatch.setenv(name, str(value or "").replace("/certs", str(certs)))
    return Settings()


FACEGRID_SERVICES = ("encoder", "encoder-gpu", "index")


def test_with_certs_every_grpc_hop_of_the_compose_file_is_tls(tmp_path, monkeypatch):
    services = _rendered(["gpu"])
    certs = make_test_pki(tmp_path / "certs")  # ca.pem, server.pem/.key, client.pem/.key: the layout ./certs takes
    shutil.copy(certs / "ca.pem", certs / "client-ca.pem")  # mutual TLS on every hop
    served = (str(certs / "server.pem"), str(certs / "server.key"), str(certs / "client-ca.pem"))
    for name in FACEGRID_SERVICES:  # callers (and the health check) to each server: TLS, client certificates required
        assert _settings_in(services[name], certs, monkeypatch).tls_files() == served, name
    index = _settings_in(services["index"], certs, monkeypatch)
    # The index servers to the encoders: TLS, trusting the CA, with the client certificate the encoders require.
    assert index.encoder_tls() == (str(certs / "ca.pem"), str(certs / "client.pem"), str(certs / "client.key"))
    assert {a.split(":")[0] for a in index.encoder_addresses()} == {"encoder"}  # the name server.pem must carry
    assert services["encoder-gpu"]["networks"]["default"]["aliases"] == ["encoder"]
    # The container's health check speaks TLS from the same folder (tests/test_tls.py runs it against real servers).
    assert "facegrid.server.healthcheck localhost:50051 --tls-dir /certs" in (ROOT / "Dockerfile").read_text()
    # A self-signed server.pem without ca.pem is trusted itself; client-ca.pem without a client certificate is said.
    (certs / "ca.pem").unlink()
    assert _settings_in(services["index"], certs, monkeypatch).encoder_tls()[0] == str(certs / "server.pem")
    (certs / "client.pem").unlink()
    with pytest.raises(ValueError, match="client.pem"):
        _settings_in(services["index"], certs, monkeypatch).encoder_tls()


def test_without_certs_no_hop_of_the_compose_file_is_tls(tmp_path, monkeypatch):
    services = _rendered(["gpu"])
    (tmp_path / "certs").mkdir()
    for name in FACEGRID_SERVICES:
        assert _settings_in(services[name], tmp_path / "certs", monkeypatch).tls_files() == ("", "", ""), name
    assert _settings_in(services["index"], tmp_path / "certs", monkeypatch).encoder_tls() == ("", "", "")


def test_compose_publishes_grpc_and_metrics_on_loopback_only():
    services = _rendered(["gpu", "milvus"])
    for name, service in services.items():
        assert all(host == "127.0.0.1" for host, _, _ in _published(service)), f"{name} publishes beyond loopback"
    assert ("127.0.0.1", "50051-50052", 50051) in _published(services["index"])
    assert ("127.0.0.1", "8080-8081", 8080) in _published(services["index"])  # REST and the console
    assert services["index"]["environment"]["FACEGRID_HTTP_ADDRESS"] == "0.0.0.0:8080"
    for name, metrics in (("index", "9464-9465"), ("encoder", "9466-9467"), ("encoder-gpu", "9468")):
        assert services[name]["environment"]["FACEGRID_METRICS_ADDRESS"] == "0.0.0.0:9464"  # inside the container
        assert ("127.0.0.1", metrics, 9464) in _published(services[name]), name
    readme = (ROOT / "README.md").read_text()
    assert "metrics on 127.0.0.1:9464" in readme  # what the README promises is what is published
