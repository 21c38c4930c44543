"""`facegrid models import minifasnet`: MiniFASNet presentation-attack checkpoints into a liveness model folder.

MiniFASNet (minivision-ai/Silent-Face-Anti-Spoofing, Apache-2.0) is a small MobileFaceNet-like network over an
80x80 patch cut around the face box at a fixed scale (2.7x for MiniFASNetV2, 4.0x for MiniFASNetV1SE: it reads
the context around the face, a phone's edge or a hand). Three classes; class 1 is live. The network is written
here from the published description; each checkpoint's state dict is loaded strictly into it (the upstream files
carry DataParallel's "module." prefix) and exported to ONNX with the softmax inside, so the runtime needs no
torch. The folder gets a `liveness.json` card, which the tower registry skips (encoder/liveness/card.py).

Measured from outside on the upstream files: input is BGR, NOT divided by 255; the patch is the face box
scaled about its centre (shrunk to fit the image) and shifted inside the image, resized to 80x80.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImportFailed
from ..liveness.card import CARD_FILE, LivenessCard, PatchModel, read_liveness_card
from .folder import check_name, sha256, staged_folder, write_json

try:  # the import extra
    import torch
    from torch import nn

    from .checkpoint import load_strictly, read_checkpoint
except ImportError as _missing:  # pragma: no cover
    torch = None
    _MISSING = _missing

SOURCE = "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing"
INPUT_NAME, OUTPUT_NAME = "patch", "probabilities"
LIVE_CLASS = 1
PATCH_SIZE = 80
CHECK_TOLERANCE = 1e-4  # max abs difference of probabilities, torch against ONNX Runtime


@dataclass(frozen=True)
class Widths:
    """The channel widths of one MiniFASNet variant (pruned per block, so every block has its own)."""

    stem: int  # conv1 and conv2_dw
    stages: tuple[tuple[int, tuple[int, ...], int], ...]  # (downsampling block's inner width, residual blocks' inner widths, stage width)
    head: int  # conv_6 width, the embedding's input


# The two pruned variants of the published model ("1.8M" and "1.8M_" upstream); V1SE uses the first, V2 the second.
_WIDE = Widths(32, ((103, (13, 26, 13, 52), 64), (231, (154, 52, 26, 52, 26, 26), 128), (308, (26, 26), 128)), 512)
_NARROW = Widths(32, ((103, (13, 13, 13, 13), 64), (231, (231, 52, 26, 77, 26, 26), 128), (308, (26, 26), 128)), 512)
ARCHS = {"MiniFASNetV2": (_NARROW, False), "MiniFASNetV1SE": (_WIDE, True)}
DEFAULT_SCALES = {"MiniFASNetV2": 2.7, "MiniFASNetV1SE": 4.0}  # the upstream files' names say so
EMBEDDING, CLASSES = 128, 3

if torch is not None:

    class ConvBN(nn.Module):
        """Convolution without bias, batch norm, and PReLU unless `act` is False."""

        def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True,
                     padding: int | None = None) -> None:
            super().__init__()
            padding = (kernel - 1) // 2 if padding is None else padding
            self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
            self.bn = nn.BatchNorm2d(c_out)
            if act:
                self.prelu = nn.PReLU(c_out)

        def forward(self, x):
            """Convolve and normalise, then apply PReLU when the block has one."""
            x = self.bn(self.conv(x))
            return self.prelu(x) if hasattr(self, "prelu") else x

    class SqueezeExcite(nn.Module):
        """Channel attention: pooled channels through a 1x1 bottleneck with batch norm, a sigmoid gate."""

        def __init__(self, channels: int, reduction: int = 4) -> None:
            super().__init__()
            inner = channels // reduction
            self.fc1, self.bn1 = nn.Conv2d(channels, inner, 1, bias=False), nn.BatchNorm2d(inner)
            self.fc2, self.bn2 = nn.Conv2d(inner, channels, 1, bias=False), nn.BatchNorm2d(channels)

        def forward(self, x):
            """Rescale each channel by a gate learnt from the pooled channels."""
            gate = x.mean(dim=(2, 3), keepdim=True)
            gate = torch.relu(self.bn1(self.fc1(gate)))
            return x * torch.sigmoid(self.bn2(self.fc2(gate)))

    class InvertedBlock(nn.Module):
        """1x1 expansion, 3x3 depthwise, 1x1 linear projection; residual when the stride is 1 (and SE before the add)."""

        def __init__(self, c_in: int, inner: int, c_out: int, stride: int, se: bool = False) -> None:
            super().__init__()
            self.conv = ConvBN(c_in, inner)
            self.conv_dw = ConvBN(inner, inner, 3, stride, groups=inner)
            self.project = ConvBN(inner, c_out, act=False)
            self.residual = stride == 1
            if se:
                self.se_module = SqueezeExcite(c_out)

        def forward(self, x):
            """Expand, filter depthwise and project; add the input back when the block is residual."""
            out = self.project(self.conv_dw(self.conv(x)))
            if not self.residual:
                return out
            if hasattr(self, "se_module"):
                out = self.se_module(out)
            return x + out

    class Stage(nn.Module):
        """Residual blocks at one width; with SE, the last block has squeeze-excitation."""

        def __init__(self, width: int, inners: tuple[int, ...], se: bool) -> None:
            super().__init__()
            self.model = nn.Sequential(*[InvertedBlock(width, inner, width, 1, se and i == len(inners) - 1)
                                         for i, inner in enumerate(inners)])

        def forward(self, x):
            """Run the stage's blocks in order."""
            return self.model(x)

    class MiniFASNet(nn.Module):
        """MiniFASNet over (n, 3, 80, 80) BGR patches in 0..255; gives the softmax of its three classes (1 = live)."""

        def __init__(self, widths: Widths, se: bool) -> None:
            super().__init__()
            self.conv1 = ConvBN(3, widths.stem, 3, 2)
            self.conv2_dw = ConvBN(widths.stem, widths.stem, 3, 1, groups=widths.stem)
            width = widths.stem
            # Attribute names are the upstream state dict's: conv_23, conv_3, conv_34, conv_4, conv_45, conv_5.
            for (down, inners, stage_width), (down_name, stage_name) in zip(
                    widths.stages, (("conv_23", "conv_3"), ("conv_34", "conv_4"), ("conv_45", "conv_5"))):
                setattr(self, down_name, InvertedBlock(width, down, stage_width, 2))
                setattr(self, stage_name, Stage(stage_width, inners, se))
                width = stage_width
            self.conv_6_sep = ConvBN(width, widths.head)
            kernel = (PATCH_SIZE + 15) // 16  # what is left of 80 px after four stride-2 steps
            self.conv_6_dw = ConvBN(widths.head, widths.head, kernel, groups=widths.head, act=False, padding=0)
            self.linear = nn.Linear(widths.head, EMBEDDING, bias=False)
            self.bn = nn.BatchNorm1d(EMBEDDING)
            self.prob = nn.Linear(EMBEDDING, CLASSES, bias=False)

        def forward(self, patch):
            """Class probabilities (n, 3) of a batch of patches; column 1 is "live"."""
            x = self.conv2_dw(self.conv1(patch))
            for name in ("conv_23", "conv_3", "conv_34", "conv_4", "conv_45", "conv_5"):
                x = getattr(self, name)(x)
            x = self.conv_6_dw(self.conv_6_sep(x))
            logits = self.prob(self.bn(self.linear(x.flatten(1))))
            return torch.softmax(logits, dim=1)


