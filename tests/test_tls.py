"""TLS and mutual TLS over a real socket, with a CA made here by `openssl`; the rule for listening beyond loopback."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest

from facegrid.clients.sdk import TLS, FacegridError

from helpers import ServerProcess, facegrid, last_json, running_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed: no certificates to test with")


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 / localhost, and a client certificate (a gate device)."""
    folder = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=facegrid test CA", cwd=folder)
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=facegrid test {name}", cwd=folder)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=folder)
    # Another CA's client certificate: must not pass mutual TLS.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "stranger.key", "-out", "stranger.pem", "-days", "2",
            "-subj", "/CN=somebody else", cwd=folder)
    return folder


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, pki):
    with running_server(tmp_path_factory.mktemp("tls"), args=["--tls-cert", str(pki / "server.pem"),
                                                               "--tls-key", str(pki / "server.key"),
                                                               "--http", "127.0.0.1:0"]) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory, pki):
    with running_server(tmp_path_factory.mktemp("mtls"), args=["--tls-cert", str(pki / "server.pem"), "--tls-key",
                                                                str(pki / "server.key"), "--client-ca", str(pki / "ca.pem"),
                                                                "--http", "127.0.0.1:0"]) as server:
        yield server


def models(address: str, **options) -> list:
    from facegrid.clients.sdk import Facegrid

    with Facegrid(address, timeout=10, retries=0, **options) as client:
        return client.models()


def test_tls_serves_a_client_that_trusts_the_ca_and_refuses_plaintext(tls_server, pki):
    assert models(tls_server.address, tls=TLS(ca=pki / "ca.pem"))
    with pytest.raises(FacegridError) as plaintext:
        models(tls_server.address)  # a grpcurl -plaintext style client on a TLS port
    assert plaintext.value.code is grpc.StatusCode.UNAVAILABLE
    assert f"cannot reach facegrid at {tls_server.address}" in plaintext.value.message
    assert "the server speaks TLS" in plaintext.value.message
    with pytest.raises(FacegridError) as untrusted:
        models(tls_server.address, tls=TLS(ca=pki / "stranger.pem"))  # does not trust the server's CA
    assert "TLS handshake failed" in untrusted.value.message and "certificate verify failed" in untrusted.value.message


def test_a_server_that_is_not_there_or_not_tls_is_named_at_once(tls_server, pki, tmp_path):
    import socket
    import time

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{unused.getsockname()[1]}"
    started = time.monotonic()
    run = facegrid("subjects", "--server", nobody)
    assert run.returncode == 2 and time.monotonic() - started < 15  # it used to hang 33 s
    assert f"cannot reach facegrid at {nobody} (connection refused" in run.stderr, run.stderr
    plain = ServerProcess(tmp_path / "plain").start()  # TLS from the client, plaintext at the server
    try:
        with pytest.raises(FacegridError) as caught:
            models(plain.address, tls=TLS(ca=pki / "ca.pem"))
        assert "TLS handshake failed: the server does not speak TLS" in caught.value.message
    finally:
        plain.kill()


def test_mutual_tls_needs_a_client_certificate_from_the_ca(mtls_server, pki):
    device = TLS(ca=pki / "ca.pem", cert=pki / "client.pem", key=pki / "client.key")
    assert models(mtls_server.address, tls=device)
    for refused in (TLS(ca=pki / "ca.pem"), TLS(ca=pki / "ca.pem", cert=pki / "stranger.pem", key=pki / "stranger.key")):
        with pytest.raises(FacegridError) as caught:
            models(mtls_server.address, tls=refused)
        assert caught.value.code is grpc.StatusCode.UNAVAILABLE
        assert "TLS handshake failed" in caught.value.message, caught.value.message
    with pytest.raises(FacegridError) as caught:
        models(mtls_server.address, tls=TLS(ca=pki / "ca.pem"))
    assert "requires a client certificate" in caught.value.message


def test_http_serves_https_with_the_same_certificates_and_client_certificates_where_grpc_requires_them(
        tls_server, mtls_server, pki):
    import requests

    assert tls_server.http_url.startswith("https://") and mtls_server.http_url.startswith("https://")
    assert requests.get(tls_server.http_url + "/healthz", verify=pki / "ca.pem", timeout=10).json() == {"status": "SERVING"}
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_server.http_url + "/healthz", verify=pki / "stranger.pem", timeout=10)  # not the server's CA
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(tls_server.http_url.replace("https://", "http://") + "/healthz", timeout=10)  # plaintext on a TLS port
    device = (str(pki / "client.pem"), str(pki / "client.key"))
    answered = requests.get(mtls_server.http_url + "/v1/subjects", verify=pki / "ca.pem", cert=device, timeout=10)
    assert answered.status_code == 200 and answered.json()["subjects"] == []
    for refused in (None, (str(pki / "stranger.pem"), str(pki / "stranger.key"))):
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            requests.get(mtls_server.http_url + "/v1/subjects", verify=pki / "ca.pem", cert=refused, timeout=10)
    assert mtls_server.process.poll() is None  # refused handshakes leave the server serving


