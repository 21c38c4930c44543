"""Why a server cannot be reached, in words: refused, timed out, unknown host, or which TLS step failed.

gRPC says only UNAVAILABLE or DEADLINE_EXCEEDED. When a client cannot get through, this tries what gRPC
tried, one step at a time with plain sockets (a TCP connection, then the TLS handshake with the client's own
CA and certificate), and names the first step that fails.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
from pathlib import Path


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def split_address(address: str) -> tuple[str, int] | str:
    """(host, port) of 'host:port' or '[v6]:port'; the path of 'unix:PATH'."""
    if address.startswith("unix:"):
        return address[len("unix:"):].removeprefix("//")
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "localhost", int(port)


def _connect(address: str, timeout: float) -> socket.socket:
    where = split_address(address)
    if isinstance(where, str):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        sock.connect(where)
        return sock
    return socket.create_connection(where, timeout=timeout)


def _pem(value) -> bytes | None:
    return None if value is None else value if isinstance(value, bytes) else Path(value).expanduser().read_bytes()


def _context(ca, cert, key) -> ssl.SSLContext:
    """A client TLS context with the caller's CA (or the system's roots) and client certificate."""
    context = ssl.create_default_context()
    if ca is not None:
        context.load_verify_locations(cadata=_pem(ca).decode())
    if cert is not None and key is not None:
        with tempfile.TemporaryDirectory() as folder:  # ssl loads a certificate chain from files only
            cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert_file.write_bytes(_pem(cert))
            key_file.write_bytes(_pem(key))
            context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["h2"])
    return context


def _tls_failure(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"TLS handshake failed: certificate verify failed: {error.verify_message} "
                "(--ca must name the CA that signed the server's certificate)")
    text = str(getattr(error, "verify_message", "") or getattr(error, "reason", "") or error)
    if "CERTIFICATE_REQUIRED" in text.upper() or "certificate required" in text:
        return "TLS handshake failed: the server requires a client certificate (--cert and --key)"
    if "WRONG_VERSION_NUMBER" in text.upper() or "wrong version number" in text:
        return "TLS handshake failed: the server does not speak TLS (drop --tls/--ca, or the port is another service's)"
    return f"TLS handshake failed: {text}"


def diagnose(address: str, tls=None, timeout: float = 2.0) -> str | None:
    """Why `address` cannot be used by a client with `tls` (None: plaintext), or None when nothing is wrong that
    a socket can see. `tls` has .ca, .cert, .key and .server_name (clients/sdk.py TLS)."""
    try:
        sock = _connect(address, timeout)
    except ConnectionRefusedError:
        return "connection refused: is facegrid serve running on that address?"
    except socket.gaierror:
        return "unknown host"
    except (socket.timeout, TimeoutError):
        return f"timed out after {timeout:g} s"
    except (OSError, ValueError) as error:
        return getattr(error, "strerror", None) or str(error)
    with sock:
        if tls is None:
            return _speaks_tls(address, timeout)
        host = tls.server_name or (split_address(address)[0] if not address.startswith("unix:") else "localhost")
        try:
            with _context(tls.ca, tls.cert, tls.key).wrap_socket(sock, server_hostname=host) as secured:
                # TLS 1.3: the server judges the client's certificate after the handshake, so speak HTTP/2 (its
                # preface and an empty SETTINGS frame) and read: a refusal comes back as an alert or a closed socket.
                secured.settimeout(timeout)
                secured.sendall(HTTP2_PREFACE)
                try:
                    answer = secured.recv(1)
                except (socket.timeout, TimeoutError):
                    return None  # the handshake went through; the server is just slow to speak
                if not answer:
                    return ("TLS handshake failed: the server closed the connection; it requires a client certificate "
                            "(--cert and --key)" if tls.cert is None else
                            "TLS handshake failed: the server closed the connection; it does not accept this client certificate")
        except ssl.SSLError as error:
            return _tls_failure(error)
        except (socket.timeout, TimeoutError):
            return f"TLS handshake timed out after {timeout:g} s"
        except OSError as error:
            return f"TLS handshake failed: {error.strerror or error}"
    return None


def _speaks_tls(address: str, timeout: float) -> str | None:
    """'the server speaks TLS' when a handshake without checks succeeds there (a plaintext client cannot talk to it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with _connect(address, timeout) as sock, context.wrap_socket(sock):
            return "the server speaks TLS: pass --ca (or --tls for a certificate the system trusts)"
    except (OSError, ssl.SSLError):
        return None
