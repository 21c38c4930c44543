"""SimCLR: a ResNet learns from unlabeled photos (or face chips) that two augmentations of one photo belong together.

Two views of each photo in a batch go through the backbone and a 2-layer projection head; NT-Xent pulls
each view towards its twin and away from every other view. After training the head is dropped: the
exported model is the backbone's pooled features (layer 4, or layer 3, which kept more of what tells
faces apart at this scale), optionally followed by PCA whitening fitted on the training items' own
vectors and folded into the graph as one linear layer, so serving and evaluation see exactly what was
measured.
"""

from __future__ import annotations

import math
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
from .run import Checkpoint, Progress, TrainError, TrainResult, choose_device, set_threads

RECIPE = "simclr"
MEAN = STD = (0.5, 0.5, 0.5)  # the chip normalisation written into the card
FEATURE_LAYERS = ("layer3", "layer4")
# Settings a resumed run must share with the checkpoint (the rest, like --epochs, --minutes or the exported layer, may change).
_RESUME_KEYS = ("faces", "size", "temperature", "batch", "projection", "arch", "lr", "weight_decay")


@dataclass
class SimclrConfig:
    """Everything one run needs; the CLI fills it from its options."""

    folder: Path
    out: str
    models_dir: Path
    checkpoint_dir: Path
    faces: bool = False
    arch: str = "resnet18"
    checkpoint: Path | None = None  # a torchvision state dict to start from (else random weights)
    temperature: float = 0.2
    size: int = 96
    epochs: int = 10
    minutes: float | None = None  # a training-time budget instead of (or as well as) epochs
    clock: str = "wall"  # what --minutes counts: wall-clock time, or this process's CPU time (a shared machine)
    batch: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    projection: int = 128
    feature: str = "layer4"
    whiten: int = 0  # PCA-whiten the exported vectors to this many dimensions (0: no whitening)
    mirror: bool = False  # export the mean of each input's and its mirror image's features (in the graph)
    precision: str = "auto"  # auto (bf16 where the hardware has it), bf16, fp32
    device: str = "auto"
    threads: int = 0
    seed: int = 0
    detector: str = "cascade"
    min_face: float = 40.0


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


def _autocast(device: torch.device, precision: str):
    """bf16 autocast where asked (auto: on a CUDA GPU with bf16, or a CPU with AMX/AVX-512 bf16), else a no-op."""
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    if precision == "auto":
        if device.type == "cuda":
            enabled = torch.cuda.is_bf16_supported()
        else:
            enabled = bool(getattr(torch.backends.mkldnn, "is_available", lambda: False)()) and _cpu_has_bf16()
    elif precision == "bf16":
        enabled = True
    else:
        raise TrainError(f"--precision {precision!r}: use auto, bf16 or fp32")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX-512 BF16); elsewhere bf16 is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _settings(config: SimclrConfig) -> dict:
    return {k: getattr(config, k) for k in _RESUME_KEYS}


class _Trainer:
    """One run's state: the items, network, optimiser, and where it stands (epoch, step, seconds trained)."""

    def __init__(self, config: SimclrConfig, photos: Photos, device: torch.device) -> None:
        self.config = config
        self.device = device
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

    def _train_step(self, indices: torch.Tensor, autocast) -> float:
        pairs = [self.views(self.images[i]) for i in indices.tolist()]
        a = normalise(torch.stack([p[0] for p in pairs])).to(self.device)
        b = normalise(torch.stack([p[1] for p in pairs])).to(self.device)
        with autocast:
            z = self.net(torch.cat([a, b]))  # one pass: BatchNorm sees both views, as SimCLR's global BN does
        za, zb = z.float().chunk(2)
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
        autocast = _autocast(self.device, self.config.precision)
        try:
            while self.epoch < epochs and spent() < budget:
                order = self._order(self.epoch)
                while self.step < self.steps and spent() < budget:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    indices = order[self.step * self.batch:(self.step + 1) * self.batch]
                    loss = self._train_step(indices, autocast)
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
    """The backbone at the chosen layer, with PCA whitening fitted on the training items when asked."""
    config = trainer.config
    backbone = trainer.net.backbone.to("cpu").eval()
    linear = None
    if config.whiten:
        items = trainer.images
        if not config.faces:  # whole photos were stored a little larger: the centre at the trained size
            offset = (items.shape[-1] - config.size) // 2
            items = items[:, :, offset:offset + config.size, offset:offset + config.size]
        features = pooled_features(backbone, config.feature, items, config.mirror)
        if config.whiten > min(features.shape):
            raise TrainError(f"--whiten {config.whiten}: at most {min(features.shape)} (the features' width, and the items' count)")
        linear = pca_whitening(features, config.whiten)
    return Features(backbone, config.feature, linear, config.mirror).eval()


def _check_out(config: SimclrConfig) -> None:
    """Refuse a bad or taken --out before any training time is spent."""
    from ..importers.folder import check_name

    try:
        check_name(config.out)
    except EncoderError as error:
        raise TrainError(str(error)) from None
    if (Path(config.models_dir) / config.out).exists():
        raise TrainError(f"{Path(config.models_dir) / config.out} already exists: remove it first or choose another --out")
    if config.feature not in FEATURE_LAYERS:
        raise TrainError(f"--feature {config.feature!r}: use one of {', '.join(FEATURE_LAYERS)}")
    if config.epochs is not None and config.epochs < 0:
        raise TrainError("--epochs must be 0 or more")


def train_simclr(config: SimclrConfig, progress_stream=None) -> TrainResult:
    """Train (or resume), export the backbone as a model folder, and summarise the run."""
    _check_out(config)
    set_threads(config.threads)
    device = choose_device(config.device)
    photos = load_items(config)
    trainer = _Trainer(config, photos, device)
    trainer.resume()  # a checkpoint in --checkpoint-dir: continue from it (or export it, when its budget is spent)
    trainer.run(Progress(f"simclr {config.out}", trainer.steps, stream=progress_stream))
    tower = export_tower(trainer)
    extra = {"recipe": RECIPE, "feature_layer": config.feature, "whiten": config.whiten or None, "mirror": config.mirror,
             "projection_dropped": config.projection, "trained": {
                 "epochs": trainer.epoch, "step_in_epoch": trainer.step, "items_seen": trainer.seen,
                 "seconds": round(trainer.seconds, 1), "cpu_seconds": round(trainer.cpu_seconds, 1), "train_items": len(photos.images),
                 "temperature": config.temperature, "batch": trainer.batch, "lr": config.lr,
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
