"""Who may call what: the one table of RPC -> scope, and the interceptor that checks API keys.

Keys come as call metadata, `authorization: Bearer <key>` or `x-api-key: <key>`. A call
without a key is UNAUTHENTICATED where keys are required; an unknown or revoked key is
UNAUTHENTICATED; a key without the RPC's scope is PERMISSION_DENIED. Keys are required
once any key exists, and always on a non-loopback address (`open_without_keys` False,
unless the operator said `--insecure`). gRPC health and reflection stay open: health
must answer load balancers and orchestrators that hold no key, and reflection only tells
what the published .proto files tell.

Why an interceptor rather than the `grpc_errors` decorator: it sees every RPC of every
service by its full name, so a new RPC that is not in the table is refused
(PERMISSION_DENIED) instead of silently open, and the check is written once. The
interceptor itself runs on gRPC's polling thread, so it only wraps the handler; the
key check (a Redis read at most once a second per key) runs in the call's worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import grpc
import redis

from ..domain.doors import door_key_refusal
from ..domain.keys import SCOPES, KeyRing

log = logging.getLogger("facegrid.server")

GATE, ENROLL, LIBRARY, EMBED, ADMIN = SCOPES

# Every RPC of every facegrid service (tests/test_auth.py fails when one is missing).
METHOD_SCOPES: dict[str, str] = {
    "/facegrid.v1.GateService/Verify": GATE,
    "/facegrid.v1.GateService/Identify": GATE,
    "/facegrid.v1.GateService/Enroll": ENROLL,
    "/facegrid.v1.GateService/Forget": ENROLL,
    "/facegrid.v1.GateService/GetSubject": ENROLL,
    "/facegrid.v1.GateService/ListSubjects": ENROLL,
    "/facegrid.v1.GateService/UpdateSubject": ENROLL,
    "/facegrid.v1.GateService/Pass": GATE,  # a key bound to a door passes only as that door (domain/doors.py)
    "/facegrid.v1.IndexService/IndexPhotos": LIBRARY,
    "/facegrid.v1.IndexService/KnownPhotos": LIBRARY,
    "/facegrid.v1.IndexService/Search": LIBRARY,
    "/facegrid.v1.IndexService/Stats": LIBRARY,
    "/facegrid.v1.IndexService/Cluster": LIBRARY,
    "/facegrid.v1.IndexService/Groups": LIBRARY,
    "/facegrid.v1.IndexService/Correct": LIBRARY,  # naming a group needs ENROLL too: REQUEST_SCOPES
    "/facegrid.v1.IndexService/Undo": LIBRARY,
    "/facegrid.v1.IndexService/KMeans": LIBRARY,
    "/facegrid.v1.IndexService/CreateCollection": LIBRARY,
    "/facegrid.v1.IndexService/AddVectors": LIBRARY,
    "/facegrid.v1.IndexService/RemoveVectors": LIBRARY,
    "/facegrid.v1.IndexService/SearchPhotos": LIBRARY,
    "/facegrid.v1.IndexService/SimilarPhotos": LIBRARY,
    "/facegrid.v1.IndexService/SetImageModel": LIBRARY,
    "/facegrid.v1.EncoderService/Embed": EMBED,
    "/facegrid.v1.EncoderService/EmbedPhoto": EMBED,
    "/facegrid.v1.EncoderService/EmbedText": EMBED,
    "/facegrid.v1.EncoderService/EmbedAudio": EMBED,
    "/facegrid.v1.EncoderService/EmbedStream": EMBED,
    "/facegrid.v1.EncoderService/ListModels": EMBED,
    "/facegrid.v1.AdminService/CreateKey": ADMIN,
    "/facegrid.v1.AdminService/ListKeys": ADMIN,
    "/facegrid.v1.AdminService/RevokeKey": ADMIN,
    "/facegrid.v1.AdminService/ListAudit": ADMIN,
    "/facegrid.v1.AdminService/SetDoor": ADMIN,
    "/facegrid.v1.AdminService/ListDoors": ADMIN,
    "/facegrid.v1.AdminService/DeleteDoor": ADMIN,
}

# Scopes a request needs beyond its RPC's, decided by its fields (requests that are not streams).
REQUEST_SCOPES: dict[str, Callable[[object], tuple[str, ...]]] = {
    # Naming a group enrolls its faces at the gate.
    "/facegrid.v1.IndexService/Correct": lambda request: (ENROLL,) if request.WhichOneof("action") == "name" else (),
    # Replacing a subject's templates with photos unlike them (a changed face, or someone else's) is an admin's call.
    "/facegrid.v1.GateService/Enroll": lambda request: (ADMIN,) if request.replace else (),
}

# Open to every caller, key or not.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                 "/grpc.reflection.v1.ServerReflection/")

KEY_HEADERS = ("authorization", "x-api-key")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's name ("" where no key was needed) and what it may do."""

    key_name: str
    scopes: frozenset[str]
    peer: str = ""
    door: str = ""  # the door the key is bound to: it may only Pass as that door

    def may(self, scope: str) -> bool:
        return scope in self.scopes


NOBODY = Caller("", frozenset())


def caller_of(context) -> Caller:
    """The caller of a call that went through the interceptor; NOBODY otherwise (fail closed)."""
    return getattr(context, "caller", NOBODY)


