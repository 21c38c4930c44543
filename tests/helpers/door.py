"""The door's outside world: a real mosquitto broker on a free loopback port and a real HTTP receiver for webhooks."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .ports import free_port


class Mosquitto:
    """Debian's mosquitto on a free loopback port, anonymous, no persistence (skipped where not installed)."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)
        if self.binary is None:
            pytest.skip("mosquitto is not installed (CI installs it: apt-get install mosquitto)")
        self.folder = Path(folder)
        self.port = free_port()
        self.process = None

    def start(self) -> Mosquitto:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process = subprocess.Popen([self.binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=open(self.folder / "mosquitto.log", "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not start: " + (self.folder / "mosquitto.log").read_text()[-2000:])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def subscribe(self, topic: str) -> Subscription:
        return Subscription(self.port, topic)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Subscription:
    """A paho client subscribed to a topic filter, collecting (topic, payload text, retained) in order."""

    def __init__(self, port: int, topic: str) -> None:
        from paho.mqtt import client as mqtt

        self.messages: list[tuple[str, str, bool]] = []
        self._changed = threading.Condition()
        subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._received
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert subscribed.wait(10), "the test's MQTT subscription was not acknowledged"

    def _received(self, client, userdata, message) -> None:
        with self._changed:
            self.messages.append((message.topic, message.payload.decode(), bool(message.retain)))
            self._changed.notify_all()

    def wait_for(self, condition, timeout: float = 20.0) -> list[tuple[str, str, bool]]:
        """The messages once `condition(messages)` holds; AssertionError after `timeout` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self.messages), timeout):
                raise AssertionError(f"MQTT: condition not met in {timeout} s; got {self.messages}")
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class WebhookReceiver:
    """A real HTTP server on loopback recording every POST (headers, body); answers 204."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        received = self.requests
        arrived = self._arrived = threading.Condition()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with arrived:
                    received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/door"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[dict, bytes]]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.requests) >= count, timeout), f"{len(self.requests)} webhooks arrived"
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
