"""FaceNet's recipe on person-labelled folders: P people x K photos a batch, semi-hard triplets, a margin.

Two uses of the same loop:
- a small **head over a frozen shipped face model** (`fused` by default): every photo is embedded once by the
  shipped model (vectors cached on disk with the evaluation cache), then a linear map or a residual MLP,
  output L2-normalised, learns a space for the operator's population in seconds to minutes;
- a **whole network from scratch** (torchvision ResNet) on ArcFace-aligned chips cut by facegrid's detector.

Both start where `--epochs 0` exports them: the head as the identity (or a whitening of the training vectors),
so the baseline is the shipped model itself, served and scored the same way. The defaults (HeadSettings:
P = 128, anchor 0.01) are the ones that held LFW accuracy. A network's forward pass runs in bf16 autocast
where the CPU has native bf16 (--precision, as in SimCLR); the loss, and a head, stay f32.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .losses import triplet_semi_hard
from .run import TrainError, TrainPrecision

HEAD_KINDS = ("linear", "mlp")
HEAD_INITS = ("identity", "pca-whiten", "within-whiten")


# ---- the sampler --------------------------------------------------------------------------------------------


class PKSampler:
    """Batches of P people x K photos (indices into the item list); people with one photo cannot give a positive.

    Each batch takes P distinct people uniformly (a person with 500 photos does not crowd out the rest), and K
    of each one's photos without replacement; a person with fewer than K photos repeats some (a repeat is a
    zero-distance positive, harmless to the loss). An epoch is as many batches as cover every item about once.
    """

    def __init__(self, labels: Sequence[int], people_per_batch: int, photos_per_person: int, seed: int = 0,
                 neighbours: dict[int, np.ndarray] | None = None) -> None:
        if people_per_batch < 2 or photos_per_person < 2:
            raise TrainError(f"P x K = {people_per_batch} x {photos_per_person}: a triplet batch needs P >= 2 people and K >= 2 photos each")
        labels = np.asarray(labels)
        by_person: dict[int, list[int]] = {}
        for index, label in enumerate(labels.tolist()):
            by_person.setdefault(label, []).append(index)
        self.people = {p: np.array(items) for p, items in by_person.items() if len(items) >= 2}
        self.single_photo_people = sum(1 for items in by_person.values() if len(items) < 2)
        if len(self.people) < 2:
            raise TrainError(f"{len(self.people)} people with two or more photos: triplet training needs at least two")
        self.p = min(people_per_batch, len(self.people))
        self.k = photos_per_person
        self.items = sum(len(v) for v in self.people.values())
        self.rng = np.random.default_rng(seed)
        self._keys = np.array(sorted(self.people))
        # Hard people: half of each batch drawn at random, each with the person nearest to them (`look_alikes`),
        # so the in-batch negatives include the look-alikes a random batch of P rarely holds.
        self.neighbours = neighbours

    def __len__(self) -> int:
        """Batches per epoch."""
        return max(1, math.ceil(self.items / (self.p * self.k)))

    def batch(self) -> np.ndarray:
        """One batch: P*K item indices, K consecutive ones per person."""
        chosen = self.rng.choice(self._keys, size=self.p, replace=False)
        if self.neighbours is not None:
            picked: list[int] = []
            for seed_person in chosen.tolist():
                for person in [seed_person, *self.neighbours.get(seed_person, [])[:1]]:
                    if person not in picked and len(picked) < self.p:
                        picked.append(int(person))
            chosen = np.array(picked)
        rows = []
        for person in chosen:
            items = self.people[int(person)]
            rows.append(self.rng.choice(items, size=self.k, replace=len(items) < self.k))
        return np.concatenate(rows)

    def __iter__(self) -> Iterator[np.ndarray]:
        for _ in range(len(self)):
            yield self.batch()


# ---- the head over a shipped model ---------------------------------------------------------------------------


class FaceHead(nn.Module):
    """(n, base_dim) unit vectors -> (n, dim) unit vectors: a linear map, or x + MLP(x) then a linear map."""

    def __init__(self, base_dim: int, dim: int | None = None, kind: str = "linear", hidden: int = 512) -> None:
        super().__init__()
        if kind not in HEAD_KINDS:
            raise TrainError(f"--head {kind!r}: use one of {', '.join(HEAD_KINDS)}")
        dim = dim or base_dim
        self.kind = kind
        self.residual = None
        if kind == "mlp":
            self.residual = nn.Sequential(nn.Linear(base_dim, hidden), nn.GELU(), nn.Linear(hidden, base_dim))
            nn.init.zeros_(self.residual[2].weight)  # starts as the identity: the residual adds nothing yet
            nn.init.zeros_(self.residual[2].bias)
        self.linear = nn.Linear(base_dim, dim, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(dim, base_dim))

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """Map base unit vectors to the head's unit vectors."""
        x = vectors if self.residual is None else vectors + self.residual(vectors)
        return F.normalize(self.linear(x), dim=1)

    def init_from(self, vectors: np.ndarray, labels: np.ndarray, how: str, shrink: float = 0.1) -> None:
        """Set the linear map to a whitening of the training vectors (`pca-whiten`: of all; `within-whiten`: of the
        spread within people, WCCN), shrunk towards the identity by `shrink` so rare directions are not blown up."""
        if how == "identity":
            return
        if how not in HEAD_INITS:
            raise TrainError(f"--init {how!r}: use one of {', '.join(HEAD_INITS)}")
        x = np.asarray(vectors, np.float64)
        if how == "pca-whiten":
            centred = x - x.mean(axis=0)
        else:
            labels = np.asarray(labels)
            means = {p: x[labels == p].mean(axis=0) for p in np.unique(labels)}
            centred = x - np.stack([means[p] for p in labels.tolist()])
        covariance = centred.T @ centred / max(len(x) - 1, 1)
        covariance = (1 - shrink) * covariance + shrink * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
        values, vectors_ = np.linalg.eigh(covariance)
        whitening = vectors_ @ np.diag(values ** -0.5) @ vectors_.T
        whitening /= np.linalg.norm(whitening, 2)  # the scale is lost in the normalisation anyway
        out, base = self.linear.weight.shape
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(whitening[:out], dtype=torch.float32))


