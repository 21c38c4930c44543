"""Who may call what over HTTP: the same keys, scopes, door binding, failure counting and audit as gRPC.

A key comes as `Authorization: Bearer <key>` (or `X-API-Key: <key>`), never as a cookie: the API cannot be called
cross-site by a browser that happens to hold a console session (the console's pages have sessions of their own,
console/sessions.py, and CSRF tokens). Each route names the gRPC method it mirrors
(`needs(scope, "GateService/Verify")`): its scope is that method's, a door key may only Pass as its own door, and
refusals are audited under the same name, counted per host by the same AuthFailures as gRPC's (a host in penalty
is told when to retry).
"""

from __future__ import annotations

import logging
from typing import Callable

import redis
from fastapi import Request
from fastapi.responses import JSONResponse

from ..domain.auth_failures import AuthFailures
from ..domain.callers import Caller, NotAuthenticated, NotPermitted, authenticate, missing_scopes
from ..domain.doors import door_key_refusal
from ..domain.error_kinds import ErrorKind
from ..domain.keys import SCOPES, KeyRing
from ..store.audit import AuditEntry
from . import problems

log = logging.getLogger("facegrid.server")

AUTH_PENALTY = "AUTH_PENALTY"  # the reason of a refusal to a host in penalty, as over gRPC
METHOD_PREFIX = "/facegrid.v1."


class AccessRefused(Exception):
    """A refused request, with the problem response it gets (the app's exception handler sends it)."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__("refused")
        self.response = response


def peer_of(request: Request) -> str:
    """The client's address as gRPC names a peer ('ipv4:10.0.0.7:52114', 'ipv6:[::1]:5'), so one host is counted
    as one whichever transport it uses."""
    client = request.client
    if client is None:
        return "unknown"
    host, port = client.host, client.port
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def presented_key(request: Request) -> str | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key`; "" for a malformed header; None for none."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, key = authorization.strip().partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""
    key = request.headers.get("x-api-key")
    return key.strip() if key is not None else None


class HttpAccess:
    """Authenticates HTTP requests with the server's keyring; refusals counted, audited and answered as problems."""

    def __init__(self, keyring: KeyRing, open_without_keys: bool, failures: AuthFailures | None = None,
                 record: Callable[[AuditEntry], None] | None = None) -> None:
        self.keyring = keyring
        self.open_without_keys = open_without_keys
        self.failures = failures
        self.record = record  # the audit log's writer (None: nothing audited)

    def caller(self, request: Request) -> Caller:
        """The request's caller by its key, or NotAuthenticated."""
        return authenticate(self.keyring, presented_key(request), self.open_without_keys, peer_of(request))

    def checks_in_memory(self, request: Request) -> bool:
        """Whether checking this request's key reads nothing from Redis (its record is cached): the check may run on
        the event loop, without a hop to a worker thread and back."""
        key = presented_key(request)
        return bool(key) and self.keyring.cached(key)

    def check(self, request: Request, scope: str, method: str) -> Caller:
        """The caller, if it holds `scope` and (a door key) may make this call; else AccessRefused."""
        try:
            caller = self.caller(request)
            missing = missing_scopes(caller, (scope,))
            if missing:
                raise NotPermitted(f"key {caller.key_name!r} (scopes {', '.join(s for s in SCOPES if caller.may(s))}) may not "
                                   f"call {method}: it needs scope {missing[0]}", caller, f"missing scope {missing[0]}")
            refusal = door_key_refusal(caller.door, METHOD_PREFIX + method, None)
            if refusal and method != "GateService/Pass":  # Pass checks the door it is sent for (door_check)
                raise NotPermitted(f"key {caller.key_name!r}: {refusal}", caller, "another door")
            return caller
        except (NotAuthenticated, NotPermitted) as error:
            raise AccessRefused(self.refused(request, error, method)) from None
        except redis.RedisError as error:
            log.warning("checking an API key failed: %s: %s", type(error).__name__, error)
            raise AccessRefused(problems.of_kind(ErrorKind.UNAVAILABLE, "cannot check the API key: Redis unavailable "
                                                 f"({type(error).__name__})")) from None

    def door_check(self, request: Request, caller: Caller, door: str) -> None:
        """A door key passes only as its own door (AccessRefused otherwise)."""
        refusal = door_key_refusal(caller.door, METHOD_PREFIX + "GateService/Pass", door)
        if refusal:
            raise AccessRefused(self.refused(request, NotPermitted(f"key {caller.key_name!r}: {refusal}", caller,
                                                                   "another door"), "GateService/Pass"))

    def refused(self, request: Request, error: NotAuthenticated | NotPermitted, method: str) -> JSONResponse:
        """Count and audit a refusal (at a bounded rate); the problem it is answered with."""
        peer = peer_of(request)
        kind = ErrorKind.UNAUTHENTICATED if isinstance(error, NotAuthenticated) else ErrorKind.PERMISSION_DENIED
        caller = getattr(error, "caller", None) or Caller("", frozenset(), peer)
        one_by_one = True
        if self.failures is not None:
            one_by_one = self.failures.failed(method, peer, kind.name, caller.key_name)
        if one_by_one and self.record is not None:
            self.record(AuditEntry(key_name=caller.key_name, rpc=method, decision=kind.name, peer=peer,
                                   detail=f"{error.why} (HTTP {request.method} {request.url.path[:64]})"))
        wait = self.failures.penalty(peer) if self.failures is not None and isinstance(error, NotAuthenticated) else 0.0
        headers = {"WWW-Authenticate": 'Bearer realm="facegrid"'} if kind is ErrorKind.UNAUTHENTICATED else {}
        if wait > 0:
            return problems.of_kind(kind, f"{error}; too many failed calls from your address: retry in {wait:.0f} s",
                                    AUTH_PENALTY, status=429, retry_after_s=wait, headers=headers)
        return problems.of_kind(kind, str(error), headers=headers)
