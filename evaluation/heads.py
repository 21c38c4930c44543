"""`facegrid eval lfw|openset --train-head triplet`: a head trained per fold on the other nine folds' people.

LFW View 2's ten folds hold disjoint people (`_meta/people.txt`; pairs.txt's folds use exactly those people,
checked here on every run). For each fold the head is trained only on the photos of the people of the other
nine folds, and the held-out fold is scored through it; the same folds are scored without a head in the
same run, so the two figures differ only by the head.

- LFW verification: each fold's 600 pairs scored by that fold's head; the accept threshold of a fold is chosen
  on the other nine folds' held-out scores, as `evaluate_lfw` does.
- Open-set identification: each fold's people form their own gallery (people with two or more photos) and
  impostors (people with one photo), run through `openset.openset_variant` with one and with three templates;
  the means over the ten folds are reported (the calibrated service operating point is left out: the
  calibration tables are the shipped models', not a head's).
- Photos it never saw: a head trained on all of LFW, scored on the other sets (ORL, deepface,
  face_recognition, faceapi_bbt, dlib chips) by all within-set pairs (`other_sets`).

torch is imported only when a head is trained (the `train` extra).
"""

from __future__ import annotations

import time
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .datasets import DatasetMissing, lfw_dir, read_lfw_pairs, set_dir
from .lfw import embed_images, fold_accuracies, pair_scores
from .lfw_people import all_vectors, stack
from .metrics import tar_at_far
from .openset import KNOWN_ALIASES, openset_variant

if TYPE_CHECKING:
    from facegrid.encoder.train.triplet import HeadSettings

OTHER_SETS = ("orl", "deepface", "face_recognition", "faceapi_bbt", "dlib")
# face_recognition's Obama appears under three folders; the resolution variants are one photo resized (trivially
# easy pairs), so they are left out, and the partial faces are Obama.
_SAME_AS = {"face_recognition": {"obama_partial": "obama"}}
_LEFT_OUT = {"face_recognition": {"obama_resolution_variants"}}


def person_folds(root: Path) -> dict[str, int]:
    """Person -> View 2 fold (0-9), from `_meta/people.txt`."""
    words = (root / "_meta" / "people.txt").read_text().split()
    folds, at, owner = int(words[0]), 1, {}
    for fold in range(folds):
        count = int(words[at])
        at += 1
        for name in words[at : at + 2 * count : 2]:
            owner[name] = fold
        at += 2 * count
    return owner


def _check_pair_folds(pairs, owner: dict[str, int]) -> None:
    wrong = [p for p in pairs for image in (p.first, p.second) if owner.get(image.split("/")[0]) != p.fold]
    if wrong:
        raise ValueError(f"{len(wrong)} pair images are not in their fold's people (people.txt): the folds would share people")


