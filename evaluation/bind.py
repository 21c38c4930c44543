"""`facegrid eval bind`: emergent audio -> text retrieval of a tower bound to an image + text pivot, against a direct one.

Protocol (one run, everything measured the same way):
1. the emoji data set (encoder/train/emoji_pairs.py): C concepts, renderings, spoken names in V voices,
   the last H voices held out;
2. a CLIP-style pivot trained on (image, name) pairs: `facegrid train clip`;
3. **bound**: an audio tower trained on (image, audio) pairs of the training voices only, the pivot frozen
   (`facegrid train bind`): it never sees an (audio, text) pair;
4. **direct**: the same audio tower trained on (name, audio) pairs of the same clips, the pivot's text tower
   frozen, for the same number of optimisation steps;
5. **untrained**: the audio tower with its random starting weights (`--epochs 0`), exported the same way.
Measured: each held-out-voice clip is a query against the C names embedded by the pivot's text tower
(shared by all three models); recall@k = the share of queries whose own name is among the k nearest
names (cosine). Chance: k / C. The pivot's own image -> name recall (on its training renderings) is
reported as a check that there is an alignment to inherit.
"""

from __future__ import annotations

import csv
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facegrid.encoder.assets import cache_dir
from facegrid.encoder.runtime import EncoderSettings
from facegrid.encoder.towers.registry import load_tower_model

from .configured import configured_data_dir


@dataclass(frozen=True)
class Retrieval:
    """Recall of queries against candidates."""

    recall_at_1: float
    recall_at_5: float
    queries: int
    candidates: int


@dataclass(frozen=True)
class BindReport:
    """Everything one `facegrid eval bind` run measured."""

    concepts: int
    renderings: int
    train_voices: list[str]
    test_voices: list[str]
    chance_at_1: float
    chance_at_5: float
    bound: Retrieval  # emergent: audio tower bound through images, never shown text
    direct: Retrieval  # trained on (text, audio) pairs, same steps
    untrained: Retrieval  # random weights
    bound_train_voices: Retrieval  # the bound tower on the clips it was trained on (for the gap)
    pivot_image_text: Retrieval  # the pivot on its own training renderings
    steps: dict
    losses: dict
    seconds: dict
    data: str

    def as_json(self) -> dict:
        """The report as plain JSON data (what `--json` prints)."""
        return asdict(self)


def recall(queries: np.ndarray, candidates: np.ndarray, truth: np.ndarray) -> Retrieval:
    """recall@1 and @5 of unit-vector queries against candidates; truth[i] is query i's candidate row."""
    scores = queries @ candidates.T
    own = scores[np.arange(len(queries)), truth]
    rank = (scores > own[:, None]).sum(axis=1)  # 0 when the own candidate is the best (ties count for the query)
    return Retrieval(float((rank < 1).mean()), float((rank < 5).mean()), len(queries), len(candidates))


