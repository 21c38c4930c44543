"""`facegrid bench fuzz`: generated requests over every RPC of a real server; 0 UNKNOWN/INTERNAL, 0 crashes.

A real `facegrid serve` runs in its own process (embedded Redis, temporary data directory).
Requests are built by `hypothesis` from the protobuf descriptors themselves, so a new RPC or
field is fuzzed without touching this file: random and extreme strings, numbers (NaN, inf,
limits), huge repeated fields, oneof choices, and for photo fields random bytes, real photos
cut short or with bytes flipped, other file types and a decompression bomb's header. The
server's memory high-water mark (its own and its worker processes') is read from /proc.
Prints one JSON object: calls, unknown_or_internal, crashes, peak_rss_mb, codes.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
import struct
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import grpc
from facegrid.encoder.extras import require

require("hypothesis", "bench")  # before hypothesis itself: the error names the extra
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from google.protobuf import descriptor as _descriptor
from google.protobuf import message_factory

import facegrid.v1

from .serving import ServeProcess

# Every *_pb2 module of the stubs: a new .proto file is fuzzed without touching this file.
FILES = [importlib.import_module(f"facegrid.v1.{m.name}").DESCRIPTOR
         for m in pkgutil.iter_modules(facegrid.v1.__path__) if m.name.endswith("_pb2")]
_FD = _descriptor.FieldDescriptor
_BAD = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def _photo_samples(photos: list[bytes]) -> list[bytes]:
    from PIL import Image

    samples = list(photos)
    for kind in ("GIF", "TIFF", "BMP", "WEBP", "PNG"):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (120, 80, 40)).save(buffer, kind)
        samples.append(buffer.getvalue())
    samples += [_png_header(60_000, 60_000), _png_header(0, 0), b"%PDF-1.4\n", b"\xff\xd8\xff", b"GIF89a" + bytes(20)]
    return samples


def photo_bytes(samples: list[bytes]) -> st.SearchStrategy[bytes]:
    """Random bytes, or real photos and other files as they are, cut short or with bytes flipped."""

    def mutate(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
        out = bytearray(data[: max(1, int(len(data) * cut))])
        for where, value in flips:
            out[int(where * (len(out) - 1))] = value
        return bytes(out)

    sample = st.sampled_from(samples)
    mutated = st.builds(mutate, sample, st.floats(0.05, 1.0),
                        st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8))
    return st.one_of(st.binary(max_size=4096), sample, mutated, st.just(b""), st.binary(min_size=1 << 20, max_size=1 << 20))


def _scalar(field, photos: st.SearchStrategy[bytes]) -> st.SearchStrategy:
    t = field.type
    if t == _FD.TYPE_STRING:
        special = st.sampled_from(["", "photos", "a", "x" * 200, "../../etc", "名前", "\x00", "a b", "9" * 30, "-1"])
        return st.one_of(special, st.text(max_size=40), st.text(min_size=1000, max_size=5000))
    if t == _FD.TYPE_BYTES:
        return photos
    if t == _FD.TYPE_BOOL:
        return st.booleans()
    if t in (_FD.TYPE_FLOAT, _FD.TYPE_DOUBLE):
        width = 32 if t == _FD.TYPE_FLOAT else 64
        return st.one_of(st.floats(width=width), st.sampled_from([0.0, 1.0, -1.0, 1e-9, 0.5]))
    if t == _FD.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values] + [999])
    bits = 32 if t in (_FD.TYPE_INT32, _FD.TYPE_SINT32, _FD.TYPE_SFIXED32) else 64
    signed = t not in (_FD.TYPE_UINT32, _FD.TYPE_UINT64, _FD.TYPE_FIXED32, _FD.TYPE_FIXED64)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return st.one_of(st.integers(low, high), st.sampled_from([v for v in (0, 1, 2, 3, 5, 10, 100, -1, 10**6) if low <= v <= high]))


def message(descriptor, photos: st.SearchStrategy[bytes], depth: int = 0) -> st.SearchStrategy:
    """A strategy for any message of this descriptor: each field set or not, oneofs one at a time."""
    cls = message_factory.GetMessageClass(descriptor)

    @st.composite
    def build(draw):
        msg = cls()
        chosen = {o.name: draw(st.sampled_from([None] + [f.name for f in o.fields])) for o in descriptor.oneofs}
        for field in descriptor.fields:
            if field.containing_oneof is not None and chosen[field.containing_oneof.name] != field.name:
                continue
            if field.containing_oneof is None and not draw(st.booleans()):
                continue
            repeated = field.is_repeated
            if field.type == _FD.TYPE_MESSAGE:
                if depth > 2:
                    continue
                inner = message(field.message_type, photos, depth + 1)
                if repeated:
                    for value in draw(st.lists(inner, max_size=4)):
                        getattr(msg, field.name).add().CopyFrom(value)
                else:
                    getattr(msg, field.name).CopyFrom(draw(inner))
            elif repeated:
                # Huge repeated fields now and then (vector values, ids, hashes).
                size = draw(st.sampled_from([0, 1, 3, 128, 256, 5000, 200_000]))
                element = _scalar(field, photos)
                if field.type in (_FD.TYPE_STRING, _FD.TYPE_BYTES) and size > 128:
                    # Many short strings, not 200,000 of up to 5,000 characters (a GB message no server takes).
                    element = st.text(max_size=64) if field.type == _FD.TYPE_STRING else st.binary(max_size=64)
                values = draw(st.lists(element, min_size=min(size, 3), max_size=min(size, 3)))
                getattr(msg, field.name).extend((values * (size // max(len(values), 1) + 1))[:size] if values else [])
            else:
                setattr(msg, field.name, draw(_scalar(field, photos)))
        return msg

    return build()


def methods() -> list:
    """(full method name, request descriptor, response class, client streaming, server streaming) of every RPC."""
    found = []
    for file in FILES:
        for service in file.services_by_name.values():
            for method in service.methods:
                found.append((f"/{service.full_name}/{method.name}", method.input_type,
                              message_factory.GetMessageClass(method.output_type),
                              method.client_streaming, method.server_streaming))
    return found


def peak_rss_mb(pid: int) -> float:
    """High-water resident memory of one process, MB (Linux /proc; 0 where unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def sample_photos(data: str | None = None, count: int = 6) -> list[bytes]:
    """A few real photos to mutate (none where ../shared/data is absent: random bytes only)."""
    from facegrid.evaluation.datasets import DatasetMissing, faces_dir

    try:
        folder = faces_dir(data) if data else faces_dir()
    except DatasetMissing:
        return []
    paths = sorted((folder / "deepface").rglob("*.jpg"))[:count] + sorted((folder / "dlib").rglob("*.jpg"))[:2]
    return [p.read_bytes() for p in paths]


def fuzz(calls: int = 10_000, photos: list[bytes] | None = None, seed: int = 0, api_key: str = "",
         progress=print) -> dict:
    """Run the fuzz against a fresh server; the report."""
    data_dir = Path(tempfile.mkdtemp(prefix="facegrid-fuzz-"))
    server = ServeProcess(data_dir).start()
    process, address = server.process, server.address
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20),
                                                      ("grpc.max_receive_message_length", 64 << 20)])
    grpc.channel_ready_future(channel).result(timeout=60)
    metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
    photo_strategy = photo_bytes(_photo_samples(photos or []))
    table = methods()
    codes: Counter = Counter()
    bad: list[str] = []
    started = time.monotonic()

    def send(method, request_descriptor, response_class, client_streaming, server_streaming, requests):
        serialize, deserialize = (lambda m: m.SerializeToString()), response_class.FromString
        kind = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
                (True, False): channel.stream_unary, (True, True): channel.stream_stream}[(client_streaming, server_streaming)]
        call = kind(method, request_serializer=serialize, response_deserializer=deserialize)
        request = iter(requests) if client_streaming else requests[0]
        reply = call(request, timeout=60, metadata=metadata)
        if server_streaming:
            for _ in reply:
                pass

    @settings(max_examples=calls, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=seed == 0)
    @given(st.data())
    def one_call(data):
        entry = data.draw(st.sampled_from(table))
        method, request_descriptor, _, client_streaming, _ = entry
        count = data.draw(st.integers(1, 4)) if client_streaming else 1
        requests = [data.draw(message(request_descriptor, photo_strategy)) for _ in range(count)]
        try:
            send(*entry, requests)
            codes["OK"] += 1
        except grpc.RpcError as error:
            code = error.code()
            codes[code.name] += 1
            if (code in _BAD or code is grpc.StatusCode.UNAVAILABLE) and len(bad) < 20:
                bad.append(f"{method}: {code.name}: {error.details()}")
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} after {sum(codes.values())} calls")
        done = sum(codes.values())
        if done % 1000 == 0:
            progress(f"{done} calls, {dict(codes)}")

    try:
        one_call()
    except RuntimeError as error:
        bad.append(str(error))
    peak = peak_rss_mb(process.pid)
    workers = max([peak_rss_mb(c) for c in _children(process.pid)] or [0.0])
    crashes = 0 if process.poll() is None else 1
    process.terminate()
    process.wait(timeout=60)
    return {
        "calls": sum(codes.values()),
        "unknown_or_internal": codes["UNKNOWN"] + codes["INTERNAL"],
        "crashes": crashes,
        "peak_rss_mb": peak,  # the server process (gRPC, FAISS, the serving models)
        "peak_rss_worker_mb": workers,  # the largest embedding worker process (Redis not included)
        "seconds": round(time.monotonic() - started, 1),
        "codes": dict(codes),
        "examples": bad,
    }