def test_the_container_health_check_speaks_tls_as_the_certificate_folder_says(tls_server, mtls_server, pki, tmp_path, capsys):
    from facegrid.server.healthcheck import main

    # The folder holds what docker-compose's ./certs holds (server.pem, ca.pem, client.pem): TLS, client certificate too.
    assert main([tls_server.address, "--tls-dir", str(pki)]) == 0
    assert main([mtls_server.address, "--tls-dir", str(pki)]) == 0
    assert main([tls_server.address, "--tls-dir", str(tmp_path)]) == 1  # no certificates: plaintext, which a TLS port refuses
    assert "UNAVAILABLE" in capsys.readouterr().err


def test_the_command_line_takes_ca_cert_and_key(mtls_server, pki):
    run = facegrid("subjects", "--json", "--server", mtls_server.address, "--ca", str(pki / "ca.pem"),
                   "--cert", str(pki / "client.pem"), "--key", str(pki / "client.key"))
    assert run.returncode == 0, run.stderr
    assert last_json(run.stdout)["subjects"] == []


def test_no_listening_beyond_loopback_without_a_key_unless_insecure(tmp_path):
    refused = facegrid("serve", "--address", "0.0.0.0:0", "--data-dir", str(tmp_path / "a"), timeout=300)
    assert refused.returncode == 2 and "without any API key" in refused.stderr
    refused = facegrid("serve", "--http", "0.0.0.0:0", "--data-dir", str(tmp_path / "a"), timeout=300)  # HTTP alike
    assert refused.returncode == 2 and "without any API key" in refused.stderr
    server = ServerProcess(tmp_path / "b", args=["--address", "0.0.0.0:0", "--insecure"]).start()
    try:
        assert models(server.local_address)
    finally:
        server.kill()


def test_bad_tls_options_stop_the_start_with_a_clear_message(tmp_path, pki):
    def serve(*args: str):
        return facegrid("serve", "--data-dir", str(tmp_path / "data"), *args, timeout=300)

    half = serve("--client-ca", str(pki / "ca.pem"))
    assert half.returncode == 2 and "--client-ca needs --tls-cert and --tls-key" in half.stderr
    missing = serve("--tls-cert", str(tmp_path / "absent.pem"), "--tls-key", str(pki / "server.key"))
    assert missing.returncode == 2 and "cannot read a TLS file" in missing.stderr and "absent.pem" in missing.stderr


def test_a_key_made_on_the_servers_machine_lets_it_listen_beyond_loopback(tmp_path, pki):
    """The first admin key written straight into the server's Redis (`keys create --data-dir`), then a start on
    every interface without --insecure, under mutual TLS: each call needs the certificate and the key."""
    data = tmp_path / "data"
    made = facegrid("keys", "create", "--name", "gate-device", "--scope", "gate", "--scope", "enroll", "--json",
                    "--data-dir", str(data))
    assert made.returncode == 0, made.stderr
    key = last_json(made.stdout)["key"]
    server = ServerProcess(data, args=["--address", "0.0.0.0:0", "--tls-cert", str(pki / "server.pem"),
                                       "--tls-key", str(pki / "server.key"), "--client-ca", str(pki / "ca.pem")]).start()
    try:
        device = TLS(ca=pki / "ca.pem", cert=pki / "client.pem", key=pki / "client.key")
        with server.client(tls=device, api_key=key) as client:
            assert list(client.subjects()) == []
        with server.client(tls=device, retries=0) as keyless, pytest.raises(FacegridError) as caught:
            list(keyless.subjects())
        assert caught.value.code is grpc.StatusCode.UNAUTHENTICATED
        health = facegrid("health", "--server", server.local_address, "--ca", str(pki / "ca.pem"),
                          "--cert", str(pki / "client.pem"), "--key", str(pki / "client.key"))
        assert health.returncode == 0 and health.stdout.strip() == "SERVING", health.stderr  # health needs no key
    finally:
        server.kill()
