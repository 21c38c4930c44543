"""The interface every runtime's session offers (the shape of ONNX Runtime's, which the models were written to)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np

RUNTIMES = ("onnxruntime", "openvino")
PRECISIONS = ("f32", "bf16")


def check_names(runtime: str, precision: str) -> None:
    """ValueError for an unknown runtime or precision, or bf16 asked of ONNX Runtime."""
    if runtime not in ("auto", *RUNTIMES):
        raise ValueError(f"FACEGRID_RUNTIME must be auto, {' or '.join(RUNTIMES)}; got {runtime!r}")
    if precision not in ("auto", *PRECISIONS):
        raise ValueError(f"FACEGRID_PRECISION must be auto, {' or '.join(PRECISIONS)}; got {precision!r}")
    if runtime == "onnxruntime" and precision == "bf16":
        raise ValueError("bf16 runs on OpenVINO only: set FACEGRID_RUNTIME=openvino (or auto) with FACEGRID_PRECISION=bf16")


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: its name, shape (a str or None for a free dimension) and ONNX type string."""

    name: str
    shape: tuple
    type: str  # as ONNX Runtime names it: "tensor(float)", "tensor(int64)", ...


@dataclass(frozen=True)
class SessionChoice:
    """Which runtime and precision run a model, and why (logged at start, listed by ListModels)."""

    runtime: str  # "onnxruntime" | "openvino"
    precision: str  # "f32" | "bf16": what the session really computes in
    reason: str  # "asked", "auto: measured ...", "auto: no measurement ...", "bf16 asked, this CPU has none"

    def describe(self) -> dict:
        """The choice as a listing's fields."""
        return {"runtime": self.runtime, "precision": self.precision, "reason": self.reason}


class ModelSession(ABC):
    """One model's compiled graph: thread-safe `run`, inputs and outputs described as ONNX Runtime does."""

    choice: SessionChoice
    on_cuda: bool = False  # whether it runs on a CUDA GPU (warm-up matters there only)

    @abstractmethod
    def get_inputs(self) -> list[TensorSpec]:
        """The graph's inputs."""

    @abstractmethod
    def get_outputs(self) -> list[TensorSpec]:
        """The graph's outputs."""

    @abstractmethod
    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The named outputs (all, in order, for None) for these inputs."""
