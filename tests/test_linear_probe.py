"""`facegrid eval probe`: a linear classifier on frozen face vectors, split by photo."""

from __future__ import annotations

import numpy as np
import pytest

from facegrid.evaluation.probe import fit_softmax, predict, split_by_photo

from helpers import facegrid, last_json


def test_the_softmax_fit_separates_what_is_separable_and_not_more():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 8))
    labels = np.repeat(np.arange(5), 40)
    near = (centres[labels] + 0.1 * rng.normal(size=(200, 8))).astype(np.float32)
    w, iterations = fit_softmax(near, labels, 5)
    assert (predict(w, near) == labels).mean() == 1.0 and iterations < 500
    noise = rng.normal(size=(200, 8)).astype(np.float32)  # labels unrelated to the vectors
    w, _ = fit_softmax(noise[:100], labels[:100], 5)
    assert (predict(w, noise[100:]) == labels[100:]).mean() < 0.45  # about chance (0.2) on photos it did not see


def test_the_split_is_by_photo_stratified_seeded_and_counts_who_is_skipped():
    people = {"a": [f"a/{i}.jpg" for i in range(10)], "b": [f"b/{i}.jpg" for i in range(12)], "c": ["c/0.jpg", "c/1.jpg"]}
    train, test, skipped = split_by_photo(people, 10, 0.3, seed=4)
    assert skipped == 1 and len(test) == 3 + 4 and len(train) == 7 + 8
    assert not {p for p, _ in train} & {p for p, _ in test} and {c for _, c in test} == {0, 1}
    assert split_by_photo(people, 10, 0.3, seed=4) == (train, test, skipped)
    assert split_by_photo(people, 10, 0.3, seed=5)[1] != test


def test_eval_probe_on_a_labelled_folder(faces_dir):
    run = facegrid("eval", "probe", "--model", "sface", "--data", str(faces_dir / "deepface"), "--min-photos", "5",
                   "--workers", "1", "--json", timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = last_json(run.stdout)
    # deepface: 7 people with 5+ photos (44 photos); the rest, and the 4 unlabelled photos, skipped and counted
    assert report["model"] == "sface" and report["people"] == 7 and report["skipped_people"] == 7
    assert report["train_photos"] + report["test_photos"] == 44 and report["test_photos"] == 14
    assert report["accuracy"] >= 0.85 and report["converged"]  # SFace tells these celebrities apart
    assert report["majority_accuracy"] <= 3 / 14  # always the best-represented person: 2 or 3 of the 14


def test_eval_probe_refuses_an_unknown_model_and_a_folder_without_people(tmp_path):
    run = facegrid("eval", "probe", "--model", "no-such", "--data", str(tmp_path), "--models-dir", str(tmp_path))
    assert run.returncode == 2 and "unknown face model 'no-such'" in run.stderr and "Traceback" not in run.stderr
    run = facegrid("eval", "probe", "--model", "sface", "--data", str(tmp_path))
    assert run.returncode == 2 and "people with at least 10 photos" in run.stderr
