"""Warm-up on CUDA: run every batch size a model will see once, at start, before callers do.

With ONNX Runtime's CUDA provider the first run at a new input shape takes seconds (cuDNN picks
its convolution algorithms per shape; Triton #7776), so a gate's first caller at each batch size
would wait that long. On the CPU a new batch size costs nothing extra: the warm-up is skipped.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Sequence

import numpy as np

from .models.base import FaceModel

log = logging.getLogger("facegrid.encoder.warmup")

# The server passes Settings.batch_max, the batcher's largest batch; this is the default for library use.
DEFAULT_MAX_BATCH = 16


def warm_up(
    run: Callable[[np.ndarray], object],
    item_shape: Sequence[int],
    batch_sizes: Iterable[int],
    on_cuda: bool,
    dtype=np.float32,
    name: str = "model",
) -> dict[int, float]:
    """Call `run` once per batch size on zeros of shape (size, *item_shape); seconds per size.

    Skipped (an empty result) unless `on_cuda`: any tower's `run(batch)` fits, e.g. an image tower
    with item_shape (3, 224, 224), a text tower with (77,) and dtype int32.
    """
    sizes = sorted(set(int(s) for s in batch_sizes))
    if not on_cuda:
        log.info("%s runs on the CPU: no warm-up", name)
        return {}
    if sizes and sizes[0] < 1:
        raise ValueError(f"batch sizes must be at least 1, got {sizes[0]}")
    seconds: dict[int, float] = {}
    started = time.perf_counter()
    for size in sizes:
        begin = time.perf_counter()
        run(np.zeros((size, *item_shape), dtype=dtype))
        seconds[size] = time.perf_counter() - begin
    if sizes:
        slowest = max(seconds, key=seconds.get)
        log.info("%s warmed up on CUDA at batch sizes %d..%d in %.1f s (slowest: batch %d, %.2f s)",
                 name, sizes[0], sizes[-1], time.perf_counter() - started, slowest, seconds[slowest])
    return seconds


def warm_up_face_model(model: FaceModel, max_batch: int = DEFAULT_MAX_BATCH) -> dict[str, dict[int, float]]:
    """Warm each ONNX Runtime part of a face model (a fused model's parts one by one); seconds per size.

    A part's session sees chunks of at most its own `max_batch` chips, twice as many chips as were
    asked for when it mirrors, so those are the sizes warmed.
    """
    results: dict[str, dict[int, float]] = {}
    for part in getattr(model, "parts", None) or [model]:
        session = part.session
        largest = min(part.max_batch, max_batch * (2 if part.mirror else 1))
        height, width = part.input_size
        results[part.name] = warm_up(
            part._embed_raw, (height, width, 3), range(1, largest + 1),
            on_cuda=session is not None and session.on_cuda, dtype=np.uint8, name=f"face model {part.name}",
        )
    return results


def warm_up_tower_model(model, max_batch: int = DEFAULT_MAX_BATCH) -> dict[str, dict[int, float]]:
    """Warm each tower of a TowerModel (image: (3, H, W) float32; text: (context_length,) in the graph's integer
    type) at every batch size 1..max_batch; seconds per size and tower, empty on the CPU."""
    timings = {}
    for modality, tower in model.towers.items():
        if modality == "image":
            shape, dtype = (3, *model.preprocess.size), np.float32
        elif modality == "text":
            shape, dtype = (model.tokenizer.context_length,), tower.input_type
        else:
            continue  # a further modality has no input we prepare yet
        timings[modality] = warm_up(tower.run, shape, range(1, max_batch + 1), tower.session.on_cuda, dtype, tower.name)
    return timings