@dataclass
class HeadSettings:
    """How a triplet head is trained (`facegrid train triplet`, `facegrid eval lfw|openset --train-head triplet`).

    P = 128 and the L2-SP anchor 0.01 are the settings that held accuracy: measured from outside (issue 24),
    LFW View 2 per fold over `fused`: 99.62% with them, 99.35% with the former P = 32 and no anchor,
    99.60% without a head.
    """

    kind: str = "linear"
    dim: int | None = None  # None: the base model's dimension
    init: str = "identity"
    hidden: int = 512
    epochs: int = 10
    people_per_batch: int = 128  # P; a training set of fewer people gives P = its people (noted on the run)
    photos_per_person: int = 4  # K
    margin: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 0.0
    anchor: float = 0.01  # L2 pull of the parameters towards their start (the identity / the whitening)
    hard_people: bool = False  # batches pair people with their look-alikes (nearest mean vectors)
    seed: int = 0


@dataclass
class TrainLog:
    """What a training loop did: mean loss per epoch and the triplet counts of the last epoch."""

    losses: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    items: int = 0
    seconds: float = 0.0
    people_per_batch: int = 0  # the P batches had: the one asked, or fewer where the training set has fewer people


def look_alikes(vectors: np.ndarray, labels: np.ndarray, people: Sequence[int], count: int = 3) -> dict[int, np.ndarray]:
    """Person -> the `count` other people whose mean vectors are nearest to theirs."""
    people = np.asarray(sorted(people))
    means = np.stack([vectors[labels == p].mean(axis=0) for p in people])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    similarity = means @ means.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1)[:, :count]
    return {int(p): people[row] for p, row in zip(people, nearest)}


def train_head(vectors: np.ndarray, labels: np.ndarray, settings: HeadSettings,
               progress: Callable[[int, int, float, int], None] | None = None) -> tuple[FaceHead, TrainLog]:
    """Fit a head on (n, base_dim) vectors of labelled people; returns it in eval mode and its log."""
    torch.manual_seed(settings.seed)
    vectors = np.asarray(vectors, np.float32)
    labels = np.asarray(labels)
    head = FaceHead(vectors.shape[1], settings.dim, settings.kind, settings.hidden)
    sampler = PKSampler(labels, settings.people_per_batch, settings.photos_per_person, settings.seed)
    keep = np.isin(labels, list(sampler.people))
    if settings.hard_people:
        sampler.neighbours = look_alikes(vectors, labels, list(sampler.people))
    head.init_from(vectors[keep], labels[keep], settings.init)
    data, targets = torch.from_numpy(vectors), torch.from_numpy(labels.astype(np.int64))
    start = [p.detach().clone() for p in head.parameters()]

    def stay_near_start() -> torch.Tensor:
        # L2-SP: the shipped model is already good; pull the head back towards where it started, not towards zero.
        return settings.anchor * sum(((p - p0) ** 2).sum() for p, p0 in zip(head.parameters(), start))

    log = train_loop(head, lambda rows: data[rows], targets, sampler, settings.epochs, settings.margin,
                     torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay), progress,
                     penalty=stay_near_start if settings.anchor > 0 else None)  # a linear map on vectors: f32 throughout
    return head.eval(), log


