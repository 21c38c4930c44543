"""The client's settings: which server, with which key and TLS. The one place on the client side that reads the
environment (FACEGRID_SERVER, FACEGRID_API_KEY), once, for the CLI; the SDK is given what it needs."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Mapping

from .transport import DEFAULT_ADDRESS, TLS


@dataclass(frozen=True)
class ClientSettings:
    """Where the server is and how to talk to it; the environment's defaults, flags override them."""

    server: str = DEFAULT_ADDRESS
    api_key: str | None = None  # sent as `authorization: Bearer KEY`; None: no key
    tls: TLS | bool | None = None  # a TLS, True for TLS against the system's roots, None or False for plaintext

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "ClientSettings":
        """FACEGRID_SERVER (else 127.0.0.1:50051) and FACEGRID_API_KEY (else no key), from `environ` or os.environ."""
        environ = os.environ if environ is None else environ
        return cls(server=environ.get("FACEGRID_SERVER") or DEFAULT_ADDRESS, api_key=environ.get("FACEGRID_API_KEY") or None)

    def with_overrides(self, **values) -> "ClientSettings":
        """These settings with every value given that is not None (a flag left out keeps the default)."""
        return replace(self, **{name: value for name, value in values.items() if value is not None})
