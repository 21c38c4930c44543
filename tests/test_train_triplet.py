"""The triplet recipe (FaceNet): P x K batches, semi-hard mining, a head over `fused` trained on real face
vectors, a ResNet from scratch on real aligned chips, bad folders, and the exported head served as a face model.

Tiny settings (tens of photos, seconds); the measured figures come from `facegrid eval lfw|openset --train-head`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'facegrid[train]')")

from facegrid.encoder.train.losses import triplet_semi_hard  # noqa: E402
from facegrid.encoder.train.run import TrainError  # noqa: E402
from facegrid.encoder.train.triplet import (  # noqa: E402
    FaceHead,
    HeadSettings,
    PKSampler,
    apply_head,
    folder_chips,
    folder_vectors,
    train_head,
    train_network,
)
from helpers import facegrid, last_json  # noqa: E402

# One thread: on a busy two-core machine, two torch threads ran these tiny steps 7x slower than one.
torch.set_num_threads(1)


def _person_folder(root: Path, source: Path, people: dict[str, int]) -> Path:
    """DIR/person/*.jpg of links to real photos: `people` maps a person folder of `source` to how many photos."""
    for person, count in people.items():
        (root / person).mkdir(parents=True)
        for photo in sorted((source / person).iterdir())[:count]:
            os.symlink(photo, root / person / photo.name)
    return root


# LFW people with many photos: real faces a detector finds, varied enough for the loss to have work to do.
LFW_PEOPLE = {"Colin_Powell": 6, "Tony_Blair": 6, "Donald_Rumsfeld": 6, "Gerhard_Schroeder": 6, "Ariel_Sharon": 6,
              "Hugo_Chavez": 6}


@pytest.fixture(scope="module")
def lfw_folder(faces_dir, tmp_path_factory) -> Path:
    return _person_folder(tmp_path_factory.mktemp("people"), faces_dir / "lfw", LFW_PEOPLE)


@pytest.fixture(scope="module")
def lfw_vectors(lfw_folder):
    return folder_vectors(lfw_folder, "fused", workers=1)


def test_sampler_gives_p_people_times_k_photos_and_counts_single_photo_people():
    labels = [0] * 5 + [1] * 3 + [2] * 8 + [3] + [4] * 2 + [5]  # people 3 and 5 have one photo each
    sampler = PKSampler(labels, people_per_batch=3, photos_per_person=4, seed=1)
    assert sampler.single_photo_people == 2
    assert sampler.items == 18 and len(sampler) == 2  # 18 usable photos, 12 a batch
    seen = set()
    for batch in list(sampler) + [sampler.batch() for _ in range(20)]:
        people = np.asarray(labels)[batch]
        assert len(batch) == 12
        assert len(set(people.tolist())) == 3 and 3 not in people and 5 not in people
        for start in range(0, 12, 4):  # K consecutive photos of one person
            block = people[start:start + 4]
            assert (block == block[0]).all()
            if labels.count(int(block[0])) >= 4:  # enough photos: no repeats
                assert len(set(batch[start:start + 4].tolist())) == 4
        seen.update(batch.tolist())
    assert seen == {i for i, label in enumerate(labels) if label not in (3, 5)}


def test_sampler_refuses_too_few_people():
    with pytest.raises(TrainError, match="at least two"):
        PKSampler([0, 0, 1], 2, 2)
    with pytest.raises(TrainError, match="K >= 2"):
        PKSampler([0, 0, 1, 1], 2, 1)


def test_semi_hard_counts_are_those_of_a_p_by_k_batch(lfw_vectors):
    sampler = PKSampler(lfw_vectors.labels, 4, 3, seed=0)
    rows = sampler.batch()
    loss, counts = triplet_semi_hard(torch.from_numpy(lfw_vectors.vectors[rows]), torch.from_numpy(lfw_vectors.labels[rows]), 0.5)
    assert counts["triplets"] == 4 * 3 * 2  # every ordered anchor-positive pair
    assert 0 <= counts["semi_hard"] <= counts["triplets"] and 0 < counts["active"] <= counts["triplets"]
    assert float(loss) > 0


def test_head_loss_falls_on_real_fused_vectors_and_starts_as_the_identity(lfw_vectors):
    assert lfw_vectors.vectors.shape == (36, 256) and lfw_vectors.skipped["single_photo_people"] == 0
    start = FaceHead(256)
    assert np.allclose(apply_head(start, lfw_vectors.vectors), lfw_vectors.vectors, atol=1e-6)  # epochs 0 = fused itself
    for kind in ("linear", "mlp"):
        settings = HeadSettings(kind=kind, epochs=15, people_per_batch=4, photos_per_person=4, margin=0.5, lr=3e-3)
        head, log = train_head(lfw_vectors.vectors, lfw_vectors.labels, settings)
        assert len(log.losses) == 15 and log.losses[-1] < 0.7 * log.losses[0], (kind, log.losses)
        out = apply_head(head, lfw_vectors.vectors)
        assert out.shape == (36, 256) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)


def test_whitening_init_changes_the_map(lfw_vectors):
    head = FaceHead(256)
    head.init_from(lfw_vectors.vectors, lfw_vectors.labels, "within-whiten")
    assert not torch.allclose(head.linear.weight, torch.eye(256))


def test_network_from_scratch_loss_falls_on_real_chips(lfw_folder, tmp_path):
    items = folder_chips(lfw_folder, 64, tmp_path / "detections.json")
    assert items.chips.shape[1:] == (64, 64, 3) and len(items.chips) >= 30
    network, log = train_network(items.chips, items.labels, "resnet18", 32, epochs=4, people_per_batch=4,
                                 photos_per_person=4, margin=0.5, lr=1e-3, seed=0)
    assert log.losses[-1] < log.losses[0], log.losses
    with torch.no_grad():
        assert network(torch.zeros(2, 3, 64, 64)).shape == (2, 32)


def test_folder_without_person_subfolders_is_a_clear_error(faces_dir, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for photo in sorted((faces_dir / "lfw" / "Tony_Blair").iterdir())[:3]:
        os.symlink(photo, flat / photo.name)
    done = facegrid("train", "triplet", str(flat), "--out", "t1", "--models-dir", str(tmp_path / "models"), "--epochs", "1",
                    "--threads", "1")
    assert done.returncode == 2 and "no person subfolders" in done.stderr
    assert not (tmp_path / "models" / "t1").exists()


def test_single_photo_people_and_unreadable_photos_are_skipped_and_reported(faces_dir, tmp_path):
    folder = _person_folder(tmp_path / "people", faces_dir / "lfw", {"Colin_Powell": 3, "Tony_Blair": 3, "Hugo_Chavez": 1})
    (folder / "Tony_Blair" / "broken.jpg").write_bytes(b"not a photo")
    items = folder_vectors(folder, "fused", workers=1)
    assert items.skipped["single_photo_people"] == 1
    assert list(items.skipped["unreadable"]) == ["Tony_Blair/broken.jpg"]
    assert len(items.labels) == 7


def test_one_person_with_photos_is_a_clear_error(faces_dir, tmp_path):
    from facegrid.encoder.train.triplet import TripletRun, run_triplet

    folder = _person_folder(tmp_path / "people", faces_dir / "lfw", {"Colin_Powell": 3, "Hugo_Chavez": 1})
    with pytest.raises(TrainError, match="1 people with two or more"):
        run_triplet(TripletRun(folder, "t2", tmp_path / "models", threads=1, workers=1))
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_exported_head_serves_as_a_face_model_with_torchs_vectors(lfw_folder, lfw_vectors, tmp_path):
    pytest.importorskip("facegrid.encoder.train.export", reason="encoder/train/export.py (face model folders) not merged yet")
    from facegrid.encoder.models import load_model
    from facegrid.encoder.pipeline import FacePipeline
    from facegrid.encoder.runtime import EncoderSettings
    from facegrid.encoder.train.export import export_face_head

    models = tmp_path / "models"
    # The command, end to end: its last line is the TrainResult and the folder is a head over fused.
    done = facegrid("train", "triplet", str(lfw_folder), "--out", "head1", "--models-dir", str(models), "--epochs", "3",
                    "--people-per-batch", "4", "--photos-per-person", "3", "--margin", "0.5", "--head", "mlp", "--workers", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert result["model"] == "head1" and result["epochs"] == 3 and result["final_loss"] is not None
    assert result["images"] == 3 * 3 * 12  # 3 epochs x ceil(36 / 12) batches of P x K = 4 x 3 photos
    assert json.loads((models / "head1" / "facegrid.json").read_text())["towers"]["face"]["base"] == "fused"
    assert load_model("head1", settings=EncoderSettings(models_dir=str(models))).dim == 256

    # A head trained here, exported, and served: the served face vector is torch's head of fused's vector.
    head, _ = train_head(lfw_vectors.vectors, lfw_vectors.labels,
                         HeadSettings(kind="mlp", epochs=3, people_per_batch=4, photos_per_person=3, margin=0.5, lr=3e-3))
    export_face_head(head, models, "head2", base="fused", base_dim=256, arch="head-mlp")
    model = load_model("head2", settings=EncoderSettings(models_dir=str(models)))
    photo = sorted((lfw_folder / "Colin_Powell").iterdir())[0].read_bytes()
    base = FacePipeline("fused").faces(photo, subject="centre")[0].vector
    served = FacePipeline(model).faces(photo, subject="centre")[0].vector
    expected = apply_head(head, base[None])[0]
    assert np.abs(served - expected).max() < 1e-4
    assert not np.allclose(served, base, atol=1e-3)  # trained: no longer the identity
