"""Where decisions go: JSON lines on stdout, commands run on accept or deny, a signed webhook, MQTT.

Every output is fire-and-forget for the door: a slow webhook, a hanging command or a broker that is down
never delays the next decision (they run on their own threads) and never stops the door (failures are
logged). Secrets (the webhook's, MQTT's password) are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Protocol, TextIO

from .decision import DoorDecision

log = logging.getLogger("facegrid.door")

HOOK_TIMEOUT_S = 30.0
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_ATTEMPTS = 3
WEBHOOK_QUEUE = 100
SIGNATURE_TOLERANCE_S = 300


class Output(Protocol):
    """Where a door's decisions go: stdout, commands, a webhook or MQTT."""

    def emit(self, decision: DoorDecision) -> None:
        """Deliver one decision; must not block the door for long."""

    def close(self) -> None:
        """Finish what is pending and release the output when the door stops."""


class Printer:
    """One line per decision on stdout, flushed at once: JSON with `json`, else a line for people."""

    def __init__(self, json_lines: bool, stream: TextIO | None = None) -> None:
        self.json_lines, self.stream = json_lines, stream or sys.stdout

    def emit(self, decision: DoorDecision) -> None:
        """Print one decision."""
        if self.json_lines:
            line = json.dumps(decision.as_json(), ensure_ascii=False)
        else:
            who = decision.subject or "-"
            line = (f"{decision.time} door {decision.door} track {decision.track}: {decision.decision} {decision.reason} "
                    f"{who} ({decision.latency_ms:.0f} ms)")
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Nothing to release: stdout stays open."""
        pass


def _stderr_or_null():
    """Our stderr for a hook's output (stdout carries the JSON lines); /dev/null where stderr is no file."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return subprocess.DEVNULL


def decision_environment(decision: DoorDecision) -> dict[str, str]:
    """FACEGRID_* variables describing a decision, for --on-accept / --on-deny commands."""
    values = {
        "DECISION": decision.decision, "REASON": decision.reason, "SUBJECT": decision.subject or "",
        "DISPLAY_NAME": decision.display_name, "DOOR": decision.door, "TRACK": str(decision.track),
        "SCORE": "" if decision.score is None else str(decision.score), "BAND": decision.band,
        "LIVENESS": decision.liveness, "TIME": decision.time, "LATENCY_MS": str(decision.latency_ms),
        "MESSAGE": decision.message, "JSON": json.dumps(decision.as_json(), ensure_ascii=False),
    }
    return {f"FACEGRID_{name}": value.replace("\0", "") for name, value in values.items()}


class CommandHooks:
    """Runs a command per decision, split like a shell would (shlex) but never through a shell: the decision
    travels in FACEGRID_* environment variables, so nothing a server or a card says becomes shell syntax."""

    def __init__(self, on_accept: str | None, on_deny: str | None, timeout: float = HOOK_TIMEOUT_S) -> None:
        self.on_accept = shlex.split(on_accept) if on_accept else None
        self.on_deny = shlex.split(on_deny) if on_deny else None
        self.timeout = timeout
        self._running: list[threading.Thread] = []

    def emit(self, decision: DoorDecision) -> None:
        """Start the accept or deny command for a decision without waiting for it (a thread reaps it)."""
        argv = self.on_accept if decision.accepted else self.on_deny
        if not argv:
            return
        try:
            process = subprocess.Popen(argv, env={**os.environ, **decision_environment(decision)}, stdin=subprocess.DEVNULL,
                                       stdout=_stderr_or_null(), close_fds=True)
        except OSError as error:
            log.error("--on-%s %s could not start: %s", "accept" if decision.accepted else "deny", argv[0], error)
            return
        waiter = threading.Thread(target=self._wait, args=(process, argv[0]), name="door-hook", daemon=True)
        waiter.start()
        self._running = [t for t in self._running if t.is_alive()] + [waiter]

    def _wait(self, process: subprocess.Popen, name: str) -> None:
        try:
            code = process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            log.error("%s ran over %.0f s and was killed", name, self.timeout)
            return
        if code != 0:
            log.error("%s exited with status %d", name, code)

    def close(self) -> None:
        """Wait for the commands still running."""
        for waiter in self._running:
            waiter.join()


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-Facegrid-Signature value: sha256=<hex HMAC-SHA256 of "timestamp.body">."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str, now: float | None = None,
                     tolerance: float = SIGNATURE_TOLERANCE_S) -> bool:
    """What a receiver checks: the signature matches, and the timestamp is recent (an old one is a replay)."""
    try:
        fresh = abs((time.time() if now is None else now) - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


class Webhook:
    """POSTs each decision's JSON to a URL, signed when a secret is given, from a background thread; a few
    retries for a receiver that is briefly away, then the decision is logged as not delivered."""

    def __init__(self, url: str, secret: bytes | None, timeout: float = WEBHOOK_TIMEOUT_S) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--webhook needs an http:// or https:// URL, got {url!r}")
        self.url, self._secret, self.timeout = url, secret, timeout
        self._queue: queue.Queue = queue.Queue(WEBHOOK_QUEUE)
        self._thread = threading.Thread(target=self._send_all, name="door-webhook", daemon=True)
        self._thread.start()

    def emit(self, decision: DoorDecision) -> None:
        """Queue a decision for posting; logged and dropped when the queue is full."""
        try:
            self._queue.put_nowait(decision)
        except queue.Full:
            log.error("webhook: %d decisions waiting; track %s not posted", WEBHOOK_QUEUE, decision.track)

    def _send_all(self) -> None:
        while (decision := self._queue.get()) is not None:
            self._send(decision)

    def _send(self, decision: DoorDecision) -> None:
        body = json.dumps(decision.as_json(), ensure_ascii=False).encode()
        for attempt in range(WEBHOOK_ATTEMPTS):
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "User-Agent": "facegrid-door", "X-Facegrid-Timestamp": timestamp}
            if self._secret is not None:
                headers["X-Facegrid-Signature"] = sign(self._secret, timestamp, body)
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                    reply.read()
                return
            except urllib.error.HTTPError as error:
                if error.code < 500:   # the receiver refused it: sending it again would not help
                    log.error("webhook: the receiver answered %d for track %s", error.code, decision.track)
                    return
                problem = f"HTTP {error.code}"
            except (urllib.error.URLError, OSError) as error:
                problem = str(getattr(error, "reason", error))
            if attempt + 1 < WEBHOOK_ATTEMPTS:
                time.sleep(0.5 * 2 ** attempt)
        log.error("webhook: track %s not delivered after %d attempts (%s)", decision.track, WEBHOOK_ATTEMPTS, problem)

    def close(self) -> None:
        """Post what is queued, then stop the sending thread (waiting at most the retries' time)."""
        self._queue.put(None)
        self._thread.join(timeout=self.timeout * WEBHOOK_ATTEMPTS + 5)


