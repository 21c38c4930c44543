"""What the two InfoNCE recipes (the CLIP pivot and binding) share: batches of distinct items, a learnable temperature, the loop.

A batch holds each pivot item at most once: two rows with the same target would each be the other's
negative, a contradiction the loss cannot resolve. Each step draws `batch` distinct keys and one of each
key's pairs at random; an epoch is as many steps as the pairs fill.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch

from .run import Checkpoint, Progress, TrainError


def distinct_batches(keys: list[str], batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of index batches, no key twice in a batch (batch capped at the number of distinct keys)."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    members = list(groups.values())
    size = min(batch, len(members))
    if size < 2:
        raise TrainError(f"the pairs hold {len(members)} distinct pivot item(s); contrastive training needs at least 2")
    steps = math.ceil(len(keys) / size)
    return [np.array([group[rng.integers(len(group))] for group in (members[k] for k in rng.choice(len(members), size, replace=False))])
            for _ in range(steps)]


class Temperature(torch.nn.Module):
    """CLIP's learnable logit scale (initial temperature 0.07, scale capped at 100)."""

    def __init__(self, initial: float = 0.07) -> None:
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / initial)))

    def forward(self) -> torch.Tensor:
        """The current temperature (1 / logit scale), with the scale capped at 100."""
        return 1 / self.log_scale.clamp(max=math.log(100)).exp()


def fit(label: str, modules: list[torch.nn.Module], step: Callable[[np.ndarray], torch.Tensor], keys: list[str], *,
        epochs: int, batch: int, lr: float, seed: int, checkpoint: Checkpoint | None) -> tuple[list[float], int, float]:
    """Train `modules` by `step(indices) -> loss` over epochs of distinct batches; (loss per epoch, items seen, seconds).

    With a checkpoint, the state is saved after every epoch and a run finding one resumes after its last epoch.
    """
    params = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    start_epoch, items = 0, 0
    if checkpoint is not None and checkpoint.exists():
        state = checkpoint.load()
        for module, saved in zip(modules, state["modules"]):
            module.load_state_dict(saved)
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        start_epoch, losses, items = state["epoch"], list(state["losses"]), state["items"]
    started = time.perf_counter()
    per_epoch = math.ceil(len(keys) / max(2, min(batch, len(set(keys)))))
    progress = Progress(label, per_epoch * max(0, epochs - start_epoch))
    done = 0
    for epoch in range(start_epoch + 1, epochs + 1):
        batches = distinct_batches(keys, batch, rng)  # drawn epoch by epoch, so a resumed run draws what this one would
        for m in modules:
            m.train()
        total = 0.0
        for indices in batches:
            loss = step(indices)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            items += len(indices)
            done += 1
            progress.update(epoch, done, float(loss.detach()), len(indices))
        losses.append(total / len(batches))
        if checkpoint is not None:
            checkpoint.save({"modules": [m.state_dict() for m in modules], "optimizer": optimizer.state_dict(),
                             "rng": rng.bit_generator.state, "epoch": epoch, "losses": losses, "items": items})
    progress.close()
    for m in modules:
        m.eval()
    return losses, items, time.perf_counter() - started