def build(arch: str) -> "MiniFASNet":
    """An untrained MiniFASNet of `arch` (MiniFASNetV2 or MiniFASNetV1SE)."""
    if torch is None:
        raise ImportFailed(f"importing needs torch: pip install 'facegrid[import]' ({_MISSING})")
    if arch not in ARCHS:
        raise ImportFailed(f"unknown MiniFASNet architecture {arch!r}; known: {', '.join(ARCHS)}")
    widths, se = ARCHS[arch]
    return MiniFASNet(widths, se).eval()


_FILE_NAME = re.compile(r"^(?P<scale>[0-9][0-9_.]*)_(?P<h>\d+)x(?P<w>\d+)_(?P<arch>MiniFASNet\w+?)\.(pth|pt)$")


def scale_from_name(path: Path) -> tuple[float | None, str | None]:
    """The patch scale and architecture an upstream file name gives ('4_0_0_80x80_MiniFASNetV1SE.pth' -> 4.0)."""
    match = _FILE_NAME.match(Path(path).name)
    if not match:
        return None, None
    if (int(match["h"]), int(match["w"])) != (PATCH_SIZE, PATCH_SIZE):
        raise ImportFailed(f"{path}: made for {match['h']}x{match['w']} patches; only {PATCH_SIZE}x{PATCH_SIZE} models are supported")
    # Upstream reads the scale as the first '_'-separated field: '4_0_0' is 4, '2.7' is 2.7.
    return float(match["scale"].split("_")[0]), match["arch"]