def train_loop(module: nn.Module, inputs: Callable[[np.ndarray], torch.Tensor], labels: torch.Tensor,
               sampler: PKSampler, epochs: int, margin: float, optimiser: torch.optim.Optimizer,
               progress: Callable[[int, int, float, int], None] | None = None,
               device: torch.device = torch.device("cpu"), on_epoch: Callable[[int, TrainLog], None] | None = None,
               start_epoch: int = 0, log: TrainLog | None = None,
               penalty: Callable[[], torch.Tensor] | None = None, precision: TrainPrecision | None = None) -> TrainLog:
    """The shared loop: per P x K batch, embed (under `precision`'s autocast), mine semi-hard triplets in f32,
    step; mean loss per epoch."""
    log = log or TrainLog()
    log.people_per_batch = sampler.p
    precision = precision or TrainPrecision("f32", "default")
    started = time.perf_counter() - log.seconds
    for epoch in range(start_epoch, epochs):
        module.train()
        total, steps, counts = 0.0, 0, {"triplets": 0, "active": 0, "semi_hard": 0}
        for step, rows in enumerate(sampler, 1):
            with precision.autocast(device):
                embeddings = module(inputs(rows).to(device))
            loss, batch_counts = triplet_semi_hard(embeddings.float(), labels[rows].to(device), margin)
            optimiser.zero_grad()
            (loss + penalty() if penalty is not None else loss).backward()
            optimiser.step()
            total += loss.item()
            steps += 1
            log.items += len(rows)
            for key in counts:
                counts[key] += batch_counts[key]
            if progress:
                progress(epoch + 1, step, float(loss), len(rows))
        log.losses.append(total / max(steps, 1))
        log.counts = counts
        log.seconds = time.perf_counter() - started
        if on_epoch:
            on_epoch(epoch + 1, log)
    module.eval()
    return log


def apply_head(head: nn.Module, vectors: np.ndarray, batch: int = 4096) -> np.ndarray:
    """The head's unit vectors for (n, base_dim) float32 vectors."""
    head.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(vectors), batch):
            out.append(head(torch.from_numpy(np.asarray(vectors[start:start + batch], np.float32))).numpy())
    return np.concatenate(out) if out else np.zeros((0, head.linear.out_features), np.float32)


# ---- a whole network from scratch -----------------------------------------------------------------------------

NETWORK_ARCHS = ("resnet18", "resnet34", "resnet50")
CHIP_MEAN = (0.5, 0.5, 0.5)
CHIP_STD = (0.5, 0.5, 0.5)


def face_network(arch: str, dim: int) -> nn.Module:
    """A torchvision ResNet with random weights whose last layer gives `dim` values (normalised by the loss and the server)."""
    import torchvision

    if arch not in NETWORK_ARCHS:
        raise TrainError(f"--arch {arch!r}: use one of {', '.join(NETWORK_ARCHS)}")
    return getattr(torchvision.models, arch)(weights=None, num_classes=dim)


