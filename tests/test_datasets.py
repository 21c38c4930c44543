"""--data takes the faces/ folder or its lfw/ folder for every evaluation; a wrong folder is a clear error, not a traceback."""

from __future__ import annotations

import pytest

from facegrid.evaluation.datasets import DatasetMissing, faces_dir as find_faces_dir, lfw_dir, set_dir

from helpers import facegrid


def test_the_faces_folder_or_its_lfw_folder_name_the_same_sets(faces_dir):
    if not (faces_dir / "lfw" / "_meta" / "pairs.txt").is_file():
        pytest.skip("LFW is not in the faces folder")
    lfw = faces_dir / "lfw"
    assert lfw_dir(faces_dir) == lfw_dir(lfw) == lfw.resolve()
    assert find_faces_dir(lfw) == faces_dir.resolve()  # the parent of an LFW folder is meant
    assert set_dir("faceapi_bbt", lfw) == set_dir("faceapi_bbt", faces_dir) == (faces_dir / "faceapi_bbt").resolve()


def test_a_folder_without_the_sets_says_what_is_expected(tmp_path):
    (tmp_path / "lfw" / "_meta").mkdir(parents=True)
    (tmp_path / "lfw" / "_meta" / "pairs.txt").write_text("10 300\n")
    with pytest.raises(DatasetMissing, match="faceapi_bbt.*faces/ folder"):
        set_dir("faceapi_bbt", tmp_path / "lfw")
    (tmp_path / "other").mkdir()
    with pytest.raises(DatasetMissing, match="pairs.txt.*faces/ folder or its lfw/ folder"):
        lfw_dir(tmp_path / "other")


def test_eval_cluster_with_a_wrong_folder_fails_at_once_with_the_reason(tmp_path):
    # An LFW folder with no faceapi_bbt beside it: refused before any embedding starts.
    (tmp_path / "lfw" / "_meta").mkdir(parents=True)
    (tmp_path / "lfw" / "_meta" / "pairs.txt").write_text("10 300\n")
    run = facegrid("eval", "cluster", "--data", str(tmp_path / "lfw"), timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "faceapi_bbt" in run.stderr and "faces/ folder" in run.stderr