def _arch_of(state: dict, checkpoint: Path, named: str | None) -> str:
    """Which architecture a state dict is: the file name's if it says, else by its squeeze-excitation weights."""
    if named in ARCHS:
        return named
    if named:
        raise ImportFailed(f"{checkpoint}: the file name says {named}; supported: {', '.join(ARCHS)}")
    return "MiniFASNetV1SE" if any(".se_module." in k for k in state) else "MiniFASNetV2"


def _load(checkpoint: Path) -> tuple["MiniFASNet", str, float]:
    scale, named = scale_from_name(checkpoint)
    state = read_checkpoint(checkpoint).state
    arch = _arch_of(state, checkpoint, named)
    model = build(arch)
    load_strictly(model, state, checkpoint, arch)
    return model.eval(), arch, scale if scale is not None else DEFAULT_SCALES[arch]


def _export(model: "MiniFASNet", path: Path) -> None:
    import warnings

    example = torch.zeros(1, 3, PATCH_SIZE, PATCH_SIZE)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=17,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, dynamo=False)


def _check(model: "MiniFASNet", path: Path) -> float:
    """The largest difference between torch's and ONNX Runtime's probabilities on random patches."""
    from ..runtime import session

    patches = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (4, 3, PATCH_SIZE, PATCH_SIZE)).astype(np.float32))
    with torch.no_grad():
        expected = model(patches).numpy()
    got = session(path, threads=1, device="cpu").run(None, {INPUT_NAME: patches.numpy()})[0]
    worst = float(np.abs(got - expected).max())
    if not worst <= CHECK_TOLERANCE:
        raise ImportFailed(f"{path.name}: the exported graph differs from torch by {worst:.2e} (tolerance {CHECK_TOLERANCE})")
    return worst


def import_minifasnet(checkpoints: list[Path], models_dir: Path, name: str = "minifasnet") -> Path:
    """Import one or more MiniFASNet checkpoints into models_dir/<name> (one liveness folder); the folder's path."""
    if torch is None:
        raise ImportFailed(f"importing needs torch: pip install 'facegrid[import]' ({_MISSING})")
    if not checkpoints:
        raise ImportFailed("give at least one --checkpoint")
    check_name(name)
    loaded = [(Path(c).expanduser(), *_load(Path(c).expanduser())) for c in checkpoints]  # every file checked before writing
    archs = [arch for _, _, arch, _ in loaded]
    if len(set(archs)) != len(archs):
        raise ImportFailed(f"two checkpoints of the same architecture ({', '.join(archs)}); give each architecture once")
    with staged_folder(models_dir, name) as folder:
        patches = []
        for checkpoint, model, arch, scale in loaded:
            onnx_file = folder / f"{arch}.onnx"
            _export(model, onnx_file)
            _check(model, onnx_file)
            patches.append(PatchModel(arch=arch, onnx=Path(onnx_file.name), scale=scale, size=PATCH_SIZE,
                                      checkpoint=checkpoint.name, sha256=sha256(checkpoint)))
        card = LivenessCard(name=name, folder=folder, family="minifasnet", models=tuple(patches), live_class=LIVE_CLASS,
                            licence="Apache-2.0", source=SOURCE)
        write_json(folder / CARD_FILE, card.as_json())
        read_liveness_card(folder)  # reads back before it is moved into place
    return Path(models_dir).expanduser() / name
