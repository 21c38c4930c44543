"""`facegrid train clip --pairs PAIRS.csv --out NAME`: a small CLIP-style image + text model from (image, text) pairs.

This is the pivot the binding recipe needs when no image + text model is at hand: a four-layer CNN over
64x64 images and a text tower over a BPE vocabulary learned from the pairs' own texts (encoder/train/bpe.py),
trained from random weights with CLIP's symmetric InfoNCE and a learnable temperature. It suits small,
simple images (emoji, icons, logos), not photos: an imported open_clip model is the pivot for those.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..towers.preprocess import ImagePreprocess
from .bind_export import export_clip_pivot
from .bind_towers import ImageTower, TextTower
from .bpe import learn_bpe, vocab_size
from .contrastive import Temperature, fit
from .losses import info_nce
from .pairs import load_image, read_pairs
from .run import Checkpoint, TrainError, TrainResult, choose_device, set_threads

PREPROCESS = ImagePreprocess(size=(64, 64), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bilinear")
ARCH = f"{ImageTower.arch}+{TextTower.arch}"


@dataclass(frozen=True)
class ClipSettings:
    """The pivot recipe's settings."""

    epochs: int = 40
    batch: int = 64
    lr: float = 2e-3
    dim: int = 64
    merges: int = 256
    context_length: int = 32
    seed: int = 0
    device: str = "auto"
    threads: int = 0


def train_clip(pairs_file: Path, models_dir: Path, out: str, settings: ClipSettings = ClipSettings(),
               checkpoint_dir: Path | None = None) -> TrainResult:
    """Train the pivot on an image,text pairs file and export it as models_dir/out; the run's summary."""
    pairs = read_pairs(pairs_file)
    if set(pairs.modalities) != {"image", "text"}:
        raise TrainError(f"{pairs.source}: a CLIP pivot trains on image,text pairs; this file pairs {','.join(pairs.modalities)}")
    images, texts = (pairs.left, pairs.right) if pairs.modalities[0] == "image" else (pairs.right, pairs.left)
    set_threads(settings.threads)
    device = choose_device(settings.device)
    torch.manual_seed(settings.seed)
    image_files = sorted(set(images))
    pixels = torch.from_numpy(np.stack([PREPROCESS(load_image(f)) for f in image_files]))
    image_row = {f: i for i, f in enumerate(image_files)}
    names = sorted(set(texts))
    tokenizer = learn_bpe(names, settings.merges, settings.context_length)
    ids = torch.from_numpy(tokenizer.encode(names).ids).to(torch.int32)
    text_row = {t: i for i, t in enumerate(names)}
    image_index = np.array([image_row[f] for f in images])
    text_index = np.array([text_row[t] for t in texts])

    image_tower = ImageTower(settings.dim).to(device)
    text_tower = TextTower(vocab_size(tokenizer), tokenizer.eot_id, settings.dim).to(device)
    temperature = Temperature().to(device)

    def step(batch: np.ndarray) -> torch.Tensor:
        left = image_tower(pixels[image_index[batch]].to(device))
        right = text_tower(ids[text_index[batch]].to(device))
        return info_nce(left, right, temperature())

    checkpoint = Checkpoint(Path(checkpoint_dir) / "clip.pt", "clip", ARCH) if checkpoint_dir else None
    losses, items, seconds = fit("clip", [image_tower, text_tower, temperature], step, texts, epochs=settings.epochs,
                                 batch=settings.batch, lr=settings.lr, seed=settings.seed, checkpoint=checkpoint)
    folder = export_clip_pivot(image_tower.cpu(), text_tower.cpu(), tokenizer, PREPROCESS, models_dir, out, dim=settings.dim,
                               arch=ARCH, extra={"pairs": len(pairs), "images": len(image_files), "texts": len(names),
                                                 "epochs": settings.epochs, "seed": settings.seed})
    return TrainResult(model=out, epochs=settings.epochs, images=items, seconds=seconds,
                       final_loss=losses[-1] if losses else None, losses=losses, folder=str(folder))