def chips_tensor(chips: np.ndarray) -> torch.Tensor:
    """(n, h, w, 3) uint8 RGB chips -> (n, 3, h, w) float32 (rgb/255 - mean)/std, as the card tells the server."""
    x = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(CHIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CHIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def flip_some(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror about half the chips at random: a face and its mirror image are the same person."""
    flip = torch.rand(len(batch), generator=generator) < 0.5
    batch = batch.clone()
    batch[flip] = batch[flip].flip(3)
    return batch


def train_network(chips: np.ndarray, labels: np.ndarray, arch: str, dim: int, epochs: int, people_per_batch: int,
                  photos_per_person: int, margin: float, lr: float, seed: int = 0,
                  device: torch.device = torch.device("cpu"), progress=None, checkpoint=None,
                  precision: TrainPrecision | None = None) -> tuple[nn.Module, TrainLog]:
    """Train a ResNet from random weights on aligned chips with semi-hard triplets (the forward pass in
    `precision`, default f32); resumes from `checkpoint`. The returned network is f32, in eval mode."""
    torch.manual_seed(seed)
    network = face_network(arch, dim).to(device)
    sampler = PKSampler(labels, people_per_batch, photos_per_person, seed)
    optimiser = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=5e-4)
    data = chips_tensor(chips)
    targets = torch.from_numpy(np.asarray(labels, np.int64))
    generator = torch.Generator().manual_seed(seed)
    log, start = TrainLog(), 0
    if checkpoint is not None and checkpoint.exists():
        state = checkpoint.load()
        network.load_state_dict(state["network"])
        optimiser.load_state_dict(state["optimiser"])
        sampler.rng.bit_generator.state = state["sampler"]
        log = TrainLog(losses=state["losses"], items=state["items"], seconds=state["seconds"])
        start = len(log.losses)

    def save(epoch: int, so_far: TrainLog) -> None:
        if checkpoint is not None:
            checkpoint.save({"network": network.state_dict(), "optimiser": optimiser.state_dict(),
                             "sampler": sampler.rng.bit_generator.state, "losses": so_far.losses,
                             "items": so_far.items, "seconds": so_far.seconds})

    log = train_loop(network, lambda rows: flip_some(data[rows], generator), targets, sampler, epochs, margin,
                     optimiser, progress, device, save, start, log, precision=precision)
    return network.cpu().eval(), log


# ---- the recipe: a person-labelled folder in, a model folder out ------------------------------------------------


@dataclass
class TripletRun:
    """`facegrid train triplet DIR --out NAME`, as options."""

    folder: Path
    out: str
    models_dir: Path
    base: str | None = "fused"  # a head over this shipped model; None: a whole network (`arch`)
    arch: str = "head"  # resnet18/34/50 when base is None
    head: HeadSettings = field(default_factory=HeadSettings)
    chip_size: int = 96
    dim: int = 128  # the network's output (the head's is head.dim)
    batch_lr: float | None = None
    device: str = "auto"
    precision: str = "auto"  # a network's forward pass: auto (bf16 where native), f32, bf16; a head is always f32
    threads: int = 0
    workers: int | None = None
    checkpoint_dir: Path | None = None


@dataclass
class LabelledItems:
    """What the folder yields: per item its person, and what was left out."""

    labels: np.ndarray  # (n,) person numbers
    people: list[str]  # person number -> folder name
    vectors: np.ndarray | None = None  # (n, base_dim) for a head
    chips: np.ndarray | None = None  # (n, s, s, 3) uint8 for a network
    skipped: dict = field(default_factory=dict)


def _labelled(by_person: dict[str, list[Path]], sources: list[str]) -> tuple[np.ndarray, list[str]]:
    names = sorted(by_person)
    number = {name: i for i, name in enumerate(names)}
    return np.array([number[Path(s).parent.name] for s in sources], np.int64), names


def _single_photo_people(labels: np.ndarray) -> int:
    return int((np.bincount(labels) == 1).sum()) if len(labels) else 0


def folder_vectors(folder: Path, base: str, workers: int | None = None) -> LabelledItems:
    """Every photo of DIR/person/* embedded once by the shipped model (the face nearest the centre, else a
    centred guess), through the evaluation cache; unreadable photos skipped and listed."""
    from facegrid.evaluation.lfw import embed_images

    from .data import person_folders

    by_person = person_folders(folder)
    root = Path(folder).expanduser()
    relative = [str(p.relative_to(root)) for paths in by_person.values() for p in paths]
    errors: dict[str, str] = {}
    vectors, detectors, _ = embed_images(root, relative, base, "cascade", None, workers, errors=errors)
    kept = [r for r in relative if r in vectors]
    labels, names = _labelled(by_person, kept)
    skipped: dict = {"single_photo_people": _single_photo_people(labels)}
    if errors:
        skipped["unreadable"] = errors
    guesses = sum(1 for r in kept if detectors[r] == "centre_guess")
    if guesses:
        skipped["no_face_centred_guess"] = guesses  # kept: embedded from a centred chip, as the evaluations do
    matrix = np.stack([vectors[r] for r in kept]).astype(np.float32) if kept else np.zeros((0, 1), np.float32)
    return LabelledItems(labels, names, vectors=matrix, skipped=skipped)


def folder_chips(folder: Path, size: int, cache_file: Path | None) -> LabelledItems:
    """ArcFace chips of the face nearest the centre of every photo of DIR/person/*, facegrid's detector."""
    from .data import face_chips, person_folders

    by_person = person_folders(folder)
    photos = face_chips([p for paths in by_person.values() for p in paths], size, cache_file=cache_file, centre_only=True)
    labels, names = _labelled(by_person, photos.sources)
    skipped = {"single_photo_people": _single_photo_people(labels), **photos.skipped()}
    return LabelledItems(labels, names, chips=photos.images, skipped=skipped)


def run_triplet(run: TripletRun, progress_stream=None):
    """Train and export; the TrainResult (its folder the model folder written)."""
    from ..errors import ImportFailed
    from ..importers.folder import check_name
    from .run import Checkpoint, Progress, TrainResult, choose_device, choose_precision, set_threads

    if (Path(run.models_dir).expanduser() / check_name(run.out)).exists():  # before training, not after it
        raise ImportFailed(f"{Path(run.models_dir) / run.out} already exists: remove it first or choose another --out")
    set_threads(run.threads)
    device = choose_device(run.device)
    started = time.perf_counter()
    settings = run.head
    stream = progress_stream or sys.stderr
    if run.base is not None and run.precision == "bf16":
        raise TrainError(f"--precision {run.precision}: a head over {run.base} trains in f32 (it is a small map on vectors); "
                         "--precision applies to a whole network (--arch)")
    if run.base is not None:
        from ..models import model_dim

        items = folder_vectors(run.folder, run.base, run.workers)
        _enough(items)
        progress = Progress(f"triplet head over {run.base}", _batches(items, settings, stream), progress_stream)
        head, log = train_head(items.vectors, items.labels, settings, progress.update)
        progress.close()
        arch = f"head-{settings.kind}"
        from .export import export_face_head

        folder = export_face_head(head, run.models_dir, run.out, base=run.base, base_dim=model_dim(run.base), arch=arch,
                                  extra={"training": _card_training(run, items, log)})
    else:
        precision = choose_precision(run.precision, device)
        print(f"triplet {run.arch}: training in {precision.name} ({precision.why}); export in f32", file=stream, flush=True)
        checkpoints = run.checkpoint_dir or _default_checkpoints(run.out)
        items = folder_chips(run.folder, run.chip_size, checkpoints / "detections.json")
        _enough(items)
        progress = Progress(f"triplet {run.arch}", _batches(items, settings, stream), progress_stream)
        network, log = train_network(items.chips, items.labels, run.arch, run.dim, settings.epochs, settings.people_per_batch,
                                     settings.photos_per_person, settings.margin, settings.lr, settings.seed, device,
                                     progress.update, Checkpoint(checkpoints / "triplet.pt", "triplet", run.arch), precision)
        progress.close()
        from .export import export_face_model

        folder = export_face_model(network, run.models_dir, run.out, arch=run.arch, size=run.chip_size,
                                   mean=CHIP_MEAN, std=CHIP_STD,
                                   extra={"training": _card_training(run, items, log, precision.name)})
    skipped = dict(items.skipped)
    return TrainResult(model=run.out, epochs=settings.epochs, images=log.items, seconds=time.perf_counter() - started,
                       final_loss=log.losses[-1] if log.losses else None, losses=log.losses, folder=str(folder),
                       skipped=skipped)


def _batches(items: LabelledItems, settings: HeadSettings, stream) -> int:
    """Batches per epoch; a note on `stream` when the folder has fewer people than P (the sampler takes them all)."""
    sampler = PKSampler(items.labels, settings.people_per_batch, settings.photos_per_person)
    if sampler.p < settings.people_per_batch:
        print(f"triplet: P = {sampler.p} people a batch, not the {settings.people_per_batch} asked: the folder has "
              f"{sampler.p} people with two or more usable photos", file=stream, flush=True)
    return len(sampler)


def _enough(items: LabelledItems) -> None:
    counts = np.bincount(items.labels) if len(items.labels) else np.zeros(0, int)
    if int((counts >= 2).sum()) < 2:
        raise TrainError(f"{int((counts >= 2).sum())} people with two or more usable photos "
                         f"({len(items.people)} person folders, {items.skipped}): triplet training needs at least two")


def _default_checkpoints(out: str) -> Path:
    from ..assets import default_data_dir

    return default_data_dir() / "train" / out


def _card_training(run: TripletRun, items: LabelledItems, log: TrainLog, precision: str = "f32") -> dict:
    """What the card records of how the model was trained (for an operator reading it later)."""
    settings = run.head
    recipe = {"recipe": "triplet", "folder": str(run.folder), "people": len(items.people), "items": int(len(items.labels)),
              "epochs": settings.epochs, "people_per_batch": log.people_per_batch or settings.people_per_batch,
              "people_per_batch_asked": settings.people_per_batch,
              "photos_per_person": settings.photos_per_person, "margin": settings.margin, "lr": settings.lr,
              "precision": precision, "final_loss": log.losses[-1] if log.losses else None}
    if run.base is not None:
        recipe.update({"base": run.base, "head": settings.kind, "init": settings.init, "anchor": settings.anchor})
    return recipe
