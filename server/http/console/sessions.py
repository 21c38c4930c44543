"""Console sessions: an API key exchanged once for a server-side session.

The browser holds only a random session id (cookie: HttpOnly, SameSite=Strict, Secure under TLS, path /ui), never
the key; the session keeps the key's digest and checks it against the keyring on every request (cached a second),
so revoking the key ends its sessions. Each session has its own CSRF token, which every form and every script call
that changes something must send back. Sessions live in this process: a restart signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from ...domain.callers import Caller, authenticate
from ...domain.keys import KeyRing, key_digest

COOKIE = "facegrid_session"
IDLE_S = 8 * 3600.0  # a session unused this long ends
MAX_SESSIONS = 10_000  # beyond, the least recently used end first


@dataclass
class Session:
    """One signed-in browser: who it acts as and the token its forms carry."""

    session_id: str
    caller: Caller
    key_digest: str  # "" for a session opened while the server was open (no key existed yet)
    csrf: str
    created: float
    seen: float = field(default=0.0)

    def may(self, scope: str) -> bool:
        """Whether the session's key holds `scope`."""
        return self.caller.may(scope)


class Sessions:
    """The console's sessions of this server process."""

    def __init__(self, keyring: KeyRing, open_without_keys: bool, idle_s: float = IDLE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.keyring = keyring
        self.open_without_keys = open_without_keys
        self.idle_s = idle_s
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def open(self, key: str, peer: str) -> Session:
        """A new session for a presented key ("" : none, where the server is open and no key exists yet);
        NotAuthenticated for an unknown or revoked key."""
        caller = authenticate(self.keyring, key or None, self.open_without_keys, peer)
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), caller, key_digest(key) if key else "", secrets.token_urlsafe(24), now, now)
        with self._lock:
            self._sessions[session.session_id] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of a cookie, or None (unknown, idle too long, or its key revoked since)."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.seen > self.idle_s:
                del self._sessions[session_id]
                return None
            self._sessions.move_to_end(session_id)
        if not self._still_allowed(session):
            self.close(session_id)
            return None
        session.seen = now
        return session

    def _still_allowed(self, session: Session) -> bool:
        if session.key_digest:
            return self.keyring.lookup_digest(session.key_digest) is not None
        return self.open_without_keys and not self.keyring.any_keys()  # the first key closes open sessions

    def close(self, session_id: str) -> None:
        """Sign out."""
        with self._lock:
            self._sessions.pop(session_id, None)

    def count(self) -> int:
        """Open sessions (for tests and health)."""
        with self._lock:
            return len(self._sessions)


def csrf_matches(session: Session, sent: str | None) -> bool:
    """Whether a form or script sent the session's CSRF token (compared in constant time)."""
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), str(sent).encode())
