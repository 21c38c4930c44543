"""One tower to ONNX (Immich's I/O convention) and a check that ONNX Runtime gives what torch gives."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from ..extras import require

require("torch", "import")  # before torch itself: the error names the extra
import torch

from ..errors import ImportFailed
from ..runtime import session

OPSET = 17
OUTPUT_NAME = "embedding"  # Immich's exports name it so; we read output 0 whatever its name
CHECK_TOLERANCE = 1e-4  # max abs difference of unit vectors, torch against ONNX Runtime


def export_tower(module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str) -> None:
    """Export `module` (one input, one (n, dim) output) with a dynamic batch dimension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    axes = {input_name: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes: checked below instead
        try:
            # The TorchScript-based exporter first: it takes open_clip's and torchvision's models as they are.
            torch.onnx.export(module, (example,), str(path), input_names=[input_name], output_names=[OUTPUT_NAME],
                              opset_version=OPSET, dynamic_axes=axes, dynamo=False)
        except Exception as legacy_error:  # noqa: BLE001 - the exporter raises many types; the dynamo exporter gets its chance
            try:
                batch = torch.export.Dim("batch", min=1)
                torch.onnx.export(module, (example,), str(path), input_names=[input_name], output_names=[OUTPUT_NAME],
                                  opset_version=max(OPSET, 18), dynamic_shapes={next(iter(_forward_args(module))): {0: batch}},
                                  dynamo=True)
            except Exception as dynamo_error:  # noqa: BLE001
                raise ImportFailed(f"ONNX export of {path.parent.name}/{path.name} failed: {type(legacy_error).__name__}: "
                                   f"{str(legacy_error)[:300]}; the dynamo exporter too: {type(dynamo_error).__name__}: "
                                   f"{str(dynamo_error)[:300]}") from None


def _forward_args(module: torch.nn.Module) -> list[str]:
    import inspect

    return [name for name in inspect.signature(module.forward).parameters]


def check_tower(module: torch.nn.Module, path: Path, batches: list[torch.Tensor], input_name: str) -> float:
    """The largest difference between torch's and ONNX Runtime's unit vectors over the batches; ImportFailed past tolerance."""
    runner = session(path, threads=0, device="cpu")
    worst = 0.0
    with torch.no_grad():
        for batch in batches:
            expected = _unit(module(batch).float().numpy())
            feed = batch.numpy()
            got = runner.run(None, {input_name: feed})[0]
            if got.shape != expected.shape:
                raise ImportFailed(f"{path}: ONNX Runtime gives shape {got.shape} for a batch of {len(batch)}, torch {expected.shape}")
            worst = max(worst, float(np.abs(_unit(got) - expected).max()))
    if not worst <= CHECK_TOLERANCE:
        raise ImportFailed(f"{path}: the exported graph differs from torch by {worst:.2e} (unit vectors; tolerance {CHECK_TOLERANCE})")
    return worst


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.reshape(len(vectors), -1).astype(np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