def _training_set(by_person: dict[str, list[str]], vectors: dict, people: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, labels) of the photos of `people` who have two or more."""
    chosen = [name for name in people if len(by_person[name]) >= 2]
    images = [image for name in chosen for image in by_person[name]]
    labels = np.array([number for number, name in enumerate(chosen) for _ in by_person[name]], np.int64)
    return stack(vectors, images), labels


def _mapped(head, vectors: dict, images: list[str]) -> dict[str, np.ndarray]:
    from facegrid.encoder.train.triplet import apply_head

    out = apply_head(head, stack(vectors, images))
    return dict(zip(images, out))


def _settings_json(settings: "HeadSettings") -> dict:
    from dataclasses import asdict

    return asdict(settings)


def lfw_with_heads(data: str | Path | None, model: str, settings: "HeadSettings", workers: int | None = None,
                   progress=None, models_dir: str | Path | None = None) -> dict:
    """LFW View 2 with a head per fold (trained on the other nine folds' people) and without, same folds."""
    from facegrid.encoder.train.triplet import train_head

    started = time.perf_counter()
    root = lfw_dir(data)
    pairs = read_lfw_pairs(root)
    owner = person_folds(root)
    _check_pair_folds(pairs, owner)
    by_person, vectors, _, embedded = all_vectors(root, model, workers=workers, progress=progress, models_dir=models_dir)
    scores_base, same, fold_ids = pair_scores(pairs, vectors)
    scores_head = np.zeros_like(scores_base)
    training = []
    for fold in range(10):
        held = {name for name, f in owner.items() if f == fold}
        head, log = train_head(*_training_set(by_person, vectors, sorted(set(by_person) - held)), settings)
        in_fold = fold_ids == fold
        images = sorted({image for p, keep in zip(pairs, in_fold) if keep for image in (p.first, p.second)})
        scores, _, _ = pair_scores([p for p, keep in zip(pairs, in_fold) if keep], _mapped(head, vectors, images))
        scores_head[in_fold] = scores
        training.append({"fold": fold + 1, "final_loss": round(log.losses[-1], 5) if log.losses else None,
                         "seconds": round(log.seconds, 1), **log.counts})
    report = {"model": model, "head": _settings_json(settings), "pairs": len(pairs), "embedded_now": embedded}
    for label, scores in (("no_head", scores_base), ("head", scores_head)):
        accuracies, threshold = fold_accuracies(scores, same, fold_ids)
        report[label] = {"accuracy": round(float(accuracies.mean()), 5), "std": round(float(accuracies.std()), 5),
                         "fold_accuracies": [round(float(a), 4) for a in accuracies], "threshold": round(threshold, 5),
                         "tar_at_far_1e-2": round(tar_at_far(scores, same, 1e-2), 5),
                         "tar_at_far_1e-3": round(tar_at_far(scores, same, 1e-3), 5)}
    report["training"] = training
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


_HEADLINE = ("rank1", "dir_at_far_1e-2", "dir_at_far_1e-3", "dir_at_far_1e-2_without_aliases")


def openset_with_heads(data: str | Path | None, model: str, settings: "HeadSettings", workers: int | None = None,
                       progress=None, models_dir: str | Path | None = None) -> dict:
    """The open-set protocol on each View 2 fold's people, with that fold's head and without; means over folds."""
    from facegrid.encoder.train.triplet import train_head

    started = time.perf_counter()
    root = lfw_dir(data)
    owner = person_folds(root)
    by_person, vectors, _, embedded = all_vectors(root, model, workers=workers, progress=progress, models_dir=models_dir)
    alias_people = {name for pair in KNOWN_ALIASES for name in pair}
    per_fold: dict[str, dict[str, list[dict]]] = {"no_head": {"one": [], "three": []}, "head": {"one": [], "three": []}}
    training = []
    for fold in range(10):
        inside = {name: paths for name, paths in by_person.items() if owner.get(name) == fold}
        outside = sorted(name for name in by_person if owner.get(name) != fold)
        head, log = train_head(*_training_set(by_person, vectors, outside), settings)
        images = [image for paths in inside.values() for image in paths]
        mapped = _mapped(head, vectors, images)
        singles = [paths[0] for paths in inside.values() if len(paths) == 1]
        for label, space in (("no_head", vectors), ("head", mapped)):
            for variant, templates in (("one", 1), ("three", 3)):
                figures = openset_variant(inside, space, singles, templates, alias_people)
                figures.pop("top_impostors")
                per_fold[label][variant].append({"fold": fold + 1, **figures})
        training.append({"fold": fold + 1, "final_loss": round(log.losses[-1], 5) if log.losses else None,
                         "seconds": round(log.seconds, 1), **log.counts})
    report = {"model": model, "head": _settings_json(settings), "embedded_now": embedded,
              "protocol": "LFW View 2 person folds; per fold: gallery = its people with 2+ photos, impostors = its "
                          "people with one photo; head trained on the other nine folds' people"}
    for label in ("no_head", "head"):
        report[label] = {}
        for variant in ("one", "three"):
            rows = per_fold[label][variant]
            summary = {key: round(float(np.mean([r[key] for r in rows])), 5) for key in _HEADLINE}
            summary.update({f"{key}_std": round(float(np.std([r[key] for r in rows])), 5) for key in _HEADLINE[:3]})
            summary["subjects"] = int(sum(r["subjects"] for r in rows))
            summary["genuine_probes"] = int(sum(r["genuine_probes"] for r in rows))
            summary["per_fold_dir_at_far_1e-2"] = [round(r["dir_at_far_1e-2"], 4) for r in rows]
            report[label][variant] = summary
    report["gain_dir_at_far_1e-2"] = {v: round(report["head"][v]["dir_at_far_1e-2"] - report["no_head"][v]["dir_at_far_1e-2"], 5)
                                      for v in ("one", "three")}
    report["training"] = training
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def set_people(folder: Path, name: str) -> dict[str, list[str]]:
    """Identity -> image paths (relative to the set folder) of one labelled set, group photos left out."""
    same_as, left_out = _SAME_AS.get(name, {}), _LEFT_OUT.get(name, set())
    found: dict[str, list[str]] = {}
    for person in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in {"unlabeled", "_meta"} | left_out):
        for image in sorted(f for f in person.iterdir() if f.is_file() and not f.name.startswith(".")):
            found.setdefault(same_as.get(person.name, person.name), []).append(f"{person.name}/{image.name}")
    return found


