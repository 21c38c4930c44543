"""The container's health check: `python -m facegrid.server.healthcheck [ADDRESS] [--tls-dir DIR]`; exit 0 when SERVING.

Over TLS when the folder holds server.pem and server.key, as the server then serves (server/tls_folder.py): trusting
its ca.pem (else server.pem itself), presenting client.pem where client-ca.pem makes the server require a certificate.
Health needs no key. Light on purpose (grpc and the folder's rules only): it runs every 15 s beside the server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .tls_folder import calling_files


def channel_for(address: str, tls_dir: str) -> grpc.Channel:
    """A channel to the server, with TLS exactly when the folder says it serves TLS."""
    ca, cert, key = calling_files(tls_dir) if tls_dir else ("", "", "")
    if not ca:
        return grpc.insecure_channel(address)
    read = lambda path: Path(path).read_bytes() if path else None  # noqa: E731
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(read(ca), read(key), read(cert)))


def serving(address: str, tls_dir: str = "", timeout: float = 3.0) -> bool:
    """Whether the server at `address` answers gRPC health with SERVING."""
    with channel_for(address, tls_dir) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when SERVING, 1 otherwise (with the reason on stderr)."""
    parser = argparse.ArgumentParser(prog="python -m facegrid.server.healthcheck")
    parser.add_argument("address", nargs="?", default="localhost:50051", help="host:port (default: %(default)s)")
    parser.add_argument("--tls-dir", default="", help="the server's TLS folder (server.pem, ca.pem, ...), e.g. /certs")
    args = parser.parse_args(argv)
    try:
        if serving(args.address, args.tls_dir):
            return 0
        print(f"{args.address} is not SERVING", file=sys.stderr)
    except grpc.RpcError as error:
        print(f"{args.address}: {error.code().name}: {error.details()}", file=sys.stderr)
    except (OSError, ValueError) as error:
        print(f"{args.address}: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
