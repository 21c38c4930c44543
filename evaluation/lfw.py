"""LFW View 2 verification: 10 folds, threshold chosen on nine and tested on the tenth.

Every image gets a vector: the face nearest the centre (the protocol's subject),
else a centred guess, counted and reported, never dropped.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from facegrid.encoder.models import load_model, mirror_settings, vectors_setup
from facegrid.encoder.pipeline import PIPELINE_VERSION, faces_many
from facegrid.encoder.runtime import EncoderSettings

from .cache import EmbeddingCache, file_digest
from .configured import configured_settings
from .datasets import Pair, lfw_dir, read_lfw_pairs
from .metrics import best_threshold, kfold_accuracy, roc_curve, tar_at_far, threshold_at_far


@dataclass
class LfwReport:
    """Figures of one LFW View 2 run."""

    model: str
    pairs: int
    folds: list[int]
    accuracy: float
    std: float
    fold_accuracies: list[float]
    threshold: float
    tar_at_far_1e2: float
    tar_at_far_1e3: float
    threshold_at_far_1e3: float
    images: int
    no_face: int
    detectors: dict[str, int]
    embedded_now: int
    seconds: float
    mirror: dict[str, bool]
    runtimes: dict[str, str]  # each network's runtime:precision
    roc: tuple[np.ndarray, np.ndarray] = field(repr=False, default=None)

    def as_json(self) -> dict:
        """The JSON object printed by `facegrid eval lfw --json`."""
        return {
            "model": self.model,
            "mirror": self.mirror,
            "runtimes": self.runtimes,
            "accuracy": round(self.accuracy, 5),
            "std": round(self.std, 5),
            "fold_accuracies": [round(a, 4) for a in self.fold_accuracies],
            "threshold": round(self.threshold, 5),
            "tar_at_far_1e-2": round(self.tar_at_far_1e2, 5),
            "tar_at_far_1e-3": round(self.tar_at_far_1e3, 5),
            "threshold_at_far_1e-3": round(self.threshold_at_far_1e3, 5),
            "pairs": self.pairs,
            "folds": self.folds,
            "images": self.images,
            "no_face": self.no_face,
            "no_face_handling": "centred fallback chip, embedded and scored",
            "detectors": self.detectors,
            "embedded_now": self.embedded_now,
            "seconds": round(self.seconds, 1),
        }


def embed_images(
    root: Path,
    relative_paths: list[str],
    model: str,
    detector: str,
    mirror: bool | None,
    workers: int | None,
    progress: Callable[[int, int], None] | None = None,
    models_dir: str | Path | None = None,
    errors: dict[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str], int]:
    """Vectors and detector names for images (the centre face of each), through the on-disk cache
    (keyed on the model's setup: a folder model's card and ONNX digest included).

    An image that cannot be read or decoded raises, unless `errors` is given: then it is left out and listed
    there (path -> why), as a training folder's unreadable photos are."""
    settings = encoder_settings(models_dir)
    cache = EmbeddingCache(eval_cache_dir(settings) / "embeddings.sqlite", cache_setup(model, detector, mirror, settings))
    vectors: dict[str, np.ndarray] = {}
    detectors: dict[str, str] = {}
    missing: list[tuple[str, str]] = []
    digests: dict[str, str] = {}
    for rel in relative_paths:
        try:
            digest = digests[rel] = file_digest(root / rel)
        except OSError as error:
            if errors is None:
                raise
            errors[rel] = f"{type(error).__name__}: {error}"
            continue
        hit = cache.get(digest)
        if hit is None:
            missing.append((rel, str(root / rel)))
        else:
            vectors[rel], detectors[rel] = hit
    done = 0
    for result in faces_many(
        missing, model=model, detector=detector, workers=workers, subject="centre", guess_when_missing=True, mirror=mirror,
        settings=settings,
    ):
        if result.error:
            if errors is None:
                raise RuntimeError(f"{result.key}: {result.error}")
            errors[result.key] = result.error
            continue
        face = result.faces[0]
        vectors[result.key], detectors[result.key] = face.vector, face.detector
        cache.put(digests[result.key], face.vector, face.detector)
        done += 1
        if done % 200 == 0:
            cache.commit()
        if progress:
            progress(done, len(missing))
    cache.close()
    return vectors, detectors, len(missing)


def cache_setup(model: str, detector: str, mirror: bool | None, settings: EncoderSettings) -> str:
    """What cached evaluation vectors depend on: the pipeline, model, detector, mirroring, a folder model's digest,
    and each network's runtime and precision."""
    return (f"{PIPELINE_VERSION}|{model}|{detector}|{vectors_setup(model, mirror, settings)}"
            f"|runtimes={model_runtimes(model, mirror, settings)}|centre+guess")


