"""How fast a session runs: the median time per item at batch 1 and at a larger batch, on made-up inputs."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from .base import ModelSession, TensorSpec

_DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8}


def sample_feeds(inputs: Sequence[TensorSpec], batch: int, free: int = 320) -> dict[str, np.ndarray]:
    """Random inputs of the graph's shapes: the batch dimension `batch`, other free dimensions `free`."""
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in inputs:
        shape = [batch] + [d if isinstance(d, int) else free for d in spec.shape[1:]]
        dtype = _DTYPES.get(spec.type, np.float32)
        # Values a real input could have: pixels (0..255 also fits normalised graphs' range well enough) or token ids.
        values = rng.integers(0, 255, size=shape) if dtype != np.float32 else rng.random(shape) * 255
        feeds[spec.name] = values.astype(dtype)
    return feeds


def ms_per_item(session: ModelSession, batches: Sequence[int], budget_s: float = 0.3) -> float:
    """Mean over `batches` of the median milliseconds per item, within about `budget_s` seconds each."""
    figures = []
    for batch in batches:
        feeds = sample_feeds(session.get_inputs(), batch)
        session.run(None, feeds)  # first call: compiles a size, fills caches
        times: list[float] = []
        deadline = time.perf_counter() + budget_s / len(batches)
        while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 30):
            begin = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - begin)
        figures.append(1000 * float(np.median(times)) / batch)
    return float(np.mean(figures))
