"""Failed authentications: audited with peer and method without letting a flood fill Redis, and a penalty for the
peer host they come from.

Failed means refused by the key check: no key, a malformed header, an unknown or revoked key (UNAUTHENTICATED), or a
live key without the RPC's scope (PERMISSION_DENIED).

Audit, bounded per minute: the first `audited_per_peer` failures without a live key of each peer host, up to
`audited_total` from all hosts, are written one by one (method, peer, why); a live key's refusals are the key
holder's doing and have their own budget, `audited_per_key` per key name, so a keyless flood cannot hide them. The
rest are counted, and when the minute is over each of the `summarised_peers` busiest hosts (and keys) gets one
summary entry (how many, with which codes, on which methods), the others one entry together.

Penalty: a host with more than `threshold` failures within `window_s` is in penalty for `first_penalty_s`, doubled
with each further failure, at most `max_penalty_s`. While it lasts, calls from that host that fail authentication are
refused at once with a RetryInfo; nothing sleeps, so no server thread is held longer than a refusal takes. A call with
a live key is never held back: many door devices may share one address behind a NAT, and one broken device must not
lock the others out. (Keys are 256 random bits: guessing them is hopeless whatever the rate, so the penalty is
there to tell a misbehaving client to back off and to keep a flood cheap, not to protect the keys.)

State is per server process; the counters are bounded (the oldest hosts are dropped first).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from ..store.audit import AuditEntry

def peer_host(peer: str) -> str:
    """'ipv4:10.0.0.7:52114' -> 'ipv4:10.0.0.7'; 'ipv6:[::1]:5' -> 'ipv6:[::1]'; a Unix socket peer stays whole."""
    if peer.startswith(("ipv4:", "ipv6:")):
        return peer.rsplit(":", 1)[0]
    return peer


_MAX_HOSTS = 100_000  # hosts whose failures are counted at once; beyond, the longest quiet ones are dropped
_MAX_METHODS = 5  # methods named in a summary entry


@dataclass(frozen=True)
class FailureLimits:
    """How failed authentications are audited and penalised (Settings: auth_fail_*)."""

    threshold: int = 20  # failures from one host within window_s before it is in penalty
    window_s: float = 60.0
    first_penalty_s: float = 1.0
    max_penalty_s: float = 60.0
    audited_per_peer: int = 5  # failures without a live key per host and minute written one by one
    audited_total: int = 100  # ... and per minute from all hosts together
    audited_per_key: int = 20  # refusals of a live key (a missing scope) per key and minute written one by one
    summarised_peers: int = 100  # hosts (and keys) with a summary entry of their own per minute


@dataclass
class _Host:
    """One peer host's failures in its current window, and its penalty."""

    window_start: float
    failures: int = 0
    penalty_until: float = 0.0


@dataclass
class _Summary:
    """Failures of one host (or key) in one minute beyond those written one by one."""

    peer: str
    key_name: str = ""
    codes: Counter = field(default_factory=Counter)
    methods: Counter = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.codes.values())


