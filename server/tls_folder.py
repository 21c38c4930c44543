"""TLS files found by name in one folder (docker-compose's ./certs, mounted at /certs), for serving and for calling.

The folder's layout, every file PEM:
  server.pem, server.key   this server's certificate and key: TLS is on when both are there
  client-ca.pem            optional: callers must present a certificate it signed (mutual TLS)
  ca.pem                   optional: the CA that signed server.pem; without it server.pem itself is trusted (self-signed)
  client.pem, client.key   optional: the certificate presented when calling a server that requires one (client-ca.pem)

Nothing heavy is imported here: the container's health check (server/healthcheck.py) runs this every few seconds.
"""

from __future__ import annotations

from pathlib import Path

SERVER_CERT, SERVER_KEY, CLIENT_CA = "server.pem", "server.key", "client-ca.pem"
CA, CLIENT_CERT, CLIENT_KEY = "ca.pem", "client.pem", "client.key"


def _found(folder: Path, name: str) -> str:
    return str(folder / name) if (folder / name).is_file() else ""


def served_files(folder: str | Path) -> tuple[str, str, str]:
    """(certificate, key, client CA) to serve with from the folder; all empty (plaintext) without server.pem and server.key."""
    folder = Path(folder).expanduser()
    cert, key = _found(folder, SERVER_CERT), _found(folder, SERVER_KEY)
    if not (cert and key):
        return "", "", ""
    return cert, key, _found(folder, CLIENT_CA)


def calling_files(folder: str | Path) -> tuple[str, str, str]:
    """(CA to trust, client certificate, client key) for calling the servers that serve from this folder; all empty
    (plaintext, as they serve) without server.pem and server.key.

    ValueError when those servers require client certificates (client-ca.pem) and the folder has none to present."""
    folder = Path(folder).expanduser()
    cert, _, client_ca = served_files(folder)
    if not cert:
        return "", "", ""
    ca = _found(folder, CA) or cert
    client_cert, client_key = _found(folder, CLIENT_CERT), _found(folder, CLIENT_KEY)
    if client_ca and not (client_cert and client_key):
        raise ValueError(f"{folder / CLIENT_CA} makes the servers require client certificates: put the caller's certificate "
                         f"and key, signed by it, in {folder / CLIENT_CERT} and {folder / CLIENT_KEY}")
    return ca, client_cert, client_key
