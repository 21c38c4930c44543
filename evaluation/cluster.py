"""`facegrid eval cluster`: grouping faces by person on LFW, scored with BCubed and pairwise F.

Protocol: every LFW person with at least five photos, plus every person with a
single photo as distractors; one face per photo (nearest the centre). The link
threshold is fixed in advance from the model's calibration table, at the score
that one pair of strangers in 100,000 reaches (FAR 1e-5); nothing is tuned on
the figures reported. A sweep over other FAR levels is printed for context.

`pairs_images` applies the same protocol to the images of pairs.txt alone (the ones `facegrid eval lfw` embeds):
the CI check, which then finds every vector in the evaluation cache instead of embedding the other ~5,500 photos.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from facegrid.encoder.models import model_folder
from facegrid.index.calibration import load_calibration
from facegrid.index.cluster import group_faces

from .cluster_metrics import score_clustering
from facegrid.encoder.pipeline import faces_many

from .datasets import DatasetMissing, lfw_dir, set_dir
from .lfw import encoder_settings
from .lfw_people import all_vectors, pair_images, stack

LINK_FAR = 1e-5


def evaluate_cluster(data: str | Path | None, model: str, workers: int | None = None, progress=None,
                     models_dir: str | Path | None = None, pairs_images: bool = False) -> dict:
    """Scores of the default clustering, of the >= 5-photo people alone, and a FAR sweep."""
    root = lfw_dir(data)
    set_dir("faceapi_bbt", data)  # before the long LFW embedding, so a wrong --data fails at once
    calibration = load_calibration(model, model_folder=model_folder(model, encoder_settings(models_dir)))  # so does a missing table
    only = pair_images(root) if pairs_images else None
    by_person, vectors, _, _ = all_vectors(root, model, workers=workers, progress=progress, models_dir=models_dir, only=only)
    chosen = {name: paths for name, paths in by_person.items() if len(paths) >= 5 or len(paths) == 1}
    images = [image for paths in chosen.values() for image in paths]
    truth = np.array([image.split("/")[0] for image in images])
    matrix = stack(vectors, images)
    threshold = calibration.threshold(LINK_FAR)

    started = time.perf_counter()
    labels = group_faces(matrix, threshold)
    seconds = time.perf_counter() - started
    scores = score_clustering(truth, labels)
    frequent = np.array([len(by_person[name]) >= 5 for name in truth])
    frequent_scores = score_clustering(truth[frequent], labels[frequent])
    sweep = {}
    for far in (1e-3, 1e-4, 1e-5, 1e-6):
        swept = score_clustering(truth, group_faces(matrix, calibration.threshold(far)))
        sweep[f"{far:g}"] = {"threshold": round(calibration.threshold(far), 4), "bcubed_f": round(swept.bcubed_f, 4),
                             "groups": swept.groups}
    return {
        "model": model,
        "images": "pairs.txt" if pairs_images else "all",
        "photos": len(images),
        "people": scores.people,
        "people_with_5_or_more": int(sum(len(p) >= 5 for p in chosen.values())),
        "threshold": round(threshold, 4),
        "link_far": LINK_FAR,
        "bcubed_precision": round(scores.bcubed_precision, 4),
        "bcubed_recall": round(scores.bcubed_recall, 4),
        "bcubed_f": round(scores.bcubed_f, 4),
        "pairwise_precision": round(scores.pairwise_precision, 4),
        "pairwise_recall": round(scores.pairwise_recall, 4),
        "pairwise_f": round(scores.pairwise_f, 4),
        "groups": scores.groups,
        "frequent_only": {"bcubed_f": round(frequent_scores.bcubed_f, 4), "pairwise_f": round(frequent_scores.pairwise_f, 4),
                          "groups": int(len(np.unique(labels[frequent])))},
        "seconds": round(seconds, 2),
        "sweep": sweep,
        "faceapi_bbt": evaluate_bbt(data, model, threshold, workers, models_dir),
    }


def evaluate_bbt(data: str | Path | None, model: str, threshold: float, workers: int | None = None,
                 models_dir: str | Path | None = None) -> dict:
    """The 8 people of faceapi_bbt: their 40 labelled crops grouped together with every face of the
    group photos (bbt*.jpg, the same people, unlabelled, cannot-link within a photo); scored on the crops."""
    folder = set_dir("faceapi_bbt", data)
    crops = sorted(p for p in folder.glob("*/*.png") if p.parent.name != "unlabeled")
    groups = sorted((folder / "unlabeled").glob("bbt*.jpg"))
    if not crops:
        raise DatasetMissing(f"{folder} has no labelled crops (<person>/*.png)")
    vectors, photos, truth = [], [], []
    items = [(str(p), str(p)) for p in crops + groups]
    found = faces_many(items, model=model, workers=workers, guess_when_missing=True, settings=encoder_settings(models_dir))
    for number, result in enumerate(found):
        is_crop = number < len(crops)
        faces = result.faces[:1] if is_crop else result.faces  # a crop is one person
        for face in faces:
            vectors.append(face.vector)
            photos.append(number)
            truth.append(crops[number].parent.name if is_crop else "")
    labels = group_faces(np.stack(vectors), threshold, photos=np.array(photos))
    truth = np.array(truth)
    labelled = truth != ""
    scores = score_clustering(truth[labelled], labels[labelled])
    return {"crops": int(labelled.sum()), "group_photo_faces": int((~labelled).sum()), "people": scores.people,
            "bcubed_f": round(scores.bcubed_f, 4), "pairwise_f": round(scores.pairwise_f, 4),
            "groups_among_crops": scores.groups}