class MqttOutput:
    """Publishes decisions to `topic` (QoS 1) and the door's state to `topic`/availability: "online" (retained)
    once connected, "offline" on a clean stop, and "offline" as the last will, which the broker sends when the
    door drops off without a goodbye, so a dead door shows. Challenges go to `topic`/challenge for a display.

    Decisions are not queued while the broker is away: a lock controller must never get a stale ACCEPT late.
    """

    def __init__(self, host: str, port: int, topic: str, client_id: str, username: str | None = None,
                 password: str | None = None, tls: bool = False, ca: str | None = None, cert: str | None = None,
                 key: str | None = None, keepalive: int = 30) -> None:
        from paho.mqtt import client as mqtt   # only a door that publishes needs paho

        self.topic, self.availability = topic, f"{topic}/availability"
        self.where = f"{host}:{port}"
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.will_set(self.availability, "offline", qos=1, retain=True)
        if username:
            self._client.username_pw_set(username, password)
        if tls or ca or cert:
            self._client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.reconnect_delay_set(1, 30)
        self._client.connect_async(host, port, keepalive)
        self._client.loop_start()

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT %s refused the door: %s", self.where, reason_code)
            return
        log.info("MQTT %s: connected; %s online", self.where, self.availability)
        client.publish(self.availability, "online", qos=1, retain=True)

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        log.warning("MQTT %s: disconnected (%s); reconnecting", self.where, reason_code)

    def emit(self, decision: DoorDecision) -> None:
        """Publish a decision to the door's topic."""
        self.publish(self.topic, decision.as_json())

    def publish(self, topic: str, message: dict) -> None:
        """One JSON message, QoS 1, unless the broker is away (then logged and dropped)."""
        if not self._client.is_connected():
            log.error("MQTT %s is not connected: %s not published", self.where, topic)
            return
        self._client.publish(topic, json.dumps(message, ensure_ascii=False), qos=1)

    def close(self) -> None:
        """Say "offline" to the broker, then disconnect."""
        if self._client.is_connected():
            self._client.publish(self.availability, "offline", qos=1, retain=True).wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()


class Outputs:
    """All the outputs of a door: each decision to each, one decision at a time."""

    def __init__(self, outputs: list[Output]) -> None:
        self.outputs = outputs
        self._lock = threading.Lock()

    def emit(self, decision: DoorDecision) -> None:
        """Send a decision to every output; one that fails is logged and does not stop the others."""
        with self._lock:
            for output in self.outputs:
                try:
                    output.emit(decision)
                except Exception:  # noqa: BLE001 - one broken output must not silence the others or stop the door
                    log.exception("%s failed on track %s", type(output).__name__, decision.track)

    def close(self) -> None:
        """Close every output, logging any that fails."""
        for output in self.outputs:
            try:
                output.close()
            except Exception:  # noqa: BLE001
                log.exception("closing %s failed", type(output).__name__)
