"""`facegrid train bind --pairs PAIRS.csv --pivot MODEL --modality audio --out NAME`: ImageBind's binding recipe.

The pivot model stays frozen: the pivot-modality side of every pair (an image, or a text) is embedded once
with the pivot's own served tower (TowerModel on ONNX Runtime: exactly the vectors the pivot serves), and
a new tower for the other modality is trained with InfoNCE to land on those vectors. Nothing but these
pairs is seen; the new tower then lines up with every other tower of the pivot too (its text, for a
CLIP-style pivot), which `facegrid eval bind` measures. The result is a new model folder: the pivot's
towers copied, plus the new one, in the same space and dimension.

Only an audio tower is trained here (16-bit PCM WAV clips, encoder/towers/audio.py's log-mel features).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UnknownModel
from ..runtime import EncoderSettings
from ..towers.audio import AudioPreprocess
from ..towers.registry import load_tower_model
from .bind_export import export_bound
from .bind_towers import AudioTower
from .contrastive import Temperature, fit
from .losses import info_nce
from .pairs import load_audio, load_image, read_pairs
from .run import Checkpoint, TrainError, TrainResult, choose_device, set_threads

NEW_MODALITIES = ("audio",)  # towers this recipe can train
EMBED_CHUNK = 128


@dataclass(frozen=True)
class BindSettings:
    """The binding recipe's settings."""

    epochs: int = 30
    batch: int = 64
    lr: float = 2e-3
    seed: int = 0
    device: str = "auto"
    threads: int = 0


def train_bind(pairs_file: Path, pivot: str, modality: str, models_dir: Path, out: str,
               settings: BindSettings = BindSettings(), checkpoint_dir: Path | None = None) -> TrainResult:
    """Bind a new `modality` tower to the frozen `pivot` on a pairs file; export models_dir/out; the run's summary."""
    if modality not in NEW_MODALITIES:
        raise TrainError(f"--modality {modality!r}: this recipe trains towers for {', '.join(NEW_MODALITIES)}")
    pairs = read_pairs(pairs_file)
    pivot_side, new_side = pairs.modalities
    if new_side != modality:
        raise TrainError(f"{pairs.source}: its second column is {new_side!r}; with --modality {modality} it must be "
                         f"the {modality} files (header: <pivot modality>,{modality})")
    try:
        model = load_tower_model(Path(models_dir), pivot, EncoderSettings(models_dir=Path(models_dir), threads=settings.threads))
    except UnknownModel as error:
        raise TrainError(f"--pivot {pivot!r}: {error}") from None
    if pivot_side not in model.modalities:
        raise TrainError(f"pivot {pivot!r} has no {pivot_side} tower (it has {', '.join(model.modalities)}): the pairs' "
                         f"first column must be one of its modalities")
    if modality in model.modalities:
        raise TrainError(f"pivot {pivot!r} already has its own {modality} tower; bind to a model without one")

    set_threads(settings.threads)
    device = choose_device(settings.device)
    torch.manual_seed(settings.seed)
    pivot_items = sorted(set(pairs.left))
    targets = torch.from_numpy(_embed_pivot(model, pivot_side, pivot_items))
    preprocess = AudioPreprocess()
    clips = sorted(set(pairs.right))
    features = torch.from_numpy(np.stack([preprocess(load_audio(f)) for f in clips]))
    target_index = _rows(pivot_items, pairs.left)
    clip_index = _rows(clips, pairs.right)

    tower = AudioTower(preprocess.n_mels, model.dim).to(device)
    temperature = Temperature().to(device)

    def step(batch: np.ndarray) -> torch.Tensor:
        return info_nce(tower(features[clip_index[batch]].to(device)), targets[target_index[batch]].to(device), temperature())

    checkpoint = Checkpoint(Path(checkpoint_dir) / "bind.pt", "bind", f"{pivot}+{modality}:{AudioTower.arch}") if checkpoint_dir else None
    losses, items, seconds = fit("bind", [tower, temperature], step, pairs.left, epochs=settings.epochs, batch=settings.batch,
                                 lr=settings.lr, seed=settings.seed, checkpoint=checkpoint)
    tower = tower.cpu()
    examples = [features[:2], features[: min(len(features), 5)]]
    folder = export_bound(model.card, modality, tower, examples, preprocess.as_settings(), models_dir, out, arch=AudioTower.arch,
                          extra={"pairs": len(pairs), "paired_with": pivot_side, "epochs": settings.epochs, "seed": settings.seed})
    return TrainResult(model=out, epochs=settings.epochs, images=items, seconds=seconds,
                       final_loss=losses[-1] if losses else None, losses=losses, folder=str(folder))


def _rows(unique: list[str], items: list[str]) -> np.ndarray:
    row = {k: i for i, k in enumerate(unique)}
    return np.array([row[k] for k in items])


def _embed_pivot(model, modality: str, items: list[str]) -> np.ndarray:
    """The frozen pivot's unit vectors of the items (image files or texts), in chunks."""
    chunks = []
    for start in range(0, len(items), EMBED_CHUNK):
        chunk = items[start:start + EMBED_CHUNK]
        if modality == "image":
            chunks.append(model.embed_images([load_image(f) for f in chunk]))
        else:
            chunks.append(model.embed_texts(chunk).vectors)
    return np.concatenate(chunks).astype(np.float32)
