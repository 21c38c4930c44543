"""`facegrid models import torchvision`: an image backbone saved as a torchvision state dict into an image-only folder.

The tower is torchvision's own model (`torchvision.models.<arch>(weights=None)`) with its classifier
replaced by identity, so it gives the pooled features (resnet50: 2048-d), exported to ONNX. Checkpoints
read, as self-supervised trainers save them (SimCLR and kin):

- a plain torchvision state dict, with or without the classifier ("fc." / "classifier." / "heads."
  keys are not used: the tower stops before it), "module." prefixes of DataParallel removed;
- solo-learn's Lightning .ckpt: {"state_dict": {"backbone.conv1.weight", ..., "projector.*", "classifier.*"}}:
  the "backbone." keys are kept (older solo-learn checkpoints say "encoder."), the heads dropped;
- lightly's examples: `backbone = nn.Sequential(*list(resnet.children())[:-1])` inside a module, so keys
  are "backbone.0.weight" (conv1), "backbone.4.0.conv1.weight" (layer1...): the child numbers are mapped
  back to torchvision's child names;
- pl_bolts' SimCLR ("encoder.*") and sthalles/SimCLR ("backbone.*" with an MLP "backbone.fc.*") alike.

Preprocessing is torchvision's own eval transform for the architecture (its default weights' metadata,
read without downloading anything): resize the shortest edge (`resize`, e.g. 256), centre crop (`size`,
e.g. 224), ImageNet mean and std. Immich's preprocess_cfg.json has only `size`; `resize` is our field.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ImportFailed
from .folder import default_name, sha256, staged_folder

try:  # the import extra
    import torch
    import torchvision

    from .checkpoint import load_strictly, read_checkpoint, strip_prefix
    from .image_folder import versions, write_image_folder
except ImportError as _missing:  # pragma: no cover
    torchvision = None
    _MISSING = _missing

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Where each family's classifier sits: replaced by identity, the tower gives the pooled features.
# (ConvNeXt's classifier is LayerNorm2d + Flatten + Linear: only the Linear goes.)
_HEADS = [
    (re.compile(r"^(resnet|resnext|wide_resnet|regnet_)"), "fc"),
    (re.compile(r"^(densenet|efficientnet_|mobilenet_)"), "classifier"),
    (re.compile(r"^convnext_"), "classifier.2"),
    (re.compile(r"^vit_"), "heads"),
    (re.compile(r"^swin_"), "head"),
]
# Keys of the heads trainers put beside the backbone; never part of the tower.
_HEAD_PREFIXES = ("fc.", "classifier.", "heads.", "head.")
_BACKBONE_PREFIXES = ("backbone.", "encoder.", "model.")


def import_torchvision(arch: str, checkpoint: Path, out_dir: Path, name: str | None = None) -> Path:
    """Import a torchvision backbone's state dict of `arch` into out_dir/<name> (image tower only); the folder's path."""
    if torchvision is None:
        raise ImportFailed(f"importing needs torch and torchvision: pip install 'facegrid[import]' ({_MISSING})")
    head = _head(arch)
    name = name or default_name("", arch)
    loaded = read_checkpoint(checkpoint)
    model = torchvision.models.get_model(arch, weights=None).eval()
    _cut(model, head)
    state = _backbone_state(model, loaded.state)
    load_strictly(model, state, loaded.path, f"torchvision {arch} (without its classifier)")
    preprocess = _preprocess_cfg(arch)
    with staged_folder(out_dir, name) as folder:
        write_image_folder(folder, _Pooled(model), preprocess, name=name, family="torchvision", arch=arch,
                           config_extra={"torchvision_arch": arch},
                           card_extra={"source": {"checkpoint": loaded.path.name, "sha256": sha256(loaded.path), "format": loaded.kind,
                                                  "torchvision": torchvision.__version__, **versions()}})
    return Path(out_dir).expanduser() / name


def _head(arch: str) -> str:
    if arch not in torchvision.models.list_models(module=torchvision.models):
        raise ImportFailed(f"unknown torchvision classification model {arch!r}; torchvision {torchvision.__version__} has: "
                           + ", ".join(torchvision.models.list_models(module=torchvision.models)))
    for pattern, head in _HEADS:
        if pattern.match(arch):
            return head
    families = "resnet*, resnext*, wide_resnet*, regnet_*, densenet*, efficientnet_*, mobilenet_*, convnext_*, vit_*, swin_*"
    raise ImportFailed(f"{arch}: where its pooled features end is not known here; supported families: {families}")


def _cut(model: "torch.nn.Module", head: str) -> None:
    parent, _, leaf = head.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    if isinstance(owner, torch.nn.Sequential):
        owner[int(leaf)] = torch.nn.Identity()
    else:
        setattr(owner, leaf, torch.nn.Identity())


def _backbone_state(model: "torch.nn.Module", state: dict) -> dict:
    """The backbone's weights under torchvision's names, whichever trainer's convention the file follows."""
    wanted = model.state_dict()
    for prefix in _BACKBONE_PREFIXES:
        # solo-learn style: the backbone beside projector/classifier/momentum copies; keep only its keys.
        if any(k.startswith(prefix) for k in state) and not any(k in wanted for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            break
    state = strip_prefix(state, "module.")
    if state and all(k.split(".", 1)[0].isdigit() for k in state):
        # lightly: nn.Sequential(*list(model.children())[:-1]) numbers the children in order.
        children = [child for child, _ in model.named_children()]
        state = {f"{children[int(k.split('.', 1)[0])]}.{k.split('.', 1)[1]}": v for k, v in state.items()
                 if int(k.split(".", 1)[0]) < len(children)}
    return {k: v for k, v in state.items() if not (k.startswith(_HEAD_PREFIXES) and k not in wanted)}


def _preprocess_cfg(arch: str) -> dict:
    """torchvision's eval transform of the arch's default weights (metadata only: nothing is downloaded)."""
    crop, resize, interpolation = 224, 256, "bilinear"
    try:
        weights = torchvision.models.get_model_weights(arch).DEFAULT
        transform = weights.transforms()
        crop, resize = int(transform.crop_size[0]), int(transform.resize_size[0])
        interpolation = transform.interpolation.value
    except (ValueError, AttributeError, IndexError, TypeError):
        pass  # no default weights for this arch: torchvision's ImageNet defaults
    return {"size": [crop, crop], "mode": "RGB", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "interpolation": interpolation, "resize_mode": "shortest", "fill_color": 0, "resize": resize}


if torchvision is not None:
    class _Pooled(torch.nn.Module):
        """The backbone's pooled features, flat (n, dim)."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, image):
            return torch.flatten(self.model(image), 1)
