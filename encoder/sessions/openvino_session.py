"""OpenVINO behind the session interface, CPU only, with the precision always set explicitly.

- OpenVINO's CPU plugin runs bf16 by itself on a CPU that has it unless told otherwise, so the precision hint is
  set on every compile (f32 or bf16) and the session reports the precision the compiled model really uses.
- A graph whose only free dimension is the batch is compiled once per static batch size (powers of two up to
  `max_batch`, each on first use): static shapes ran faster than one dynamic batch (fused bf16 at batch 1:
  1.89x ORT's speed against 1.66x). A larger batch runs in chunks of the largest size; a remainder as a sum of
  smaller sizes (7 = 4 + 2 + 1), never padded.
- Graphs with other free dimensions (YuNet's height and width) are compiled once with their dynamic shape.
- Compiled models are cached in the cache directory (`CACHE_DIR`): a restart loads them instead of compiling.
- An infer request runs one call at a time: each compiled size keeps a pool of them, so callers run side by side.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import queue
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import ModelSession, SessionChoice, TensorSpec

_ONNX_TYPES = {"f32": "tensor(float)", "f16": "tensor(float16)", "i64": "tensor(int64)", "i32": "tensor(int32)",
               "u8": "tensor(uint8)", "i8": "tensor(int8)", "boolean": "tensor(bool)"}
_HINTS = {"f32": "f32", "bf16": "bf16"}


@functools.cache
def available() -> bool:
    """Whether OpenVINO is installed (without importing it: half a second a process, paid only where it runs)."""
    return importlib.util.find_spec("openvino") is not None


@functools.cache
def _core():
    import openvino

    return openvino.Core()  # one per process: it holds the plugins and their caches


def version() -> str:
    """OpenVINO's version ('' where not installed)."""
    return importlib.metadata.version("openvino") if available() else ""


def _spec(port) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorSpec(port.get_any_name(), shape, _ONNX_TYPES.get(port.get_element_type().get_type_name(), "tensor(unknown)"))


class _Compiled:
    """One compiled model and its pool of idle infer requests."""

    def __init__(self, compiled) -> None:
        self.model = compiled
        self._idle: queue.SimpleQueue = queue.SimpleQueue()

    def infer(self, feeds: dict[str, np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self.model.create_infer_request()
        try:
            request.infer(feeds)
            # Copies: the request's output tensors are overwritten by its next call.
            return [np.array(request.get_tensor(name).data) for name in names]
        finally:
            self._idle.put(request)


def _batch_sizes(max_batch: int) -> list[int]:
    sizes, size = [], 1
    while size <= max(1, max_batch):
        sizes.append(size)
        size *= 2
    return sizes


def chunks(n: int, sizes: Sequence[int]) -> list[int]:
    """n split into compiled batch sizes: the largest as often as it fits, then the rest greedily (7 -> 4, 2, 1)."""
    parts, left = [], n
    for size in sorted(sizes, reverse=True):
        while left >= size:
            parts.append(size)
            left -= size
    return parts


class OpenVinoSession(ModelSession):
    """A graph compiled by OpenVINO for the CPU at an explicit precision."""

    def __init__(self, model: Path | bytes, threads: int, precision: str, cache_dir: Path | None = None, max_batch: int = 16) -> None:
        if not available():
            raise RuntimeError("OpenVINO is not installed: pip install 'facegrid[cpu]' brings it")
        if precision not in _HINTS:
            raise ValueError(f"OpenVINO precision must be one of {', '.join(_HINTS)}, got {precision!r}")
        core = _core()
        self._model = core.read_model(model if isinstance(model, bytes) else str(model))
        self._config = {"INFERENCE_PRECISION_HINT": _HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if threads > 0:
            self._config["INFERENCE_NUM_THREADS"] = threads
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            self._config["CACHE_DIR"] = str(cache_dir)
        self._inputs = [_spec(p) for p in self._model.inputs]
        self._outputs = [_spec(p) for p in self._model.outputs]
        # Static batch sizes where the batch is the only free dimension of every input.
        self._static = all(len(s.shape) > 0 and s.shape[0] is None and None not in s.shape[1:] for s in self._inputs)
        self._sizes = _batch_sizes(max_batch) if self._static else []
        self._compiled: dict[int, _Compiled] = {}
        self._lock = threading.Lock()
        first = self._compile(1 if self._static else 0)  # at open, so a bad graph fails here, not on a caller
        self.precision = first.model.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.choice = SessionChoice("openvino", self.precision, "asked")

    def _compile(self, size: int) -> _Compiled:
        """The model compiled at batch `size` (0: as read, its free dimensions left free), compiled once."""
        compiled = self._compiled.get(size)
        if compiled is not None:
            return compiled
        with self._lock:
            if size not in self._compiled:
                model = self._model
                if size:
                    model = self._model.clone()
                    model.reshape({s.name: [size, *s.shape[1:]] for s in self._inputs})
                self._compiled[size] = _Compiled(_core().compile_model(model, "CPU", self._config))
            return self._compiled[size]

    def get_inputs(self) -> list[TensorSpec]:
        """The graph's inputs (a free batch stays free here: any batch is accepted)."""
        return list(self._inputs)

    def get_outputs(self) -> list[TensorSpec]:
        """The graph's outputs."""
        return list(self._outputs)

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The named outputs (all for None), batches run in chunks of the compiled sizes."""
        names = [o.name for o in self._outputs] if output_names is None else list(output_names)
        if not self._static:
            return self._compile(0).infer(feeds, names)
        n = len(next(iter(feeds.values())))
        if n == 0:
            return [np.zeros((0, *o.shape[1:]), np.float32) for o in self._outputs if o.name in names]
        results, start = [], 0
        for size in chunks(n, self._sizes):
            part = {k: np.ascontiguousarray(v[start:start + size]) for k, v in feeds.items()}
            results.append(self._compile(size).infer(part, names))
            start += size
        if len(results) == 1:
            return results[0]
        return [np.concatenate([r[i] for r in results]) for i in range(len(names))]
