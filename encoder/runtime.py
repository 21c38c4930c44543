"""ONNX Runtime sessions: CUDA where a GPU is present, CPU otherwise, one code path."""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort


def providers() -> list[str]:
    """Execution providers in order of preference, limited to those installed."""
    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if os.environ.get("FACEGRID_DEVICE", "").lower() == "cpu":
        wanted = ["CPUExecutionProvider"]
    available = set(ort.get_available_providers())
    return [p for p in wanted if p in available]


def gpu_available() -> bool:
    """Whether ONNX Runtime can run on a CUDA GPU here."""
    return "CUDAExecutionProvider" in providers()


def session(model: Path | bytes, threads: int = 0) -> ort.InferenceSession:
    """An inference session; threads=0 lets ONNX Runtime use every core."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: converted graphs carry harmless unused-initializer notes
    # Idle ONNX Runtime threads would otherwise spin for a while after each call,
    # taking the cores that the gRPC threads and the other model need next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=providers())
