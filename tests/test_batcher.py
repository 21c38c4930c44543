"""The batcher: many concurrent callers with known answers, none ever gets another caller's rows.

Known answers come from the same model run on each input alone, before the concurrent calls; every
row a caller gets back is compared with its own input's answer. Runs that a test makes fail, block or
fill the queue are real functions of their input, not stand-ins for our own parts.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import grpc
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facegrid.clients.sdk import FacegridError
from facegrid.encoder import runtime
from facegrid.encoder.batcher import Batcher, BatcherClosed, batched
from facegrid.encoder.errors import EncoderError, QueueFull
from facegrid.encoder.runtime import EncoderSettings
from facegrid.server.rpc.errors import status_of

from helpers import ServerProcess


def call_many(batcher, requests: list[np.ndarray], threads: int) -> list[np.ndarray]:
    """Every request sent from `threads` callers at once; the answers in request order."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(batcher, requests))


def tagged_requests(count: int, most: int, seed: int = 0) -> list[np.ndarray]:
    """Requests of 1..most rows; each row carries its request number and row number, then noise."""
    rng = np.random.default_rng(seed)
    requests = []
    for number in range(count):
        k = int(rng.integers(1, most + 1))
        rows = rng.standard_normal((k, 6)).astype(np.float32)
        rows[:, 0], rows[:, 1] = number, np.arange(k)
        requests.append(rows)
    return requests


class Recorder:
    """A pure numpy model: each output row a function of its own input row only; records batch sizes."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    @staticmethod
    def answer(rows: np.ndarray) -> np.ndarray:
        """The known answer for rows, computed by the test itself."""
        return np.sin(rows) * 3 + rows[:, :1]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(len(batch))
        return self.answer(batch)


@pytest.mark.parametrize("wait_ms, workers", [(0.0, 1), (2.0, 1), (0.0, 3)])
def test_thousands_of_concurrent_callers_each_get_their_own_rows(wait_ms, workers):
    run = Recorder()
    batcher = Batcher(run, name="numpy", max_batch=16, max_wait_ms=wait_ms, max_queue=100_000, workers=workers)
    requests = tagged_requests(6_000, 5)
    answers = call_many(batcher, requests, threads=48)
    misrouted = sum(not np.array_equal(answer, Recorder.answer(request)) for request, answer in zip(requests, answers))
    assert misrouted == 0
    stats = batcher.stats()
    assert max(run.sizes) <= 16 and len(run.sizes) == stats.batches
    assert stats.requests == len(requests) and stats.items == sum(len(r) for r in requests)
    assert stats.mean_batch > 2  # callers really did share model runs
    batcher.close()


def tiny_onnx_model() -> bytes:
    """A small real ONNX graph (MatMul, Tanh, MatMul) with a dynamic batch dimension."""
    rng = np.random.default_rng(1)
    w1 = numpy_helper.from_array(rng.standard_normal((32, 64)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((64, 16)).astype(np.float32) / 8, "w2")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
         helper.make_node("MatMul", ["t", "w2"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])], initializer=[w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_onnx_runtime_model_behind_the_batcher_answers_each_caller_with_its_own_vectors():
    session = runtime.session(tiny_onnx_model(), threads=1, device="cpu")

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {"x": batch})[0]

    rng = np.random.default_rng(2)
    requests = [rng.standard_normal((int(rng.integers(1, 4)), 32)).astype(np.float32) for _ in range(5_000)]
    alone = [np.vstack([run(row[None]) for row in request]) for request in requests]  # each row by itself
    batcher = Batcher(run, name="tiny", max_batch=32, max_wait_ms=0, max_queue=100_000)
    answers = call_many(batcher, requests, threads=32)
    misrouted = sum(not np.allclose(answer, known, atol=1e-5) for answer, known in zip(answers, alone))
    assert misrouted == 0
    assert batcher.stats().mean_batch > 2
    batcher.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_request_bigger_than_the_batch_is_run_in_chunks_and_comes_back_whole(workers):
    run = Recorder()  # with 2 workers, a big request's chunks finish out of order: rows must still come back in order
    batcher = Batcher(run, name="chunks", max_batch=8, max_wait_ms=0, max_queue=1_000, workers=workers)
    big = tagged_requests(1, 1)[0].repeat(37, axis=0) + np.arange(37, dtype=np.float32)[:, None]
    small = tagged_requests(40, 3, seed=5)
    answers = call_many(batcher, [big, *small, big], threads=8)
    for request, answer in zip([big, *small, big], answers):
        assert np.array_equal(answer, Recorder.answer(request))
    assert max(run.sizes) <= 8
    batcher.close()


class Gate:
    """A run that holds its first batch until released, so later requests queue up behind it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(10)
        return self.inner(batch)


