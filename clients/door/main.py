"""`facegrid gate`: builds a door from the command's options and runs it until the source ends or a signal."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import socket
import sys
import threading
from pathlib import Path

from ..gate_commands import connect
from .card_reader import CardReader
from .challenge import Challenger
from .detector import DetectorMissing, FaceDetector
from .gate import DoorConfig, DoorGate
from .outputs import CommandHooks, MqttOutput, Output, Outputs, Printer, Webhook
from .pass_client import PassClient
from .sources import FramesFolder, Source, SourceError, VideoFile, camera, stream
from .zone import Zone

log = logging.getLogger("facegrid.door")

DOOR_NAME = re.compile(r"^[a-z0-9._-]{1,64}$")


class DoorSetupError(ValueError):
    """An option that cannot work; said in one line before anything starts."""


def default_door() -> str:
    """The host name as a door name (lower case, other characters as '-', at most 64)."""
    name = re.sub(r"[^a-z0-9._-]", "-", socket.gethostname().lower())[:64].strip("-.")
    return name or "door"


def door_name(text: str | None) -> str:
    """The door's name from --door (the host name by default), checked against the allowed characters."""
    name = text if text is not None else default_door()
    if not DOOR_NAME.match(name):
        raise DoorSetupError(f"--door: 1 to 64 of a-z 0-9 . _ - (got {name!r})")
    return name


def make_source(args: argparse.Namespace) -> Source:
    """The frame source the options ask for: a video file, a folder of frames, a stream URL or a camera."""
    if args.video:
        return VideoFile(args.video, fast=args.as_fast_as_possible)
    if args.frames:
        return FramesFolder(args.frames, args.fps)
    if args.url:
        return stream(args.url)
    return camera(args.camera)


def mqtt_address(text: str, tls: bool) -> tuple[str, int]:
    """HOST[:PORT] (1883, or 8883 with TLS); [v6]:port too."""
    host, port = text, 8883 if tls else 1883
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text)
    return host, port


def make_outputs(args: argparse.Namespace, door: str) -> tuple[Outputs, MqttOutput | None]:
    """The door's outputs from the options (printer, hooks, webhook, MQTT), and the MQTT one for challenges."""
    outputs: list[Output] = [Printer(args.json)]
    if args.on_accept or args.on_deny:
        outputs.append(CommandHooks(args.on_accept, args.on_deny))
    if args.webhook:
        secret = None
        if args.webhook_secret_file:
            secret = Path(args.webhook_secret_file).expanduser().read_bytes().strip()
            if not secret:
                raise DoorSetupError(f"--webhook-secret-file {args.webhook_secret_file} is empty")
        else:
            log.warning("--webhook without --webhook-secret-file: decisions are posted unsigned")
        outputs.append(Webhook(args.webhook, secret))
    mqtt = None
    if args.mqtt:
        tls = bool(args.mqtt_tls or args.mqtt_ca or args.mqtt_cert)
        try:
            host, port = mqtt_address(args.mqtt, tls)
        except ValueError:
            raise DoorSetupError(f"--mqtt: HOST[:PORT], got {args.mqtt!r}") from None
        password = None
        if args.mqtt_password_file:
            password = Path(args.mqtt_password_file).expanduser().read_text().strip()
        mqtt = MqttOutput(host, port, args.mqtt_topic or f"facegrid/door/{door}", f"facegrid-door-{door}",
                          args.mqtt_username, password, tls, args.mqtt_ca, args.mqtt_cert, args.mqtt_key, args.mqtt_keepalive)
        outputs.append(mqtt)
    return Outputs(outputs), mqtt


def run_gate(args: argparse.Namespace) -> int:
    """The door, until its file or folder ends (exit 0) or it is stopped (SIGINT, SIGTERM)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s facegrid gate: %(message)s")
    try:
        door = door_name(args.door)
        zone = Zone.parse(args.zone) if args.zone else Zone()
        if args.min_face < 20:
            raise DoorSetupError("--min-face: at least 20 pixels (smaller faces cannot be recognised)")
        if not 1 <= args.burst <= 10:
            raise DoorSetupError("--burst: 1 to 10 frames (the server takes at most 10)")
        source = make_source(args)
        detector = FaceDetector(args.min_face)
        client = connect(args)   # reads the key and TLS files now: a wrong path is said at start, not at the door
        outputs, mqtt = make_outputs(args, door)
    except (DoorSetupError, SourceError, DetectorMissing, ValueError, OSError) as error:
        print(f"facegrid gate: {error}", file=sys.stderr)
        return 2
    first = [client]

    def connect_again():   # the first connection made above, later ones after a failure (pass_client)
        return first.pop() if first else connect(args)

    challenger = Challenger(speak=not args.no_speak, publish=(lambda m: mqtt.publish(f"{mqtt.topic}/challenge", m))
                            if mqtt else None) if args.challenge else None
    cards = CardReader(args.card_reader, args.card_seconds) if args.card_reader else None
    config = DoorConfig(door=door, min_face=args.min_face, zone=zone, burst_size=args.burst, burst_seconds=args.burst_ms / 1000,
                        challenge=args.challenge, challenge_seconds=args.challenge_seconds, allow_groups=args.allow_groups,
                        cooldown=args.cooldown)
    gate = DoorGate(config, detector, PassClient(connect_again, args.timeout), outputs, cards, challenger)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: source.stop())
    log.info("door %s: %s, faces from %.0f px, zone %s", door, source.description, args.min_face, args.zone or "whole frame")
    try:
        stats = gate.run(source)
    except KeyboardInterrupt:
        return 130
    finally:
        source.close()
    fps = stats.frames / stats.wall_s if stats.wall_s else 0.0
    log.info("door %s: %d frames in %.1f s (%.1f a second, reading included), %d dropped, %d decisions", door, stats.frames,
             stats.wall_s, fps, source.dropped, stats.decisions)
    return 0
