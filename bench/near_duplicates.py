"""`facegrid bench near-duplicates`: measure an image model's near-duplicate threshold on real photos.

Distinct photos: one photo of each of the first `photos` people of LFW (so no two are the same shot).
Near-duplicates: `edited` of them, each edited the ways a library's copies differ from their original:
JPEG re-compression (quality 40), resized to half size, a small crop (5 % off every side) and slightly
brighter (+10 %). Every photo goes through the server's own decoding and the model's own preprocessing.
The threshold is set where at most `false_merge_rate` of the distinct pairs score as high (single link
chains, so a strict rate is wanted: 1e-5 by default, i.e. at most 5 of the 499,500 pairs of 1,000
photos), and the recall of each kind of edit is measured at it. `--write` stores the result beside the
model's card (near_duplicates.json), where `facegrid similar` finds it.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance

from facegrid.encoder.image import DecodeLimits, decode_image
from facegrid.encoder.towers.registry import load_tower_model
from facegrid.evaluation.datasets import lfw_dir
from facegrid.index.near_duplicates import NearDuplicateCalibration, calibrate


def _jpeg(image: Image.Image, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _crop(image: Image.Image, share: float = 0.05) -> Image.Image:
    w, h = image.size
    return image.crop((round(w * share), round(h * share), round(w * (1 - share)), round(h * (1 - share))))


# Each edit turns an original's bytes into a near-duplicate's bytes, as a photo library meets them.
EDITS: dict[str, Callable[[bytes], bytes]] = {
    "recompressed": lambda data: _jpeg(Image.open(io.BytesIO(data)), quality=40),
    "resized": lambda data: _jpeg((lambda im: im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.BICUBIC))(
        Image.open(io.BytesIO(data)))),
    "cropped": lambda data: _jpeg(_crop(Image.open(io.BytesIO(data)))),
    "brighter": lambda data: _jpeg(ImageEnhance.Brightness(Image.open(io.BytesIO(data)).convert("RGB")).enhance(1.1)),
}


def distinct_photos(data: str | Path | None, count: int) -> list[Path]:
    """One photo of each of the first `count` LFW people (by name)."""
    people = sorted(p for p in lfw_dir(data).iterdir() if p.is_dir() and not p.name.startswith("_"))
    photos = []
    for person in people:
        first = next(iter(sorted(person.glob("*.jpg"))), None)
        if first is not None:
            photos.append(first)
        if len(photos) == count:
            break
    return photos


def measure(model, photos: list[Path], edited: int, false_merge_rate: float, batch: int = 32,
            progress: Callable[[str], None] = lambda message: None) -> NearDuplicateCalibration:
    """The threshold and recall of a loaded TowerModel on these photos (the first `edited` also edited)."""
    limits = DecodeLimits()

    def embed(items: list[bytes]) -> np.ndarray:
        rows = []
        for start in range(0, len(items), batch):
            rows.append(model.embed_images([decode_image(d, limits) for d in items[start : start + batch]]))
        return np.concatenate(rows) if rows else np.zeros((0, model.dim), np.float32)

    originals = [p.read_bytes() for p in photos]
    started = time.perf_counter()
    vectors = embed(originals)
    progress(f"{len(photos)} distinct photos embedded in {time.perf_counter() - started:.1f} s")
    scores = vectors @ vectors.T
    upper = np.triu_indices(len(photos), k=1)
    distinct = scores[upper]
    duplicates = {}
    for name, edit in EDITS.items():
        copies = embed([edit(d) for d in originals[:edited]])
        duplicates[name] = np.einsum("ij,ij->i", copies, vectors[:edited])
        progress(f"{name}: median score {np.median(duplicates[name]):.4f} (distinct pairs: median {np.median(distinct):.4f}, "
                 f"max {distinct.max():.4f})")
    return calibrate(model.name, distinct, duplicates, false_merge_rate, len(photos),
                     source=f"LFW, one photo per person ({len(photos)}), {edited} edited 4 ways")


def bench_near_duplicates(model_name: str, models_dir: str | Path | None = None, data: str | Path | None = None,
                          photos: int = 1000, edited: int = 200, false_merge_rate: float = 1e-5, write: bool = False,
                          progress: Callable[[str], None] = lambda message: None) -> dict:
    """Measure (and with `write`, store beside the model's card) a model's near-duplicate threshold."""
    from facegrid.server.config import Settings  # FACEGRID_MODELS_DIR and the data directory, as the server reads them

    settings = Settings().with_overrides(models_dir=str(models_dir) if models_dir else None).encoder()
    model = load_tower_model(settings.models_dir, model_name, settings)
    model.require("image")
    chosen = distinct_photos(data, photos)
    started = time.perf_counter()
    calibration = measure(model, chosen, min(edited, len(chosen)), false_merge_rate, progress=progress)
    report = {**calibration.__dict__, "seconds": round(time.perf_counter() - started, 1), "written": ""}
    if write:
        report["written"] = str(calibration.save(model.card.folder))
    return report