def poisoned(batch: np.ndarray) -> np.ndarray:
    """Doubles rows; a batch holding a NaN raises, like a model refusing its input."""
    if np.isnan(batch).any():
        raise FloatingPointError("NaN in the batch")
    return batch * 2


def test_an_error_in_a_run_reaches_every_caller_of_that_batch_and_nobody_else():
    gate = Gate(poisoned)
    batcher = Batcher(gate, name="poison", max_batch=16, max_wait_ms=0, max_queue=100)
    first = batcher.submit(np.ones((1, 2)))
    assert gate.entered.wait(10)
    # Queued behind the held batch: these three form the next batch together.
    fine, bad, also_fine = (batcher.submit(x) for x in (np.full((2, 2), 3.0), np.full((1, 2), np.nan), np.full((1, 2), 5.0)))
    gate.release.set()
    assert np.array_equal(first.result(10), np.full((1, 2), 2.0))
    for future in (fine, bad, also_fine):
        with pytest.raises(FloatingPointError):
            future.result(10)
    # The batcher goes on working, and a poisoned caller alone fails alone.
    assert np.array_equal(batcher(np.full((3, 2), 4.0)), np.full((3, 2), 8.0))
    with pytest.raises(FloatingPointError):
        batcher(np.full((1, 2), np.nan))
    assert np.array_equal(batcher(np.ones((1, 2))), np.full((1, 2), 2.0))
    assert batcher.stats().failed_batches == 2
    batcher.close()


def test_a_full_queue_refuses_at_once_with_queue_full():
    gate = Gate(lambda batch: batch + 1)
    batcher = Batcher(gate, name="small", max_batch=4, max_wait_ms=0, max_queue=5)
    running = batcher.submit(np.zeros((1, 1)))
    assert gate.entered.wait(10)
    queued = [batcher.submit(np.full((2, 1), i)) for i in range(2)]  # 4 items waiting
    assert batcher.stats().queued == 4
    with pytest.raises(QueueFull) as refused:
        batcher.submit(np.zeros((2, 1)))  # 6 > 5
    assert isinstance(refused.value, EncoderError) and status_of(refused.value) == grpc.StatusCode.RESOURCE_EXHAUSTED
    last = batcher.submit(np.full((1, 1), 9))  # 5 fits
    with pytest.raises(QueueFull):
        batcher.submit(np.zeros((1, 1)))
    gate.release.set()
    assert running.result(10)[0, 0] == 1
    assert [f.result(10)[0, 0] for f in queued] == [1, 2] and last.result(10)[0, 0] == 10
    batcher.close()
    with pytest.raises(BatcherClosed):
        batcher.submit(np.zeros((1, 1)))


def test_closing_fails_the_queued_callers_instead_of_leaving_them_waiting():
    gate = Gate(lambda batch: batch)
    batcher = Batcher(gate, name="closing", max_batch=1, max_wait_ms=0, max_queue=10)
    running = batcher.submit(np.zeros((1, 1)))
    assert gate.entered.wait(10)
    waiting = batcher.submit(np.ones((1, 1)))
    closer = threading.Thread(target=batcher.close)
    closer.start()
    with pytest.raises(BatcherClosed):
        waiting.result(10)
    gate.release.set()
    closer.join(10)
    assert running.result(10)[0, 0] == 0


def test_a_wait_gathers_callers_that_arrive_a_little_apart():
    run = Recorder()
    batcher = Batcher(run, name="wait", max_batch=8, max_wait_ms=200, max_queue=100)
    futures = [batcher.submit(np.full((1, 2), i, dtype=np.float32)) for i in range(3)]
    assert [f.result(10)[0, 0] for f in futures] == [Recorder.answer(np.full((1, 2), i, dtype=np.float32))[0, 0] for i in range(3)]
    assert run.sizes[0] == 3  # one run for all three (a 200 ms wait)
    batcher.close()


