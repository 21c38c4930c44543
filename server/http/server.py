"""The HTTP listener: uvicorn in a thread of the server's process, on its own port, with the gRPC port's TLS files
(and client certificates required where gRPC requires them)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading

import uvicorn

log = logging.getLogger("facegrid.server")


def http_bind(address: str) -> tuple[str, int]:
    """'127.0.0.1:8080' -> ('127.0.0.1', 8080); '[::1]:8080' -> ('::1', 8080); a port alone binds loopback."""
    if address.isdigit():
        return "127.0.0.1", int(address)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"FACEGRID_HTTP_ADDRESS must be host:port or a port, got {address!r}")
    return host.strip("[]"), int(port)


class HttpServer:
    """Serves an ASGI app until stopped; `port` is the one bound (an address with port 0 picks one)."""

    def __init__(self, app, address: str, tls_cert: str = "", tls_key: str = "", client_ca: str = "") -> None:
        host, port = http_bind(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it every
        # answer on a kept-alive connection waits ~40 ms (Nagle's algorithm against the client's delayed ACK).
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = host, self._socket.getsockname()[1]
        self.tls = bool(tls_cert)
        options = dict(log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30,
                       limit_concurrency=1000, server_header=False)
        if tls_cert:
            options.update(ssl_certfile=tls_cert, ssl_keyfile=tls_key)
            if client_ca:
                options.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
        self._server = uvicorn.Server(uvicorn.Config(app, **options))
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        except Exception:  # noqa: BLE001 - logged: the gRPC side keeps serving
            log.exception("the HTTP server stopped")
        finally:
            loop.close()

    def start(self) -> "HttpServer":
        """Start serving in a thread; returns once the listener accepts."""
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()
        for _ in range(200):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.025)
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Stop taking requests; those in flight get `grace` seconds."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(grace + 1)
        self._socket.close()
