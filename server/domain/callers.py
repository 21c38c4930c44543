"""Who is calling, for every transport: the key presented, checked once, into a Caller with its scopes.

gRPC (server/rpc/auth.py) and HTTP (server/http/access.py) both call `authenticate` with the key they read from
their own headers, so a key means the same on both: required once any key exists (or always, where the server does
not listen on loopback only), unknown or revoked keys refused. Which scope each call needs is the transport's table
(an RPC name or a route), and what is refused is counted per host by auth_failures.py for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from .keys import SCOPES, KeyRing

NO_KEY_MESSAGE = ("this server needs an API key: send it as `Authorization: Bearer <key>` "
                  "(facegrid --api-key or FACEGRID_API_KEY)")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's name ("" where no key was needed) and what it may do."""

    key_name: str
    scopes: frozenset[str]
    peer: str = ""
    door: str = ""  # the door the key is bound to: it may only Pass as that door

    def may(self, scope: str) -> bool:
        """Whether the caller holds `scope`."""
        return scope in self.scopes


NOBODY = Caller("", frozenset())


def sees_everything(caller: Caller) -> bool:
    """Whether a caller gets the numbers and reasons behind gate decisions (scores, FARs, runners-up, an unknown
    subject id): a key with `enroll` or `admin`, which may list the subjects anyway. A gate device gets decisions."""
    return caller.may("enroll") or caller.may("admin")


class NotAuthenticated(Exception):
    """No key where one is needed, a malformed header, or an unknown or revoked key; `why` in a few words (audit)."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


class NotPermitted(Exception):
    """A live key without what the call needs (a scope, its door); `why` in a few words (audit)."""

    def __init__(self, message: str, caller: Caller, why: str) -> None:
        super().__init__(message)
        self.caller, self.why = caller, why


def authenticate(keyring: KeyRing, key: str | None, open_without_keys: bool, peer: str = "") -> Caller:
    """The caller behind a presented key (None: no key was sent; "": a malformed header), or NotAuthenticated.

    Without a key the caller holds every scope only while the server is open (loopback or --insecure) and no key
    exists yet: the first key closes it."""
    if key is None:
        if open_without_keys and not keyring.any_keys():
            return Caller("", frozenset(SCOPES), peer)
        raise NotAuthenticated(NO_KEY_MESSAGE, "no key")
    if not key:
        raise NotAuthenticated("malformed authorization header: use `Authorization: Bearer <key>`",
                               "malformed authorization header")
    record = keyring.lookup(key)
    if record is None:
        raise NotAuthenticated("unknown or revoked API key", "unknown or revoked key")
    return Caller(record.name, frozenset(record.scopes), peer, getattr(record, "door", ""))


def missing_scopes(caller: Caller, needed: tuple[str, ...]) -> list[str]:
    """The scopes of `needed` the caller lacks, in order."""
    return [s for s in needed if not caller.may(s)]