def test_batched_is_the_function_itself_when_batching_is_off():
    settings = EncoderSettings(batch_max=0)
    assert batched(np.negative, settings, "off") is np.negative
    on = batched(np.negative, replace(settings, batch_max=8), "on", max_batch=4)
    assert isinstance(on, Batcher) and on.max_batch == 4
    assert np.array_equal(on(np.ones((3, 2))), -np.ones((3, 2)))
    on.close()


@pytest.fixture(scope="module")
def face_chips(faces_dir):
    """Real face chips (dlib geometry) of distinct people, one face each."""
    from facegrid.encoder.pipeline import FacePipeline

    pipeline = FacePipeline("dlib", "yunet", settings=EncoderSettings())
    chips = []
    for photo in sorted((faces_dir / "lfw").glob("*/*.jpg"))[:60]:
        found = pipeline.find_faces(photo.read_bytes())
        if found.detections:
            chips.append(pipeline.model.chip(found.image, found.detections[0]))
    return chips[:24]


def test_a_real_face_model_behind_its_batcher_gives_each_caller_its_own_faces(face_chips):
    from facegrid.encoder.models import load_model

    plain = load_model("dlib", settings=EncoderSettings(threads=1))  # mirrored by default: 2 rows a face
    alone = [plain.embed([chip])[0] for chip in face_chips]
    model = load_model("dlib", settings=EncoderSettings(threads=1, batch_max=16, batch_workers=2))
    assert model.mirror and model._batcher is not None
    picks = np.random.default_rng(3).integers(0, len(face_chips), (120, 3))
    requests = [list(p[: 1 + i % 3]) for i, p in enumerate(picks)]  # 1 to 3 faces a call
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda faces: model.embed([face_chips[f] for f in faces]), requests))
    misrouted = sum(float(np.abs(vector - alone[f]).max()) > 1e-4
                    for faces, vectors in zip(requests, answers) for f, vector in zip(faces, vectors))
    assert misrouted == 0
    assert model._batcher.stats().mean_batch > 2
    model.close()


def test_concurrent_verify_calls_over_grpc_decide_as_sequential_ones(tmp_path, faces_dir):
    people = {"angelina": "deepface/id01_angelina_jolie", "scarlett": "deepface/id03_scarlett_johansson",
              "katy": "deepface/id10_katy_perry"}
    photos = {name: [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]
              for name, folder in people.items()}
    # f32 pinned: in bf16 (where auto may choose it) a face's vector depends slightly on its batch's shape.
    server = ServerProcess(tmp_path / "data", {"FACEGRID_BATCH_MAX": "16", "FACEGRID_BATCH_WAIT_MS": "2", "FACEGRID_PRECISION": "f32"},
                           args=["--metrics-address", "127.0.0.1:0"]).start()
    try:
        with server.client(timeout=120) as client:
            for name, pictures in photos.items():
                client.enroll(name, pictures[:2])
            # Each subject against its own probes and the others' (genuine and impostor decisions).
            pairs = [(name, probe) for name in people for other in people for probe in photos[other][2:3]]
            def verify(pair) -> tuple:
                try:
                    reply = client.verify(*pair)
                    return reply.match, reply.score, reply.face_box
                except FacegridError as refused:  # a probe refused for its quality is refused both ways
                    return refused.code, 0.0, None

            sequential = [verify(pair) for pair in pairs]
            with ThreadPoolExecutor(9) as pool:
                concurrent = list(pool.map(verify, pairs * 3))
        assert any(r[0] is True for r in sequential) and any(r[0] is False for r in sequential)
        for one, other in zip(sequential * 3, concurrent):
            assert one[0] == other[0] and one[2] == other[2]
            assert abs(one[1] - other[1]) < 1e-4
        import urllib.request

        scraped = urllib.request.urlopen(server.metrics_url + "/metrics", timeout=10).read().decode()
        runs = {line.split("{")[0]: float(line.split()[-1]) for line in scraped.splitlines()
                if line.startswith("facegrid_batch_") and 'model="fused/sface"' in line}
        assert runs["facegrid_batch_items_total"] > runs["facegrid_batch_runs_total"] > 0  # shared runs happened
    finally:
        server.kill()
