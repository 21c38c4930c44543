"""Where and how the server listens: loopback or not, plaintext, TLS or mutual TLS, and the start rule.

The rule: a server may listen on loopback (or a Unix socket) without any API key, and
then answers without keys until the first one is made. Anywhere else it refuses to
start while no key exists, unless the operator passes `--insecure`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc


class StartRefused(RuntimeError):
    """The server will not start as configured; the message says what to do."""


def host_of(address: str) -> str:
    """'127.0.0.1:50051' -> '127.0.0.1'; '[::1]:50051' -> '::1'."""
    host = address.rsplit(":", 1)[0] if ":" in address else address
    return host.strip("[]")


def is_loopback(address: str) -> bool:
    """Whether only this machine can reach the address (Unix sockets count; 0.0.0.0 does not)."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host = host_of(address)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_start(address: str, keys_exist: bool, insecure: bool) -> None:
    """StartRefused when the address reaches beyond this machine, no key exists and --insecure was not given."""
    if keys_exist or insecure or is_loopback(address):
        return
    raise StartRefused(
        f"refusing to listen on {address} without any API key: anyone who reaches it could enroll, forget and "
        "read every subject. Create an admin key first, on this machine: "
        "`facegrid keys create --name admin --scope admin --data-dir DIR` (or `--redis-url URL`), "
        "or listen on 127.0.0.1 and create it there; or pass --insecure to serve without keys anyway."
    )


def server_credentials(tls_cert: str, tls_key: str, client_ca: str) -> grpc.ServerCredentials | None:
    """TLS credentials from PEM files (client certificates required when client_ca is given); None for plaintext."""
    if not (tls_cert or tls_key):
        if client_ca:
            raise StartRefused("--client-ca needs --tls-cert and --tls-key: client certificates are checked over TLS")
        return None
    if not (tls_cert and tls_key):
        raise StartRefused("TLS needs both --tls-cert and --tls-key")
    try:
        chain, key = Path(tls_cert).read_bytes(), Path(tls_key).read_bytes()
        roots = Path(client_ca).read_bytes() if client_ca else None
    except OSError as error:
        raise StartRefused(f"cannot read a TLS file: {error.filename}: {error.strerror}") from None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=roots, require_client_auth=roots is not None)


def add_port(server: grpc.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    """Listen on the address; the port (useful when it was 0)."""
    port = server.add_secure_port(address, credentials) if credentials is not None else server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return port
