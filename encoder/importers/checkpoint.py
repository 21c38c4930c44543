"""Reading operators' checkpoint files into a plain state dict, and loading it strictly with clear errors.

Formats read: a torch.save'd state dict (.pt/.pth/.bin/.ckpt; possibly wrapped as {"state_dict": ...}
as open_clip's training and Lightning save it, with DataParallel's "module." prefixes), a TorchScript
archive (OpenAI's CLIP .pt files are traced modules), and safetensors. Pickles are read with
weights_only=True: a checkpoint is untrusted input and must not run code when opened.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..extras import require

require("torch", "import")  # before torch itself: the error names the extra
import torch

from ..errors import ImportFailed

_WRAPPERS = ("state_dict", "model_state_dict", "model")  # where trainers put the weights in a bigger dict
_SHOWN = 8  # keys listed in an error, the rest counted


@dataclass
class Checkpoint:
    """A checkpoint's tensors by name, and how it was stored."""

    state: dict[str, torch.Tensor]
    kind: str  # "torchscript", "state_dict" or "safetensors"
    path: Path


def read_checkpoint(path: Path) -> Checkpoint:
    """The state dict in a checkpoint file; ImportFailed when it is missing, corrupt or holds no weights."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ImportFailed(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        return Checkpoint(_read_safetensors(path), "safetensors", path)
    if _is_torchscript(path):
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:  # noqa: BLE001 - torch raises RuntimeError and others for damaged archives
            raise ImportFailed(f"{path}: a TorchScript archive that torch cannot load ({_short(error)})") from None
        # OpenAI's archives also carry these as tensors; they describe the model, they are not weights.
        state = {k: v for k, v in module.state_dict().items() if k not in ("input_resolution", "context_length", "vocab_size")}
        return Checkpoint(_plain(state, path), "torchscript", path)
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - UnpicklingError, RuntimeError, EOFError ... all mean: unreadable
        hint = " (it holds Python objects beyond tensors; only weights are read, nothing is unpickled)" if "weights_only" in str(error) else ""
        raise ImportFailed(f"{path}: not a checkpoint torch can read{hint} ({_short(error)})") from None
    return Checkpoint(_plain(_unwrap(loaded, path), path), "state_dict", path)


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ImportFailed(f"{path}: reading .safetensors needs the safetensors package (pip install safetensors)") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise ImportFailed(f"{path}: not a readable safetensors file ({_short(error)})") from None


def _unwrap(loaded, path: Path) -> dict:
    """The state dict inside a training checkpoint ({"state_dict": ..., "optimizer": ...}), or the dict itself."""
    if not isinstance(loaded, dict):
        raise ImportFailed(f"{path}: holds a {type(loaded).__name__}, not a state dict of tensors")
    for key in _WRAPPERS:
        inner = loaded.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            return inner
    return loaded


def _plain(state: dict, path: Path) -> dict[str, torch.Tensor]:
    """Tensors only, DataParallel/DistributedDataParallel's "module." prefix removed."""
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ImportFailed(f"{path}: no tensors in it (keys: {_listed(list(state))})")
    return strip_prefix(tensors, "module.")


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The state with `prefix` removed where every key has it; unchanged otherwise."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_strictly(module: torch.nn.Module, state: dict[str, torch.Tensor], checkpoint: Path, arch: str) -> None:
    """Load every weight of `module` from `state`, or ImportFailed naming missing, unexpected and mis-shaped keys."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    if shapes:
        problems.append(f"{len(shapes)} weights of another shape (checkpoint vs {arch}): {_listed(shapes)}")
    if missing:
        problems.append(f"{len(missing)} weights of {arch} missing: {_listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} weights {arch} does not have: {_listed(unexpected)}")
    if problems:
        raise ImportFailed(f"{checkpoint}: not a {arch} checkpoint: " + "; ".join(problems))
    module.load_state_dict(state, strict=True)


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else "")


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"
