"""The facegrid command end to end: faces, eval lfw, bench pipeline (the last two are slow, and run in CI)."""

from __future__ import annotations

import pytest

from helpers import facegrid, last_json  # noqa: F401 - also imported from here by older tests


def test_faces_prints_faces_and_clear_errors(faces_dir, tmp_path):
    photo = faces_dir / "dlib" / "unlabeled" / "2008_002506.jpg"
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    run = facegrid("faces", "--model", "sface", str(photo), str(broken))
    assert run.returncode == 0, run.stderr
    assert "3 faces" in run.stdout or "4 faces" in run.stdout
    assert f"{broken}: error:" in run.stdout

    run = facegrid("faces", "--json", "--model", "sface", str(photo))
    result = last_json(run.stdout)
    assert result["model"] == "sface"
    faces = result["photos"][0]["faces"]
    assert len(faces) >= 3 and faces[0]["dim"] == 128 and len(faces[0]["vector"]) == 8


def test_faces_exit_code_when_every_photo_fails(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    run = facegrid("faces", "--json", str(empty))
    assert run.returncode == 1
    assert last_json(run.stdout)["photos"][0]["error_type"] == "UnreadableImage"


@pytest.mark.slow
def test_eval_lfw_full_protocol(faces_dir, tmp_path):
    plot = tmp_path / "roc.png"
    run = facegrid("eval", "lfw", "--json", "--plot", str(plot))
    assert run.returncode == 0, run.stderr[-2000:]
    report = last_json(run.stdout)
    print(report)
    assert report["model"] == "fused" and report["pairs"] == 6000
    assert report["accuracy"] >= 0.995  # measured 99.6x%: a drop means the pipeline broke
    assert report["no_face"] == report["detectors"].get("centre_guess", 0) <= 5
    assert report["tar_at_far_1e-3"] > 0.98
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = facegrid("eval", "lfw", "--json", "--folds", "1-10")
    second = last_json(again.stdout)
    assert second["embedded_now"] == 0  # every vector came from the on-disk cache
    assert second["accuracy"] == report["accuracy"]


def test_eval_lfw_rejects_bad_folds():
    run = facegrid("eval", "lfw", "--folds", "0-11")
    assert run.returncode == 2 and "folds" in run.stderr


@pytest.mark.slow
def test_bench_pipeline_against_face_recognition(faces_dir):
    from facegrid.bench.pipeline import baseline_available

    if not baseline_available():  # importing it here would exit: it needs pkg_resources (see bench/pipeline.py)
        pytest.skip("bench extra missing: pip install --no-deps face_recognition==1.3.0")
    run = facegrid("bench", "pipeline", "--images", "24", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    report = last_json(run.stdout)
    assert report["model"] == "fused" and report["images"] == 24
    assert report["images_per_s"] > 0 and report["baseline_images_per_s"] > 0
    assert report["ratio"] == pytest.approx(report["images_per_s"] / report["baseline_images_per_s"], rel=0.05)