def set_figures(matrix: np.ndarray, labels: np.ndarray) -> dict:
    """All within-set pairs: TAR at FAR 1% and 0.1%, equal error rate, leave-one-out rank-1, and the separation
    d' = (mean genuine - mean impostor) / pooled std (these sets are small: the rates saturate, d' still moves)."""
    first, second = np.array(list(combinations(range(len(labels)), 2))).T
    scores = np.einsum("ij,ij->i", matrix[first], matrix[second])
    same = labels[first] == labels[second]
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -np.inf)
    has_mate = np.array([(labels == label).sum() >= 2 for label in labels])
    rank1 = float((labels[similarity.argmax(axis=1)] == labels)[has_mate].mean())
    order = np.sort(scores[~same])
    genuine = np.sort(scores[same])
    thresholds = np.unique(scores)
    far = 1 - np.searchsorted(order, thresholds, side="left") / len(order)
    frr = np.searchsorted(genuine, thresholds, side="left") / len(genuine)
    at = int(np.argmin(np.abs(far - frr)))
    return {"photos": int(len(labels)), "people": int(len(np.unique(labels))), "genuine_pairs": int(same.sum()),
            "impostor_pairs": int((~same).sum()), "tar_at_far_1e-2": round(tar_at_far(scores, same, 1e-2), 5),
            "tar_at_far_1e-3": round(tar_at_far(scores, same, 1e-3), 5), "eer": round(float((far[at] + frr[at]) / 2), 5),
            "rank1": round(rank1, 5), "d_prime": round(_d_prime(scores[same], scores[~same]), 4)}


def _d_prime(genuine: np.ndarray, impostor: np.ndarray) -> float:
    return float((genuine.mean() - impostor.mean()) / np.sqrt((genuine.var() + impostor.var()) / 2))


def other_sets(data: str | Path | None, model: str, settings: "HeadSettings", workers: int | None = None,
               progress=None, models_dir: str | Path | None = None) -> dict:
    """A head trained on all of LFW (people with 2+ photos), scored on every other labelled set, and no head."""
    from facegrid.encoder.train.triplet import train_head

    root = lfw_dir(data)
    by_person, vectors, _, _ = all_vectors(root, model, workers=workers, progress=progress, models_dir=models_dir)
    head, log = train_head(*_training_set(by_person, vectors, sorted(by_person)), settings)
    report = {"model": model, "head": _settings_json(settings), "final_loss": log.losses[-1] if log.losses else None}
    for name in OTHER_SETS:
        try:
            folder = set_dir(name, data)
        except DatasetMissing as missing:
            report[name] = {"missing": str(missing)}
            continue
        people = set_people(folder, name)
        images = [image for paths in people.values() for image in paths]
        found, _, _ = embed_images(folder, images, model, "cascade", None, workers, models_dir=models_dir,
                                    errors=(errors := {}))
        kept = [image for image in images if image in found]
        labels = np.array([next(p for p, paths in people.items() if image in paths) for image in kept])
        matrix = stack(found, kept)
        report[name] = {"no_head": set_figures(matrix, labels), "head": set_figures(_head_matrix(head, matrix), labels)}
        if errors:
            report[name]["unreadable"] = errors
    return report


def _head_matrix(head, matrix: np.ndarray) -> np.ndarray:
    from facegrid.encoder.train.triplet import apply_head

    return apply_head(head, matrix)
