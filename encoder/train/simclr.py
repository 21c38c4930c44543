"""SimCLR: a ResNet learns from unlabeled photos (or face chips) that two augmentations of one photo belong together.

Two views of each photo in a batch go through the backbone and a 2-layer projection head; NT-Xent pulls
each view towards its twin and away from every other view. After training the head is dropped: the
exported model is the backbone's pooled features (layer 4, or layer 3, which kept more of what tells
faces apart at this scale), optionally followed by PCA whitening fitted on the training items' own
vectors and folded into the graph as one linear layer, so serving and evaluation see exactly what was
measured. With --faces the defaults are what scored best: layer 3, whitened to 128-d.

Precision (--precision auto|f32|bf16): the network's forward pass runs under torch's bf16 autocast where
the CPU computes bf16 natively (AVX-512 BF16 or AMX, encoder/cpu_features.py) or the GPU has it; the
NT-Xent logits and softmax, the optimiser's weights, whitening and export stay f32. Elsewhere auto is f32
and an explicit bf16 is refused: emulated bf16 ran a training step 14-26x slower than f32 on the 2-core
AMD EPYC without bf16 this was written on.

What was measured where (issue 24; docs/training.md):
- f32, a 2-core AMD EPYC without bf16, one thread, 60 CPU minutes (22 epochs) on LFW's 5,532 View-2-unused
  photos, batch 128, lr 1e-3: 71.00% on View 2 (layer 3 + whitening to 128-d), +6.0 points over the best
  random-weight scoring (65.00%); the targets are >= 72% and >= +7. 10 minutes gave 68.25%; the loss was
  still falling at 60 minutes.
- bf16 autocast was measured 2x faster than f32 for this ResNet-18 on an AMD EPYC with AVX-512 BF16 (from
  outside the project): about twice the steps (~44 epochs) in the hour. Neither the bf16 run's accuracy
  nor its speed inside this recipe has been measured here (no bf16 on this machine); the defaults (batch
  128, lr 1e-3 constant, temperature 0.2, 96-px chips) are the ones measured in f32.
- Not sped up by bf16: the per-item augmentation, on the same core. Measured on a 2-core Zen 3 without
  AVX-512 (shared): 1.2-1.6 s per batch of 128 pairs beside a 17 s f32 step; against the ~3.8 s f32 step
  implied above it would be a third of a bf16 step, so expect ~1.5-1.7x the steps, not 2x (an estimate).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from ..errors import EncoderError
from .augment import AugmentSettings, TwoViews, normalise, simclr_transform
from .data import Photos, face_chips, list_photos, load_photos
from .losses import nt_xent
from .run import Checkpoint, Progress, TrainError, TrainPrecision, TrainResult, choose_device, choose_precision, set_threads

RECIPE = "simclr"
MEAN = STD = (0.5, 0.5, 0.5)  # the chip normalisation written into the card
FEATURE_LAYERS = ("layer3", "layer4")
# Settings a resumed run must share with the checkpoint (the rest, like --epochs, --minutes or the exported layer, may change).
_RESUME_KEYS = ("faces", "size", "temperature", "batch", "projection", "arch", "lr", "weight_decay")
FACE_WHITEN = 128  # the default whitening of face chips (the best scoring after 60 CPU minutes, docs/training.md)


@dataclass
class SimclrConfig:
    """Everything one SimCLR run needs; the CLI fills it from its options (None: the recipe's default)."""

    folder: Path
    out: str
    models_dir: Path
    checkpoint_dir: Path
    faces: bool = False
    arch: str = "resnet18"
    checkpoint: Path | None = None  # a torchvision state dict to start from (else random weights)
    temperature: float = 0.2
    size: int = 96
    epochs: int | None = 10  # None: until --minutes are spent
    minutes: float | None = None  # a training-time budget instead of (or as well as) epochs
    clock: str = "wall"  # what --minutes counts: wall-clock time, or this process's CPU time (a shared machine)
    batch: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    projection: int = 128
    # The exported layer and whitening: None picks what scored best on faces (layer 3, whitened to 128-d when
    # there are enough training items), and layer 4 unwhitened for whole photos (not measured).
    feature: str | None = None
    whiten: int | None = None  # PCA-whiten the exported vectors to this many dimensions (0: no whitening)
    mirror: bool = False  # export the mean of each input's and its mirror image's features (in the graph)
    precision: str = "auto"  # auto (bf16 where the hardware computes it natively), f32, bf16
    device: str = "auto"
    threads: int = 0
    seed: int = 0
    detector: str = "cascade"
    min_face: float = 40.0

    def chosen_feature(self) -> str:
        """The exported layer: --feature, else layer3 for faces and layer4 for photos."""
        return self.feature or ("layer3" if self.faces else "layer4")

    def chosen_whiten(self, items: int) -> int:
        """The whitening: --whiten, else for faces 128-d when there are at least 4 training items a dimension
        (fewer would fit noise), else none; 0 for photos."""
        if self.whiten is not None:
            return self.whiten
        return FACE_WHITEN if self.faces and items >= 4 * FACE_WHITEN else 0


def resnet_archs() -> list[str]:
    """torchvision's ResNet family (the backbones this recipe knows how to cut at a layer)."""
    return sorted(n for n in torchvision.models.list_models(module=torchvision.models)
                  if n.startswith(("resnet", "resnext", "wide_resnet")))


class SimclrNet(nn.Module):
    """A torchvision ResNet without its classifier, and the projection head the loss sees."""

    def __init__(self, arch: str, projection: int = 128) -> None:
        super().__init__()
        self.backbone = torchvision.models.get_model(arch, weights=None)
        width = self.backbone.fc.in_features
        self.backbone.fc = nn.Identity()
        self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, projection))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The projections the contrastive loss compares."""
        return self.head(self.backbone(x))


class Features(nn.Module):
    """The exported tower: the backbone's globally pooled features at `layer` (with `mirror`, averaged with
    the mirror image's), then an optional linear map."""

    def __init__(self, backbone: nn.Module, layer: str, linear: nn.Linear | None = None, mirror: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.layer = layer
        self.linear = linear
        self.mirror = mirror

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features (mirror-averaged when asked), through the linear probe if there is one."""
        x = (self._pooled(x) + self._pooled(x.flip(-1))) / 2 if self.mirror else self._pooled(x)
        return self.linear(x) if self.linear is not None else x

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        x = b.layer3(b.layer2(b.layer1(x)))
        if self.layer == "layer4":
            x = b.layer4(x)
        return x.mean(dim=(2, 3))


def build_net(config: SimclrConfig) -> SimclrNet:
    """The network with random weights, or the backbone from --checkpoint (another arch's file: TrainError)."""
    if config.arch not in resnet_archs():
        raise TrainError(f"--arch {config.arch!r}: use a torchvision ResNet ({', '.join(resnet_archs())})")
    torch.manual_seed(config.seed)
    net = SimclrNet(config.arch, config.projection)
    if config.checkpoint is not None:
        from ..importers.checkpoint import load_strictly, read_checkpoint

        reference = torchvision.models.get_model(config.arch, weights=None)
        try:
            state = read_checkpoint(Path(config.checkpoint)).state
            load_strictly(reference, state, Path(config.checkpoint), config.arch)
        except EncoderError as error:
            raise TrainError(str(error)) from None
        reference.fc = nn.Identity()
        net.backbone.load_state_dict(reference.state_dict())
    return net


def load_items(config: SimclrConfig) -> Photos:
    """The training items: face chips (--faces, detections cached in the checkpoint folder) or whole photos."""
    paths = list_photos(config.folder)
    if config.faces:
        photos = face_chips(paths, config.size, detector=config.detector, min_face=config.min_face,
                            cache_file=config.checkpoint_dir / "faces.json")
    else:
        photos = load_photos(paths, side=round(config.size * 1.15))
    if len(photos.images) < 2:
        what = "faces" if config.faces else "readable photos"
        raise TrainError(f"{config.folder}: {len(photos.images)} {what} found, SimCLR needs at least 2 "
                         f"(skipped: {photos.skipped() or 'none'})")
    return photos


def _settings(config: SimclrConfig) -> dict:
    return {k: getattr(config, k) for k in _RESUME_KEYS}


class _Trainer:
    """One run's state: the items, network, optimiser, and where it stands (epoch, step, seconds trained)."""

    def __init__(self, config: SimclrConfig, photos: Photos, device: torch.device, precision: TrainPrecision) -> None:
        self.config = config
        self.device = device
        self.precision = precision
        self.images = torch.from_numpy(photos.images).permute(0, 3, 1, 2).contiguous()  # (n, 3, h, w) uint8
        augment = AugmentSettings.for_faces(config.size) if config.faces else AugmentSettings.for_photos(config.size)
        self.views = TwoViews(simclr_transform(augment))
        self.batch = max(2, min(config.batch, len(self.images)))
        self.steps = max(1, len(self.images) // self.batch)  # the last partial batch is dropped (NT-Xent wants full batches)
        self.net = build_net(config).to(device)
        self.optimiser = torch.optim.AdamW(self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.store = Checkpoint(config.checkpoint_dir / "simclr.pt", RECIPE, config.arch)
        self.epoch, self.step, self.seconds, self.cpu_seconds, self.seen = 0, 0, 0.0, 0.0, 0
        self.losses: list[float] = []
        self._epoch_losses: list[float] = []

    def resume(self) -> bool:
        """Continue from the checkpoint folder's state when there is one (same recipe, arch and settings)."""
        if not self.store.exists():
            return False
        state = self.store.load()
        if state.get("settings") != _settings(self.config):
            raise TrainError(f"{self.store.path}: saved with {state.get('settings')}, this run asks for {_settings(self.config)}: "
                             "resume with the same settings, or give another --checkpoint-dir / --out to start afresh")
        self.net.load_state_dict(state["net"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.epoch, self.step, self.seconds, self.seen = state["epoch"], state["step"], state["seconds"], state["seen"]
        self.cpu_seconds = state.get("cpu_seconds", 0.0)
        self.losses, self._epoch_losses = state["losses"], state["epoch_losses"]
        return True

    def save(self) -> None:
        self.store.save({"net": self.net.state_dict(), "optimiser": self.optimiser.state_dict(), "settings": _settings(self.config),
                         "epoch": self.epoch, "step": self.step, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "seen": self.seen,
                         "losses": self.losses, "epoch_losses": self._epoch_losses})

    def _order(self, epoch: int) -> torch.Tensor:
        """This epoch's shuffle, the same on a resumed run (so a half-done epoch continues where it stopped)."""
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        return torch.randperm(len(self.images), generator=generator)

    def _train_step(self, indices: torch.Tensor) -> float:
        pairs = [self.views(self.images[i]) for i in indices.tolist()]
        a = normalise(torch.stack([p[0] for p in pairs])).to(self.device)
        b = normalise(torch.stack([p[1] for p in pairs])).to(self.device)
        with self.precision.autocast(self.device):
            z = self.net(torch.cat([a, b]))  # one pass: BatchNorm sees both views, as SimCLR's global BN does
        za, zb = z.float().chunk(2)  # the NT-Xent logits and softmax in f32, outside autocast
        loss = nt_xent(za, zb, self.config.temperature)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return float(loss.detach())

    def run(self, progress: Progress) -> None:
        """Train until --epochs are done or --minutes of training time are spent; checkpoint every epoch and on Ctrl-C."""
        budget = self.config.minutes * 60 if self.config.minutes else math.inf
        if self.config.clock not in ("wall", "cpu"):
            raise TrainError(f"--clock {self.config.clock!r}: use wall or cpu")
        spent = (lambda: self.cpu_seconds) if self.config.clock == "cpu" else (lambda: self.seconds)
        epochs = self.config.epochs if self.config.epochs is not None else math.inf
        self.net.train()
        try:
            while self.epoch < epochs and spent() < budget:
                order = self._order(self.epoch)
                while self.step < self.steps and spent() < budget:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    indices = order[self.step * self.batch:(self.step + 1) * self.batch]
                    loss = self._train_step(indices)
                    if not math.isfinite(loss):
                        raise TrainError(f"the loss became {loss} at epoch {self.epoch + 1} step {self.step + 1}: "
                                         "lower --lr or raise --temperature")
                    self._epoch_losses.append(loss)
                    self.step += 1
                    self.seen += len(indices)
                    self.seconds += time.perf_counter() - started
                    self.cpu_seconds += time.process_time() - cpu_started
                    progress.update(self.epoch + 1, self.step, loss, len(indices))
                if self.step >= self.steps:
                    self.losses.append(float(np.mean(self._epoch_losses)))
                    self._epoch_losses, self.step = [], 0
                    self.epoch += 1
                self.save()
        except KeyboardInterrupt:
            self.save()
            raise TrainError(f"interrupted at epoch {self.epoch + 1} step {self.step}; the state is saved in {self.store.path}: "
                             "run the same command again to resume") from None
        finally:
            progress.close()

    def final_loss(self) -> float | None:
        """The last full epoch's mean loss, else the running mean of the epoch the budget cut short."""
        if self._epoch_losses:
            return float(np.mean(self._epoch_losses))
        return self.losses[-1] if self.losses else None


@torch.no_grad()
def pooled_features(backbone: nn.Module, layer: str, items: torch.Tensor, mirror: bool = False, batch: int = 256) -> torch.Tensor:
    """Features of un-augmented (n, 3, size, size) uint8 items, fp32, in eval mode."""
    tower = Features(backbone, layer, mirror=mirror).eval()
    return torch.cat([tower(normalise(items[i:i + batch])) for i in range(0, len(items), batch)])


def pca_whitening(features: torch.Tensor, dim: int, eps: float = 1e-5) -> nn.Linear:
    """A linear layer (x - mean) @ U_k / sqrt(lambda_k + eps * lambda_max): PCA whitening to `dim` dims."""
    x = features.double()
    mean = x.mean(dim=0)
    centred = x - mean
    covariance = centred.T @ centred / max(1, len(x) - 1)
    values, vectors = torch.linalg.eigh(covariance)  # ascending
    values, vectors = values.flip(0)[:dim], vectors.flip(1)[:, :dim]
    scale = vectors / torch.sqrt(values.clamp_min(0) + eps * float(values[0]))
    linear = nn.Linear(x.shape[1], scale.shape[1])
    linear.weight.data = scale.T.float().contiguous()
    linear.bias.data = (-mean @ scale).float()
    return linear


def export_tower(trainer: _Trainer) -> nn.Module:
    """The backbone at the chosen layer, with PCA whitening fitted on the training items when asked (f32, eval mode)."""
    config = trainer.config
    backbone = trainer.net.backbone.to("cpu").eval()
    layer, whiten = config.chosen_feature(), config.chosen_whiten(len(trainer.images))
    linear = None
    if whiten:
        items = trainer.images
        if not config.faces:  # whole photos were stored a little larger: the centre at the trained size
            offset = (items.shape[-1] - config.size) // 2
            items = items[:, :, offset:offset + config.size, offset:offset + config.size]
        features = pooled_features(backbone, layer, items, config.mirror)
        if whiten > min(features.shape):
            raise TrainError(f"--whiten {whiten}: at most {min(features.shape)} (the features' width, and the items' count)")
        linear = pca_whitening(features, whiten)
    return Features(backbone, layer, linear, config.mirror).eval()


def _check_out(config: SimclrConfig) -> None:
    """Refuse a bad or taken --out before any training time is spent."""
    from ..importers.folder import check_name

    try:
        check_name(config.out)
    except EncoderError as error:
        raise TrainError(str(error)) from None
    if (Path(config.models_dir) / config.out).exists():
        raise TrainError(f"{Path(config.models_dir) / config.out} already exists: remove it first or choose another --out")
    if config.chosen_feature() not in FEATURE_LAYERS:
        raise TrainError(f"--feature {config.feature!r}: use one of {', '.join(FEATURE_LAYERS)}")
    if config.epochs is not None and config.epochs < 0:
        raise TrainError("--epochs must be 0 or more")


def train_simclr(config: SimclrConfig, progress_stream=None) -> TrainResult:
    """Train (or resume), export the backbone as a model folder, and summarise the run."""
    _check_out(config)
    set_threads(config.threads)
    device = choose_device(config.device)
    precision = choose_precision(config.precision, device)  # before the photos are read: a refused bf16 costs nothing
    stream = progress_stream or sys.stderr
    print(f"simclr {config.out}: training in {precision.name} ({precision.why}); export in f32", file=stream, flush=True)
    photos = load_items(config)
    if config.faces and config.whiten is None and not config.chosen_whiten(len(photos.images)):
        print(f"simclr {config.out}: {len(photos.images)} chips, fewer than {4 * FACE_WHITEN}: exported without the default "
              f"{FACE_WHITEN}-d whitening (--whiten DIM to ask for it)", file=stream, flush=True)
    trainer = _Trainer(config, photos, device, precision)
    trainer.resume()  # a checkpoint in --checkpoint-dir: continue from it (or export it, when its budget is spent)
    trainer.run(Progress(f"simclr {config.out}", trainer.steps, stream=progress_stream))
    tower = export_tower(trainer)
    whiten = config.chosen_whiten(len(photos.images))
    extra = {"recipe": RECIPE, "feature_layer": config.chosen_feature(), "whiten": whiten or None, "mirror": config.mirror,
             "projection_dropped": config.projection, "trained": {
                 "epochs": trainer.epoch, "step_in_epoch": trainer.step, "items_seen": trainer.seen,
                 "seconds": round(trainer.seconds, 1), "cpu_seconds": round(trainer.cpu_seconds, 1), "train_items": len(photos.images),
                 "temperature": config.temperature, "batch": trainer.batch, "lr": config.lr, "precision": precision.name,
                 "start": str(config.checkpoint) if config.checkpoint else "random"}}
    from . import export

    try:
        if config.faces:
            folder = export.export_face_model(tower, config.models_dir, config.out, arch=config.arch, size=config.size,
                                              geometry="arcface", mean=list(MEAN), std=list(STD), extra=extra)
        else:
            preprocess = {"size": [config.size, config.size], "mode": "RGB", "mean": list(MEAN), "std": list(STD),
                          "interpolation": "bilinear", "resize_mode": "shortest", "fill_color": 0,
                          "resize": round(config.size * 1.15)}
            folder = export.export_image_model(tower, config.models_dir, config.out, arch=config.arch,
                                               preprocess_cfg=preprocess, extra=extra)
    except EncoderError as error:
        raise TrainError(f"exporting {config.out}: {error}") from None
    return TrainResult(model=config.out, epochs=trainer.epoch, images=trainer.seen, seconds=trainer.seconds,
                       final_loss=trainer.final_loss(), losses=[round(x, 6) for x in trainer.losses],
                       folder=str(folder), skipped=photos.skipped())


def config_dict(config: SimclrConfig) -> dict:
    """The config as JSON-ready values (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