def evaluate_bind(concepts: int = 64, renderings: int = 4, voices: int = 6, held_out: int = 2, epochs: int = 30,
                  pivot_epochs: int = 40, batch: int = 64, seed: int = 0, threads: int = 0, device: str = "auto",
                  keep: Path | None = None, data_root: Path | None = None) -> BindReport:
    """Build the data, train pivot, bound, direct and untrained models, measure retrieval (see the module docstring)."""
    from facegrid.encoder.train import emoji_pairs
    from facegrid.encoder.train.bind import BindSettings, train_bind
    from facegrid.encoder.train.clip_pivot import ClipSettings, train_clip
    from facegrid.encoder.train.pairs import load_audio, load_image, read_pairs

    started = time.perf_counter()
    data = emoji_pairs.build(concepts, renderings, voices, held_out,
                             root=data_root if data_root is not None else cache_dir(configured_data_dir(), "bind"))
    data_seconds = time.perf_counter() - started
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="facegrid-eval-bind-"))
    models = work / "models"
    try:
        pivot = train_clip(data.csv("image_text"), models, "bind-pivot",
                           ClipSettings(epochs=pivot_epochs, batch=batch, seed=seed, threads=threads, device=device))
        bind = BindSettings(epochs=epochs, batch=batch, seed=seed, threads=threads, device=device)
        bound = train_bind(data.csv("image_audio"), "bind-pivot", "audio", models, "bind-bound", bind)
        # The same number of steps for the direct tower: its pairs file is `renderings` times shorter.
        bound_steps = epochs * _steps(data.csv("image_audio"), batch)
        direct_epochs = max(1, round(bound_steps / _steps(data.csv("text_audio"), batch))) if epochs else 0
        direct = train_bind(data.csv("text_audio"), "bind-pivot", "audio", models, "bind-direct",
                            BindSettings(epochs=direct_epochs, batch=batch, seed=seed, threads=threads, device=device))
        untrained = train_bind(data.csv("image_audio"), "bind-pivot", "audio", models, "bind-untrained",
                               BindSettings(epochs=0, batch=batch, seed=seed, threads=threads, device=device))
        settings = EncoderSettings.under(configured_data_dir(), models_dir=models, threads=threads)
        loaded = {name: load_tower_model(models, name, settings) for name in ("bind-pivot", "bind-bound", "bind-direct", "bind-untrained")}
        names = [n for _, n in data.concepts]
        candidates = loaded["bind-bound"].embed_texts(names).vectors  # the pivot's text tower, copied into each model
        row = {n: i for i, n in enumerate(names)}

        def audio_recall(model: str, kind: str) -> Retrieval:
            pairs = read_pairs(data.csv(kind))  # text,audio
            queries = loaded[model].embed_audio([load_audio(f) for f in pairs.right])
            return recall(queries, candidates, np.array([row[t] for t in pairs.left]))

        rendered = read_pairs(data.csv("image_text"))
        pivot_vectors = loaded["bind-pivot"].embed_images([load_image(f) for f in rendered.left])
        report = BindReport(
            concepts=len(names), renderings=renderings,
            train_voices=[" ".join(map(str, v)) for v in emoji_pairs.VOICES[:voices - held_out]],
            test_voices=[" ".join(map(str, v)) for v in emoji_pairs.VOICES[voices - held_out:voices]],
            chance_at_1=1 / len(names), chance_at_5=min(1.0, 5 / len(names)),
            bound=audio_recall("bind-bound", "test_audio"), direct=audio_recall("bind-direct", "test_audio"),
            untrained=audio_recall("bind-untrained", "test_audio"),
            bound_train_voices=audio_recall("bind-bound", "text_audio"),
            pivot_image_text=recall(pivot_vectors, candidates, np.array([row[t] for t in rendered.right])),
            steps={"bound": bound_steps, "direct": direct_epochs * _steps(data.csv("text_audio"), batch),
                   "bound_epochs": epochs, "direct_epochs": direct_epochs, "pivot_epochs": pivot_epochs, "batch": batch},
            losses={"pivot": pivot.final_loss, "bound": bound.final_loss, "direct": direct.final_loss,
                    "bound_first": bound.losses[0] if bound.losses else None,
                    "direct_first": direct.losses[0] if direct.losses else None},
            seconds={"data": round(data_seconds, 1), "pivot": round(pivot.seconds, 1), "bound": round(bound.seconds, 1),
                     "direct": round(direct.seconds, 1), "total": round(time.perf_counter() - started, 1)},
            data=str(data.folder),
        )
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return report


def _steps(path: Path, batch: int) -> int:
    """Steps per epoch of the contrastive loop over a pairs file (batches of distinct pivot items)."""
    with open(path, newline="", encoding="utf-8") as handle:
        first = [row[0] for row in list(csv.reader(handle))[1:]]
    return math.ceil(len(first) / max(2, min(batch, len(set(first)))))
