"""ONNX Runtime behind the session interface (CUDA where present, CPU otherwise): f32 only."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .. import runtime
from .base import ModelSession, SessionChoice, TensorSpec


def _spec(arg) -> TensorSpec:
    return TensorSpec(arg.name, tuple(d if isinstance(d, int) else None for d in (arg.shape or ())), arg.type)


class OnnxRuntimeSession(ModelSession):
    """An ONNX Runtime InferenceSession (thread-safe: ONNX Runtime's sessions are)."""

    def __init__(self, model: Path | bytes, threads: int, device: str) -> None:
        self._session = runtime.session(model, threads=threads, device=device)
        self._inputs = [_spec(i) for i in self._session.get_inputs()]
        self._outputs = [_spec(o) for o in self._session.get_outputs()]
        self.on_cuda = runtime.on_cuda(self._session)
        self.choice = SessionChoice("onnxruntime", "f32", "asked")

    def get_inputs(self) -> list[TensorSpec]:
        """The graph's inputs."""
        return list(self._inputs)

    def get_outputs(self) -> list[TensorSpec]:
        """The graph's outputs."""
        return list(self._outputs)

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The named outputs (all for None)."""
        return self._session.run(None if output_names is None else list(output_names), feeds)
