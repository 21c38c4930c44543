"""What every recipe shares: the device and threads, typed errors, checkpoints that resume, progress, the summary.

A recipe's loop is its own; these are the parts that must behave the same in all of them: a checkpoint is
written atomically and refused on resume when it is another recipe's or architecture's, and every run ends
with one JSON object on the last line (`model`, `epochs`, `images`, `seconds`, `final_loss`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..cpu_features import BF16_FLAGS, cpu_bf16_flags
from ..errors import EncoderError


# Training precision: auto is bf16 autocast where the hardware computes bf16 natively, else f32.
PRECISIONS = ("auto", "f32", "bf16")


class TrainError(EncoderError):
    """A training run cannot start or go on: bad data, a mismatched checkpoint, a missing modality."""


@dataclass
class TrainResult:
    """The summary a run prints last: what was trained, on how much, how long, and the loss it ended on."""

    model: str
    epochs: int
    images: int  # training items seen (photos, chips, pairs), over all epochs
    seconds: float
    final_loss: float | None  # None for --epochs 0
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    folder: str = ""  # the exported model folder
    skipped: dict[str, Any] = field(default_factory=dict)  # what was left out and why (unreadable photos, ...)

    def as_json(self) -> str:
        """One line of JSON (NaN losses as null)."""
        value = asdict(self)
        value["final_loss"] = _finite(self.final_loss)
        value["losses"] = [_finite(x) for x in self.losses]
        value["seconds"] = round(self.seconds, 2)
        return json.dumps(value)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def choose_device(name: str = "auto") -> torch.device:
    """`auto`: CUDA when torch sees a GPU, else the CPU; `cuda` without a GPU is a TrainError."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError("--device cuda: torch sees no CUDA GPU here (install the CUDA build of torch, or use --device cpu)")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise TrainError(f"--device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


@dataclass(frozen=True)
class TrainPrecision:
    """The precision a run trains in (f32 or bf16) and why, printed at its start."""

    name: str
    why: str

    def autocast(self, device: torch.device) -> AbstractContextManager:
        """A fresh context for one forward pass: bf16 autocast, or f32 (autocast off). Losses stay outside it, in f32."""
        if self.name == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return torch.autocast(device.type, enabled=False)


def choose_precision(asked: str, device: torch.device, native_bf16: bool | None = None) -> TrainPrecision:
    """`auto`: bf16 where the device computes it natively (a CUDA GPU with bf16; a CPU with AVX-512 BF16 or AMX),
    else f32; `bf16` where it is not native is a TrainError (emulated bf16 is slower than f32). `native_bf16`
    overrides the detection (tests)."""
    asked = {"fp32": "f32"}.get(asked, asked)
    if asked not in PRECISIONS:
        raise TrainError(f"--precision {asked!r}: use {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        found = torch.cuda.is_bf16_supported() if native_bf16 is None else native_bf16
        where = "this GPU" + (" has" if found else " has no") + " bf16"
    else:
        flags = cpu_bf16_flags()
        found = bool(flags) if native_bf16 is None else native_bf16
        where = f"this CPU has native bf16 ({', '.join(flags) or 'as told'})" if found else \
            f"this CPU has no native bf16 (no {' or '.join(BF16_FLAGS)} flag)"
    if asked == "f32":
        return TrainPrecision("f32", "asked")
    if asked == "bf16" and not found:
        raise TrainError(f"--precision bf16: {where}; bf16 would be emulated, slower than f32: use --precision auto or f32")
    if found:
        return TrainPrecision("bf16", f"{asked}: {where}")
    return TrainPrecision("f32", f"auto: {where}")


def set_threads(threads: int = 0) -> int:
    """torch's intra-op threads: `threads`, or every core when 0. The number set."""
    count = threads if threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(count)
    return count


class Checkpoint:
    """A resumable training state in one file, written atomically; refused when it is another recipe's or arch's."""

    def __init__(self, path: Path, recipe: str, arch: str) -> None:
        self.path = Path(path)
        self.recipe = recipe
        self.arch = arch

    def exists(self) -> bool:
        """Whether a checkpoint file is there to resume from."""
        return self.path.is_file()

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` (state dicts, epoch, step, RNG) with the recipe and arch; a crash mid-write keeps the old file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.writing")
        torch.save({"recipe": self.recipe, "arch": self.arch, "state": state}, temporary)
        os.replace(temporary, self.path)

    def load(self) -> dict[str, Any]:
        """The saved state; TrainError when the file is unreadable or from another recipe or architecture."""
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as error:  # a truncated or foreign file: say which, never a traceback
            raise TrainError(f"{self.path}: not a readable facegrid training checkpoint ({type(error).__name__})") from None
        if not isinstance(saved, dict) or "state" not in saved:
            raise TrainError(f"{self.path}: not a facegrid training checkpoint")
        if saved.get("recipe") != self.recipe or saved.get("arch") != self.arch:
            raise TrainError(f"{self.path}: a checkpoint of {saved.get('recipe')!r} with arch {saved.get('arch')!r}; "
                             f"this run is {self.recipe!r} with arch {self.arch!r}: resume it with the same settings or start afresh")
        return saved["state"]


class Progress:
    """A one-line progress display on stderr: epoch, step, running loss, items/s."""

    def __init__(self, label: str, total_steps: int, stream=None) -> None:
        self.label = label
        self.total = total_steps
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.items = 0
        self._last_print = 0.0

    def update(self, epoch: int, step: int, loss: float, items: int) -> None:
        """Record one step of `items` at `loss`; redraw at most twice a second (and always on a non-terminal every 50 steps)."""
        self.items += items
        now = time.perf_counter()
        tty = self.stream.isatty()
        if (tty and now - self._last_print < 0.5) or (not tty and step % 50 and step != self.total):
            return
        self._last_print = now
        rate = self.items / max(now - self.started, 1e-9)
        end = "" if tty else "\n"
        print(f"\r{self.label} epoch {epoch} step {step}/{self.total} loss {loss:.4f} {rate:.1f} items/s", end=end,
              file=self.stream, flush=True)

    def close(self) -> None:
        """End the progress line so later output starts on a fresh line."""
        if self.stream.isatty():
            print(file=self.stream, flush=True)
