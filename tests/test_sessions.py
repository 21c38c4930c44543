"""Sessions behind one interface (encoder/sessions): ONNX Runtime and OpenVINO give the same vectors, precision is
always explicit, `auto` measures once per CPU model and model file and then reads its cached choice."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from facegrid.encoder.cpu_features import cpu_has_bf16, cpu_model
from facegrid.encoder.models.sface import cached_sface
from facegrid.encoder.runtime import EncoderSettings
from facegrid.encoder.sessions import choice
from facegrid.encoder.sessions.base import check_names
from facegrid.encoder.sessions.onnxruntime_session import OnnxRuntimeSession
from facegrid.encoder.sessions.open import open_session
from facegrid.encoder.sessions.openvino_session import OpenVinoSession, chunks
from facegrid.server.config import Settings
from test_batcher import tiny_onnx_model

needs_bf16 = pytest.mark.skipif(not cpu_has_bf16(), reason=f"this CPU ({cpu_model()}) has no native bf16 (AVX-512 BF16 or AMX)")


def test_a_batch_runs_in_compiled_sizes_without_padding():
    assert chunks(13, [1, 2, 4, 8]) == [8, 4, 1]
    assert chunks(7, [1, 2, 4, 8]) == [4, 2, 1]
    assert chunks(20, [1, 2, 4, 8]) == [8, 8, 4]
    assert chunks(1, [1, 2, 4, 8]) == [1]


def test_openvino_f32_gives_onnx_runtimes_sface_vectors_at_any_batch(tmp_path):
    graph = cached_sface()
    chips = np.random.default_rng(3).integers(0, 255, (5, 3, 112, 112)).astype(np.float32)
    reference = OnnxRuntimeSession(graph, 1, "cpu").run(None, {"data": chips})[0]
    openvino = OpenVinoSession(graph, 1, "f32", cache_dir=tmp_path / "ov", max_batch=4)
    assert openvino.precision == "f32"  # asked explicitly: OpenVINO would pick bf16 by itself on a bf16 CPU
    together = openvino.run(None, {"data": chips})[0]  # 4 + 1
    one_by_one = np.vstack([openvino.run(None, {"data": chips[i:i + 1]})[0] for i in range(5)])
    assert together.shape == reference.shape == (5, 128)
    np.testing.assert_allclose(together, reference, atol=1e-3 * np.abs(reference).max())
    np.testing.assert_allclose(one_by_one, together, atol=1e-5 * np.abs(reference).max())
    assert any((tmp_path / "ov").iterdir())  # compiled models cached for the next start


@pytest.mark.skipif(cpu_has_bf16(), reason="this CPU has bf16: the fallback to f32 is not taken here")
def test_bf16_asked_on_a_cpu_without_it_runs_f32_and_says_why(tmp_path, caplog):
    settings = EncoderSettings(cache_dir=tmp_path, threads=1, runtime="openvino", precision="bf16")
    with caplog.at_level(logging.WARNING, logger="facegrid.encoder.sessions"):
        session = open_session(tiny_onnx_model(), settings, "tiny", ("f32", "bf16"))
    assert (session.choice.runtime, session.choice.precision) == ("openvino", "f32")
    assert "no native bf16" in caplog.text


@needs_bf16
def test_bf16_runs_bf16_where_the_cpu_has_it(tmp_path):
    settings = EncoderSettings(cache_dir=tmp_path, threads=1, runtime="openvino", precision="bf16")
    session = open_session(cached_sface(), settings, "sface", ("f32", "bf16"), batch=2)
    assert (session.choice.runtime, session.choice.precision) == ("openvino", "bf16")


def test_bf16_is_refused_for_a_model_whose_card_does_not_allow_it(tmp_path):
    settings = EncoderSettings(cache_dir=tmp_path, threads=1, runtime="openvino", precision="bf16")
    assert open_session(tiny_onnx_model(), settings, "tiny", ("f32",)).choice.precision == "f32"


def test_runtime_and_precision_names_are_checked():
    check_names("auto", "auto")
    with pytest.raises(ValueError, match="bf16 runs on OpenVINO only"):
        check_names("onnxruntime", "bf16")
    with pytest.raises(ValueError, match="FACEGRID_RUNTIME"):
        check_names("tensorrt", "auto")
    with pytest.raises(ValueError, match="FACEGRID_PRECISION"):
        replace(Settings(), precision="fp8").encoder()


def test_auto_measures_once_then_reads_its_choice(tmp_path, caplog):
    settings = EncoderSettings(cache_dir=tmp_path, threads=1)
    model = tiny_onnx_model()
    with caplog.at_level(logging.INFO, logger="facegrid.encoder.sessions"):
        first = open_session(model, settings, "tiny")
    assert "measured now" in first.choice.reason
    saved = json.loads((tmp_path / choice.CHOICES_FILE).read_text())
    (key, entry), = saved.items()
    assert cpu_model() in key and choice.file_digest(model) in key
    assert set(entry["ms_per_item"]) == {"onnxruntime:f32", "openvino:f32"}

    # The cached figures decide from now on, whatever they say: make OpenVINO the clear winner.
    entry["ms_per_item"] = {"onnxruntime:f32": 10.0, "openvino:f32": 5.0}
    (tmp_path / choice.CHOICES_FILE).write_text(json.dumps(saved))
    again = open_session(model, settings, "tiny")
    assert (again.choice.runtime, again.choice.precision) == ("openvino", "f32")
    assert "measured here before" in again.choice.reason
    assert "tiny runs on openvino f32" in caplog.text or "measured here before" in again.choice.reason


def test_onnx_runtime_is_kept_unless_another_is_clearly_faster():
    assert choice.fastest({("onnxruntime", "f32"): 10.0, ("openvino", "f32"): 9.8}) == ("onnxruntime", "f32")
    assert choice.fastest({("onnxruntime", "f32"): 10.0, ("openvino", "bf16"): 5.0}) == ("openvino", "bf16")


def test_asked_runtime_is_not_measured(tmp_path):
    settings = EncoderSettings(cache_dir=tmp_path, threads=1, runtime="onnxruntime")
    session = open_session(tiny_onnx_model(), settings, "tiny")
    assert (session.choice.runtime, session.choice.reason) == ("onnxruntime", "asked")
    assert not (tmp_path / choice.CHOICES_FILE).exists()


def test_evaluation_cache_key_holds_the_runtime_and_precision(tmp_path, monkeypatch):
    from facegrid.evaluation.lfw import cache_setup, encoder_settings

    keys = {}
    for runtime in ("onnxruntime", "openvino"):
        monkeypatch.setenv("FACEGRID_RUNTIME", runtime)
        monkeypatch.setenv("FACEGRID_PRECISION", "f32")
        settings = encoder_settings(None)
        assert (settings.runtime, settings.precision) == (runtime, "f32")
        keys[runtime] = cache_setup("sface", "cascade", None, settings)
        assert f"'sface': '{runtime}:f32'" in keys[runtime]
    assert keys["onnxruntime"] != keys["openvino"]


def test_nearest_neighbour_agreement_counts_changed_neighbours():
    from facegrid.evaluation.precision import nearest_agreement

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert nearest_agreement(vectors, vectors) == 1.0
    shuffled = vectors.copy()
    shuffled[:10] = vectors[rng.permutation(10)[::-1]]  # ten rows swapped among themselves: their neighbours change
    assert nearest_agreement(vectors, shuffled) < 1.0


def test_a_towers_precision_is_checked_against_f32_and_bf16_only_where_the_cpu_has_it(models_dir, faces_dir, tmp_path):
    from facegrid.encoder.towers.registry import find_card
    from facegrid.evaluation.precision import check_precision

    name = find_card(models_dir, next(p.name for p in models_dir.iterdir())).name
    photos = sorted((faces_dir / "deepface").rglob("*.jpg"))[:8]
    check = check_precision(models_dir, name, photos, "f32", cache_dir=tmp_path)
    assert set(check.agreement) == {"image", "text"}
    assert all(agreement >= 0.99 for agreement in check.agreement.values())  # OpenVINO f32 against ONNX Runtime f32
    if not cpu_has_bf16():
        with pytest.raises(ValueError, match="lacks it"):
            check_precision(models_dir, name, photos, "bf16", cache_dir=tmp_path)


def test_yunet_finds_the_same_faces_on_openvino_as_on_onnx_runtime(faces_dir, tmp_path):
    from facegrid.encoder.detect import YuNetDetector
    from facegrid.encoder.image import DecodeLimits, decode_image

    photos = sorted((faces_dir / "faceapi_bbt").rglob("*.jp*g"))[:3] + sorted((faces_dir / "lfw").glob("A*/*.jpg"))[:2]
    found = {}
    for runtime in ("onnxruntime", "openvino"):
        detector = YuNetDetector(settings=EncoderSettings(cache_dir=tmp_path, threads=1, runtime=runtime, precision="f32"))
        assert detector._net._session.choice.runtime == runtime
        found[runtime] = [detector.detect(decode_image(p.read_bytes(), DecodeLimits())) for p in photos]
    assert sum(len(faces) for faces in found["onnxruntime"]) >= 5
    for ours, theirs in zip(found["onnxruntime"], found["openvino"]):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.box, b.box, atol=0.05)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=0.05)