def pair_scores(pairs: list[Pair], vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cosine score, same person, fold) per pair, from unit vectors by image path."""
    scores = np.array([float(vectors[p.first] @ vectors[p.second]) for p in pairs])
    return scores, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs])


def fold_accuracies(scores: np.ndarray, same: np.ndarray, fold_ids: np.ndarray) -> tuple[np.ndarray, float]:
    """Accuracy per fold with its threshold chosen on the other folds, and the mean threshold."""
    if len(np.unique(fold_ids)) > 1:
        result = kfold_accuracy(scores, same, fold_ids)
        return result.accuracies, float(result.thresholds.mean())
    # one fold: nothing to hold out, so the threshold is fitted on that fold itself
    threshold = best_threshold(scores, same)
    return np.array([float(((scores >= threshold) == same).mean())]), threshold


def evaluate_lfw(
    data: str | Path | None = None,
    model: str = "fused",
    detector: str = "cascade",
    folds: list[int] | None = None,
    mirror: bool | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    models_dir: str | Path | None = None,
) -> LfwReport:
    """Run the LFW View 2 protocol (optionally on a subset of folds, numbered 1-10); models_dir: where a folder
    model is (default: the data directory's)."""
    started = time.perf_counter()
    root = lfw_dir(data)
    pairs: list[Pair] = read_lfw_pairs(root)
    chosen = sorted(set(folds or range(1, 11)))
    pairs = [p for p in pairs if p.fold + 1 in chosen]
    images = sorted({p.first for p in pairs} | {p.second for p in pairs})
    vectors, detectors, embedded = embed_images(root, images, model, detector, mirror, workers, progress, models_dir)

    scores, same, fold_ids = pair_scores(pairs, vectors)
    accuracies, threshold = fold_accuracies(scores, same, fold_ids)
    counts: dict[str, int] = {}
    for name in detectors.values():
        counts[name] = counts.get(name, 0) + 1
    return LfwReport(
        model=model,
        pairs=len(pairs),
        folds=chosen,
        accuracy=float(accuracies.mean()),
        std=float(accuracies.std()),
        fold_accuracies=[float(a) for a in accuracies],
        threshold=threshold,
        tar_at_far_1e2=tar_at_far(scores, same, 1e-2),
        tar_at_far_1e3=tar_at_far(scores, same, 1e-3),
        threshold_at_far_1e3=threshold_at_far(scores, same, 1e-3),
        images=len(images),
        no_face=counts.get("centre_guess", 0),
        detectors=counts,
        embedded_now=embedded,
        seconds=time.perf_counter() - started,
        mirror=mirror_settings(model, mirror, encoder_settings(models_dir)),
        runtimes=model_runtimes(model, mirror, encoder_settings(models_dir)),
        roc=roc_curve(scores, same),
    )


def encoder_settings(models_dir: str | Path | None) -> EncoderSettings:
    """The encoder settings of an evaluation run: folders under the configured data directory, models_dir if given,
    the configured runtime and precision (FACEGRID_RUNTIME, FACEGRID_PRECISION)."""
    configured = configured_settings()
    settings = EncoderSettings.under(configured.data_dir, runtime=configured.runtime, precision=configured.precision)
    return replace(settings, models_dir=Path(models_dir).expanduser()) if models_dir else settings


@functools.lru_cache(maxsize=8)
def model_runtimes(model: str, mirror: bool | None, settings: EncoderSettings) -> dict[str, str]:
    """{network: runtime:precision} as the worker processes will run the model (with their settings, so their choice:
    auto's is cached per CPU and model file). In the cache key: bf16 vectors are never taken for f32 ones."""
    loaded = load_model(model, mirror, settings.single_threaded())
    try:
        return loaded.runtimes()
    finally:
        loaded.close()


def eval_cache_dir(settings: EncoderSettings) -> Path:
    """Where evaluation runs cache their vectors: beside the converted models."""
    folder = Path(settings.cache_dir) / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def plot_roc(report: LfwReport, path: Path) -> None:
    """Draw the ROC curve (log FAR axis) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    far, tar = report.roc
    figure, axes = plt.subplots(figsize=(6, 4.5))
    axes.plot(np.maximum(far, 1e-4), tar, label=f"{report.model}: {report.accuracy * 100:.2f}%")
    axes.set_xscale("log")
    axes.set_xlim(1e-4, 1)
    axes.set_ylim(0.8, 1.001)
    axes.set_xlabel("false accept rate")
    axes.set_ylabel("true accept rate")
    axes.set_title(f"LFW View 2, {report.pairs} pairs")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