def rpc_name(method: str) -> str:
    """'/facegrid.v1.GateService/Verify' -> 'GateService/Verify'."""
    return method.rsplit(".", 1)[-1]


class AuthorizedContext:
    """The call's gRPC context with its `caller` attached (everything else is the context's own), and fields
    the handler adds to the call's audit entry beyond its reply (`note_audit`)."""

    def __init__(self, context, caller: Caller) -> None:
        self._context = context
        self.caller = caller
        self.audit_fields: dict = {}

    def __getattr__(self, name):
        return getattr(self._context, name)


def note_audit(context, **fields) -> None:
    """Add fields to the call's audit entry that its reply does not carry (a score the caller may not see)."""
    if isinstance(context, AuthorizedContext):
        context.audit_fields.update(fields)


def presented_key(metadata) -> str | None:
    """The key from `authorization: Bearer <key>` or `x-api-key: <key>`; "" for a malformed header."""
    values = {k.lower(): v for k, v in (metadata or ()) if k.lower() in KEY_HEADERS}
    if "authorization" in values:
        scheme, _, key = str(values["authorization"]).strip().partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""
    if "x-api-key" in values:
        return str(values["x-api-key"]).strip()
    return None


class Denied(Exception):
    """A call refused by the key check: the status code and a message (never the key)."""

    def __init__(self, code: grpc.StatusCode, message: str, caller: Caller | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.caller = code, message, caller


class AuthInterceptor(grpc.ServerInterceptor):
    """Checks the key of every call against METHOD_SCOPES; hands the call's Caller to the audit log."""

    def __init__(self, keyring: KeyRing, open_without_keys: bool, auditor=None) -> None:
        self.keyring = keyring
        self.open_without_keys = open_without_keys
        self.auditor = auditor  # rpc/audit.py Auditor, or None

    def caller(self, method: str, metadata, peer: str, request=None) -> Caller:
        """The caller of `method`, or Denied."""
        scope = METHOD_SCOPES.get(method)
        key = presented_key(metadata)
        if key is None:
            if self.open_without_keys and not self.keyring.any_keys():
                return Caller("", frozenset(SCOPES), peer)
            raise Denied(grpc.StatusCode.UNAUTHENTICATED,
                         "this server needs an API key: send it as call metadata `authorization: Bearer <key>` "
                         "(facegrid --api-key or FACEGRID_API_KEY)")
        if not key:
            raise Denied(grpc.StatusCode.UNAUTHENTICATED, "malformed authorization header: use `authorization: Bearer <key>`")
        record = self.keyring.lookup(key)
        if record is None:
            raise Denied(grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked API key")
        caller = Caller(record.name, frozenset(record.scopes), peer, getattr(record, "door", ""))
        if scope is None:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED, f"{rpc_name(method)} has no scope; nobody may call it", caller)
        needed: tuple[str, ...] = (scope,)
        if method in REQUEST_SCOPES:
            # Unary requests only; a request that cannot be looked at needs every scope (fail closed).
            needed += REQUEST_SCOPES[method](request) if request is not None else SCOPES
        missing = [s for s in needed if not caller.may(s)]
        if missing:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED,
                         f"key {record.name!r} (scopes {', '.join(record.scopes)}) may not call {rpc_name(method)}: "
                         f"it needs scope {' and '.join(missing)}", caller)
        # A door key: Pass as its own door only (a request that cannot be looked at is refused: fail closed).
        refusal = door_key_refusal(caller.door, method, getattr(request, "door", None))
        if refusal:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED, f"key {record.name!r}: {refusal}", caller)
        return caller

    def _check(self, details, request, context) -> AuthorizedContext:
        try:
            caller = self.caller(details.method, details.invocation_metadata, context.peer(), request)
        except Denied as denied:
            if denied.caller is not None and self.auditor is not None:
                self.auditor.denied(details.method, denied.caller, request, denied.code)
            context.abort(denied.code, denied.message)
        except redis.RedisError as error:
            log.warning("checking an API key failed: %s: %s", type(error).__name__, error)
            context.abort(grpc.StatusCode.UNAVAILABLE, f"cannot check the API key: Redis unavailable ({type(error).__name__})")
        return AuthorizedContext(context, caller)

    def _unary(self, details, behaviour):
        method = details.method

        def checked(request, context):
            authorized = self._check(details, request, context)
            if self.auditor is None or not self.auditor.audits(method):
                return behaviour(request, authorized)
            try:
                reply = behaviour(request, authorized)
            except Exception:
                self.auditor.ended(method, authorized.caller, request, None, context.code() or grpc.StatusCode.UNKNOWN,
                                   authorized.audit_fields)
                raise
            self.auditor.ended(method, authorized.caller, request, reply, grpc.StatusCode.OK, authorized.audit_fields)
            return reply

        return checked

    def _streaming(self, details, behaviour, unary_request: bool):
        def checked(request_or_iterator, context):
            # A request stream is checked before its first message is read (by the RPC's scope alone).
            request = request_or_iterator if unary_request else None
            return behaviour(request_or_iterator, self._check(details, request, context))

        return checked

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_PREFIXES):
            return handler
        serial = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler_call_details, handler.unary_unary), **serial)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._streaming(handler_call_details, handler.unary_stream, True), **serial)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._streaming(handler_call_details, handler.stream_unary, False), **serial)
        return grpc.stream_stream_rpc_method_handler(self._streaming(handler_call_details, handler.stream_stream, False), **serial)