class AuthFailures:
    """Counts failed authentications per peer host: the penalty, and the audit entries (through `record`)."""

    def __init__(self, limits: FailureLimits = FailureLimits(), record: Callable[[AuditEntry], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._record = record
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._hosts: OrderedDict[str, _Host] = OrderedDict()  # least recently failing first
        self._minute = int(wall() // 60)
        self._written: Counter = Counter()  # entries written one by one this minute, per host or key
        self._written_total = 0
        self._summaries: dict[str, _Summary] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the penalty --------------------------------------------------------------------------------------

    def penalty(self, peer: str) -> float:
        """Seconds the peer's host is still in penalty (0: none)."""
        host = peer_host(peer)
        with self._lock:
            state = self._hosts.get(host)
            return max(0.0, state.penalty_until - self._clock()) if state is not None else 0.0

    def failed(self, method: str, peer: str, code: str, key_name: str = "") -> bool:
        """Count one failed call; whether it should be audited one by one (False: it went into the minute's summary)."""
        host = peer_host(peer)
        now = self._clock()
        with self._lock:
            self._count(host, now)
            self._roll_minute()
            who = f"key:{key_name}" if key_name else host
            limits = self.limits
            if key_name and self._written[who] < limits.audited_per_key:
                self._written[who] += 1
                return True
            if not key_name and self._written[who] < limits.audited_per_peer and self._written_total < limits.audited_total:
                self._written[who] += 1
                self._written_total += 1
                return True
            summary = self._summaries.get(who)
            if summary is None:
                summary = self._summaries[who] = _Summary(host, key_name)
            summary.codes[code] += 1
            summary.methods[method.rsplit(".", 1)[-1]] += 1
            return False

    def _count(self, host: str, now: float) -> None:
        """One more failure of the host; its penalty grows once past the threshold (lock held)."""
        state = self._hosts.pop(host, None)
        if state is None or now - state.window_start > self.limits.window_s:
            state = _Host(window_start=now, penalty_until=state.penalty_until if state is not None else 0.0)
        state.failures += 1
        over = state.failures - self.limits.threshold
        if over > 0:
            delay = min(self.limits.max_penalty_s, self.limits.first_penalty_s * 2 ** min(over - 1, 32))
            state.penalty_until = max(state.penalty_until, now + delay)
        self._hosts[host] = state  # the most recent last
        while len(self._hosts) > _MAX_HOSTS:
            self._hosts.popitem(last=False)

    # --- the audit summaries -------------------------------------------------------------------------------

    def _roll_minute(self) -> list[AuditEntry]:
        """Start a new minute if this one is over; the summary entries of the minute that ended (lock held)."""
        minute = int(self._wall() // 60)
        if minute == self._minute:
            return []
        entries = self._summary_entries(self._minute)
        self._minute, self._written, self._written_total, self._summaries = minute, Counter(), 0, {}
        if self._record is not None:
            for entry in entries:
                self._record(entry)
        return entries

    def _summary_entries(self, minute: int) -> list[AuditEntry]:
        stamp = time.strftime("%H:%M", time.gmtime(minute * 60))
        ranked = sorted(self._summaries.values(), key=lambda s: -s.count)
        shown, rest = ranked[:self.limits.summarised_peers], ranked[self.limits.summarised_peers:]
        entries = []
        for summary in shown:
            codes = ", ".join(f"{code} {n}" for code, n in summary.codes.most_common())
            methods = ", ".join(m for m, _ in summary.methods.most_common(_MAX_METHODS))
            entries.append(AuditEntry(key_name=summary.key_name, rpc="(summary)", decision=summary.codes.most_common(1)[0][0],
                                      peer=summary.peer, detail=f"{summary.count} more failed calls in {stamp} UTC: "
                                      f"{codes}; {methods}"[:190]))
        if rest:
            entries.append(AuditEntry(key_name="", rpc="(summary)", decision="UNAUTHENTICATED", peer="(others)",
                                      detail=f"{sum(s.count for s in rest)} more failed calls in {stamp} UTC from "
                                             f"{len(rest)} other hosts or keys"))
        return entries

    def flush(self) -> None:
        """Write the summaries of a minute that has ended (also done by the next failure, and every few seconds)."""
        with self._lock:
            self._roll_minute()

    def start(self, every_s: float = 5.0) -> "AuthFailures":
        """Flush every few seconds in a thread of its own, so that a minute's summary is written without a next failure."""
        def run() -> None:
            while not self._stopping.wait(every_s):
                self.flush()

        self._thread = threading.Thread(target=run, name="auth-failures", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the summarising thread and record this minute's summaries before going."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:  # what this minute still holds
            if self._record is not None:
                for entry in self._summary_entries(self._minute):
                    self._record(entry)
            self._summaries = {}
