"""Who may call what: the one table of RPC -> scope, and the interceptor that checks API keys.

Keys come as call metadata, `authorization: Bearer <key>` or `x-api-key: <key>`. A call
without a key is UNAUTHENTICATED where keys are required; an unknown or revoked key is
UNAUTHENTICATED; a key without the RPC's scope is PERMISSION_DENIED. Keys are required
once any key exists, and always on a non-loopback address (`open_without_keys` False,
unless the operator said `--insecure`). gRPC health and reflection stay open: health
must answer load balancers and orchestrators that hold no key, and reflection only tells
what the published .proto files tell.

Some requests need more than their RPC's scope, decided by their fields (REQUEST_SCOPES): naming a
photo-library group enrolls it (`enroll`), and a raw vector searched against stored vectors of people's
photos needs `admin` (one call per basis vector reads a stored face vector back from the scores).

Every refusal is counted per peer host (auth_failures.py): audited with peer and method, at a bounded
rate, and a host with many failures gets its failed calls refused with a RetryInfo; a live key is
never held back.

Why an interceptor rather than the `grpc_errors` decorator: it sees every RPC of every
service by its full name, so a new RPC that is not in the table is refused
(PERMISSION_DENIED) instead of silently open, and the check is written once. The
interceptor itself runs on gRPC's polling thread, so it only wraps the handler; the
key check (a Redis read at most once a second per key) runs in the call's worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Protocol

import grpc
import redis
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from ..domain.callers import NOBODY, Caller, NotAuthenticated, authenticate, sees_everything  # noqa: F401 (re-exported)
from ..domain.doors import door_key_refusal
from ..domain.keys import SCOPES, KeyRing
from ..domain.auth_failures import AuthFailures
from .error_details import DOMAIN, status_with
from .wrapped import WrappedHandlers

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

class RequestFacts(Protocol):
    """What the scope table may ask about the target of a request (main.py wires it to the server's collections)."""

    def holds_plain_vectors(self, collection: str) -> bool:
        """Whether the collection exists and holds the caller's own plain vectors (not vectors of people's photos)."""


@dataclass(frozen=True)
class RequestRule:
    """Scopes a request needs beyond its RPC's, from its fields (`facts` None: nothing may be looked up, fail closed),
    and why, for the refusal's message."""

    needs: Callable[[object, RequestFacts | None], tuple[str, ...]]
    why: str


def _raw_vector_search(request, facts: RequestFacts | None) -> tuple[str, ...]:
    """Search by a raw vector: `admin`, unless the collection holds the caller's own plain vectors. With one call per
    basis vector of the space, the scores rebuild every stored vector (cosine 1.0), and a rebuilt face vector passes
    the gate as its owner: only a search by photo or by words is the library's (docs/security.md)."""
    if request.WhichOneof("query") != "vector":
        return ()
    return () if facts is not None and facts.holds_plain_vectors(request.collection) else (ADMIN,)


# Scopes a request needs beyond its RPC's, decided by its fields (requests that are not streams).
REQUEST_SCOPES: dict[str, RequestRule] = {
    # Naming a group enrolls its faces at the gate.
    "/facegrid.v1.IndexService/Correct": RequestRule(
        lambda request, facts: (ENROLL,) if request.WhichOneof("action") == "name" else (),
        "naming a group enrolls its faces at the gate"),
    "/facegrid.v1.IndexService/Search": RequestRule(
        _raw_vector_search, "a raw vector against stored face vectors reads them back from the scores; search by photo"),
    # Whole-photo vectors of people's photos: the same reconstruction (plain collections have none).
    "/facegrid.v1.IndexService/SearchPhotos": RequestRule(
        lambda request, facts: (ADMIN,) if request.WhichOneof("query") == "vector" else (),
        "a raw vector against stored photo vectors reads them back from the scores; search by words or by photo"),
    # Replacing a subject's templates with photos unlike them (a changed face, or someone else's) is an admin's call.
    "/facegrid.v1.GateService/Enroll": RequestRule(
        lambda request, facts: (ADMIN,) if request.replace else (),
        "replacing a subject's templates with photos unlike them is an administrator's call"),
}

# Open to every caller, key or not.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                 "/grpc.reflection.v1.ServerReflection/")

KEY_HEADERS = ("authorization", "x-api-key")


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
    """A call refused by the key check: the status code, a message (never the key), and why in a few words (audit)."""

    def __init__(self, code: grpc.StatusCode, message: str, caller: Caller | None = None, why: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.caller, self.why = code, message, caller, why


AUTH_PENALTY = "AUTH_PENALTY"  # ErrorInfo.reason of a refusal to a host in penalty for failed authentications


class AuthInterceptor(grpc.ServerInterceptor):
    """Checks the key of every call against METHOD_SCOPES; hands the call's Caller to the audit log."""

    def __init__(self, keyring: KeyRing, open_without_keys: bool, auditor=None, facts: RequestFacts | None = None,
                 failures: AuthFailures | None = None) -> None:
        self.keyring = keyring
        self.open_without_keys = open_without_keys
        self.auditor = auditor  # rpc/audit.py Auditor, or None
        self.facts = facts  # what REQUEST_SCOPES may look up; None: those rules fail closed
        self.failures = failures  # failed authentications per peer host; None: not counted
        self._wrapped = WrappedHandlers(self._wrap)

    def caller(self, method: str, metadata, peer: str, request=None) -> Caller:
        """The caller of `method`, or Denied."""
        scope = METHOD_SCOPES.get(method)
        try:
            caller = authenticate(self.keyring, presented_key(metadata), self.open_without_keys, peer)
        except NotAuthenticated as refused:
            raise Denied(grpc.StatusCode.UNAUTHENTICATED, str(refused), why=refused.why) from None
        if not caller.key_name and caller.scopes:
            return caller  # open: no key exists yet
        if scope is None:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED, f"{rpc_name(method)} has no scope; nobody may call it", caller,
                         why="an RPC without a scope")
        missing = [s for s in (scope,) if not caller.may(s)]
        rule = REQUEST_SCOPES.get(method)
        if rule is not None and not missing:
            # Unary requests only; a request that cannot be looked at needs every scope (fail closed).
            extra = rule.needs(request, self.facts) if request is not None else SCOPES
            missing = [s for s in extra if not caller.may(s)]
            if missing:
                raise Denied(grpc.StatusCode.PERMISSION_DENIED,
                             f"key {caller.key_name!r} (scopes {', '.join(s for s in SCOPES if caller.may(s))}) may not call {rpc_name(method)} "
                             f"with this request: it needs scope {' and '.join(missing)} ({rule.why})", caller,
                             why=f"missing scope {' and '.join(missing)}")
        if missing:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED,
                         f"key {caller.key_name!r} (scopes {', '.join(s for s in SCOPES if caller.may(s))}) may not call {rpc_name(method)}: "
                         f"it needs scope {' and '.join(missing)}", caller, why=f"missing scope {' and '.join(missing)}")
        # A door key: Pass as its own door only (a request that cannot be looked at is refused: fail closed).
        refusal = door_key_refusal(caller.door, method, getattr(request, "door", None))
        if refusal:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED, f"key {caller.key_name!r}: {refusal}", caller, why="another door")
        return caller

    def _refused(self, method: str, denied: Denied, request, context) -> None:
        """Count and audit a refusal (at a bounded rate), then end the call; a host in penalty is told to back off."""
        peer = context.peer()
        caller = denied.caller or Caller("", frozenset(), peer)
        one_by_one = True
        if self.failures is not None:
            one_by_one = self.failures.failed(method, peer, denied.code.name, caller.key_name)
        if one_by_one and self.auditor is not None:
            self.auditor.denied(method, caller, request, denied.code, denied.why)
        wait = self.failures.penalty(peer) if self.failures is not None and denied.caller is None else 0.0
        if wait > 0:  # a failed authentication from a host in penalty: refused all the same, with when to retry
            delay = duration_pb2.Duration()
            delay.FromMilliseconds(int(wait * 1000))
            context.abort_with_status(status_with(
                denied.code, f"{denied.message}; too many failed calls from your address: retry in {wait:.0f} s",
                [error_details_pb2.ErrorInfo(reason=AUTH_PENALTY, domain=DOMAIN), error_details_pb2.RetryInfo(retry_delay=delay)]))
        context.abort(denied.code, denied.message)

    def _check(self, method: str, request, context) -> AuthorizedContext:
        try:
            caller = self.caller(method, context.invocation_metadata(), context.peer(), request)
        except Denied as denied:
            self._refused(method, denied, request, context)
        except redis.RedisError as error:
            log.warning("checking an API key failed: %s: %s", type(error).__name__, error)
            context.abort(grpc.StatusCode.UNAVAILABLE, f"cannot check the API key: Redis unavailable ({type(error).__name__})")
        return AuthorizedContext(context, caller)

    def _unary(self, method: str, behaviour):
        def checked(request, context):
            authorized = self._check(method, request, context)
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

    def _streaming(self, method: str, behaviour, unary_request: bool):
        def checked(request_or_iterator, context):
            # A request stream is checked before its first message is read (by the RPC's scope alone).
            request = request_or_iterator if unary_request else None
            return behaviour(request_or_iterator, self._check(method, request, context))

        return checked

    def intercept_service(self, continuation, handler_call_details):
        """Wrap each method's handler with the key check (health and reflection pass unchecked)."""
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_PREFIXES):
            return handler
        # The wrapper depends on the method alone (the key is read from the call's context): made once per method.
        return self._wrapped(handler_call_details.method, handler)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        serial = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._unary(method, handler.unary_unary), **serial)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._streaming(method, handler.unary_stream, True), **serial)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._streaming(method, handler.stream_unary, False), **serial)
        return grpc.stream_stream_rpc_method_handler(self._streaming(method, handler.stream_stream, False), **serial)
