"""`facegrid gate` (the door client) and `facegrid bench door`: their options, and the door code loaded only
when run, so that the CLI works without OpenCV (the thin install) and says which extra the door needs."""

from __future__ import annotations

import argparse
import json
import sys

from .gate_commands import add_server_option

DOOR_EXTRA = "pip install 'facegrid[door]'"
DOOR_MODULES = {"cv2": "OpenCV", "paho": "paho-mqtt", "numpy": "numpy"}


def missing_door_extra(error: ImportError) -> int:
    """Exit 2 naming the extra, for an ImportError of a module the door extra brings; other errors propagate."""
    top = (error.name or "").split(".")[0]
    if top not in DOOR_MODULES:
        raise error
    print(f"facegrid: the door client needs {DOOR_MODULES[top]} ({top}), which is not installed: {DOOR_EXTRA}",
          file=sys.stderr)
    return 2


def cmd_gate(args: argparse.Namespace) -> int:
    """`facegrid gate`: run the door client (needs the door extra, said before the camera opens)."""
    try:
        from .door.main import run_gate
        if args.mqtt:
            import paho.mqtt.client  # noqa: F401 - said now, not after the camera is open
    except ImportError as error:
        return missing_door_extra(error)
    return run_gate(args)


def add_commands(commands) -> None:
    """`facegrid gate`."""
    gate = commands.add_parser("gate", help="the door client: camera in, one decision per approach out (Pass)",
                               description="Reads a camera, stream, video or folder of frames, finds and tracks faces, "
                               "and sends the best frames of each approach to the server's Pass. Every failure is a DENY.")
    where = gate.add_mutually_exclusive_group(required=True)
    where.add_argument("--camera", type=int, metavar="N", help="V4L2 camera /dev/videoN (reconnects)")
    where.add_argument("--url", help="rtsp:// or http:// (MJPEG) stream (reconnects)")
    where.add_argument("--video", metavar="FILE", help="a video file, played at its own frame rate; exits after the last decision")
    where.add_argument("--frames", metavar="DIR", help="a folder of images in name order; exits after the last decision")
    gate.add_argument("--as-fast-as-possible", action="store_true", help="--video: every frame, as fast as they can be read")
    gate.add_argument("--fps", type=float, default=10.0, help="--frames: the frame rate they were taken at (default 10)")
    gate.add_argument("--door", help="this door's name, 1-64 of a-z 0-9 . _ - (default: the host name)")
    gate.add_argument("--zone", metavar="X1,Y1,X2,Y2", help="entry zone in fractions of the frame (default: all of it)")
    gate.add_argument("--min-face", type=float, default=48.0, metavar="PX", help="decide faces from this width (default 48)")
    gate.add_argument("--burst", type=int, default=5, metavar="N", help="the best N frames of an approach, sent in the order taken (default 5)")
    gate.add_argument("--burst-ms", type=float, default=150.0, help="how long a burst collects from the first usable face (default 150)")
    gate.add_argument("--cooldown", type=float, default=5.0, metavar="S",
                      help="seconds before a track is decided again, doubling each time (default 5)")
    gate.add_argument("--allow-groups", action="store_true", help="decide each face when several are in the zone "
                      "(default: DENY MORE_THAN_ONE_FACE, against tailgating)")
    gate.add_argument("--challenge", action="store_true", help="give a random instruction (turn left/right, look up) per approach")
    gate.add_argument("--challenge-seconds", type=float, default=2.0, help="how long the burst of a challenge lasts (default 2)")
    gate.add_argument("--no-speak", action="store_true", help="--challenge: do not speak it with espeak-ng (MQTT only)")
    gate.add_argument("--card-reader", metavar="stdin|DEVICE", help="card ids, one per line: stdin, a serial device or /dev/hidrawN")
    gate.add_argument("--card-seconds", type=float, default=10.0, help="a card counts for a decision this long (default 10)")
    gate.add_argument("--timeout", type=float, default=3.0, help="seconds for the server's answer, then DENY (default 3)")
    gate.add_argument("--json", action="store_true", help="one JSON object per decision on stdout")
    gate.add_argument("--on-accept", metavar="CMD", help="run CMD (no shell) on ACCEPT; the decision is in FACEGRID_* variables")
    gate.add_argument("--on-deny", metavar="CMD", help="run CMD (no shell) on DENY")
    gate.add_argument("--webhook", metavar="URL", help="POST each decision's JSON here")
    gate.add_argument("--webhook-secret-file", metavar="FILE", help="sign webhooks: X-Facegrid-Signature sha256=HMAC(secret, 'timestamp.body')")
    gate.add_argument("--mqtt", metavar="HOST[:PORT]", help="publish decisions to this MQTT broker")
    gate.add_argument("--mqtt-topic", help="decision topic (default facegrid/door/<door>; /availability and /challenge below it)")
    gate.add_argument("--mqtt-username")
    gate.add_argument("--mqtt-password-file", metavar="FILE")
    gate.add_argument("--mqtt-tls", action="store_true", help="TLS to the broker, checked against the system's CAs")
    gate.add_argument("--mqtt-ca", metavar="PEM", help="TLS: the broker's CA")
    gate.add_argument("--mqtt-cert", metavar="PEM", help="TLS: this door's client certificate")
    gate.add_argument("--mqtt-key", metavar="PEM", help="TLS: its key")
    gate.add_argument("--mqtt-keepalive", type=int, default=30, help="seconds; the broker declares the door offline after 1.5x (default 30)")
    add_server_option(gate, json_option=False)
    gate.set_defaults(run=cmd_gate)


def cmd_bench_door(args: argparse.Namespace) -> int:
    """`facegrid bench door`: the door client's frames per second and decision latency on a video."""
    try:
        from .door.detector import FaceDetector  # noqa: F401 - the door extra, said before anything starts
    except ImportError as error:
        return missing_door_extra(error)
    from facegrid.bench.door import bench_door

    report = bench_door(args.video, args.approaches, args.server, args.api_key, args.min_face, args.burst,
                        progress=(lambda *a: None) if args.json else print,
                        liveness_checkpoints=tuple(args.liveness_checkpoint))
    if args.json:
        print(json.dumps(report))
    else:
        latency = report.get("decision_latency") or {}
        print(f"door client: {report['client_fps_one_core']} frames/s on one core ({report['frame_size']}); "
              f"decision latency p50 {latency.get('p50_ms')} ms, p99 {latency.get('p99_ms')} ms over "
              f"{latency.get('approaches')} approaches")
    return 0


def add_bench(bench) -> None:
    """`facegrid bench door`."""
    door = bench.add_parser("door", help="the door client: frames/s on one core, decision latency per approach")
    door.add_argument("--video", required=True, help="a video of one approach (replayed as many approaches)")
    door.add_argument("--approaches", type=int, default=40, help="approaches to replay for the latency (default 40)")
    door.add_argument("--server", default=None, help="a running server (default: start one with the person enrolled)")
    door.add_argument("--api-key", default=None, help="its key (gate or enroll scope)")
    door.add_argument("--liveness-checkpoint", action="append", default=[], metavar="FILE",
                      help="the started server scores liveness with MiniFASNet from these checkpoints (give both); "
                           "without them it runs with liveness off")
    door.add_argument("--min-face", type=float, default=48.0)
    door.add_argument("--burst", type=int, default=5)
    door.add_argument("--json", action="store_true", help="one JSON object on the last line")
    door.set_defaults(run=cmd_bench_door)
