"""open_session: a model's graph opened on the runtime and precision its settings (and this CPU) call for."""

from __future__ import annotations

from pathlib import Path

from .. import runtime
from .base import ModelSession, SessionChoice
from .choice import choose
from .onnxruntime_session import OnnxRuntimeSession
from .openvino_session import OpenVinoSession

# Largest static batch OpenVINO compiles: a bigger batch runs in chunks of it (per-face time levels off by 8).
OPENVINO_MAX_BATCH = 8


def open_session(model: Path | bytes, settings: "runtime.EncoderSettings", name: str,
                 allowed: tuple[str, ...] = ("f32",), batch: int = OPENVINO_MAX_BATCH) -> ModelSession:
    """`name`'s graph in a session: CUDA's ONNX Runtime on a GPU, else the settings' runtime and precision.

    `allowed`: the precisions the model's card records as keeping its accuracy. `batch`: the largest batch the
    model runs at once (its chunks; 1 for a detector), used when timing candidates.
    """
    if settings.runtime != "openvino" and runtime.gpu_available(settings.device):
        session = OnnxRuntimeSession(model, settings.threads, settings.device)
        session.choice = SessionChoice("onnxruntime", "f32", "a CUDA GPU is here" if session.on_cuda else "asked")
        return session

    def open_pair(runtime_name: str, precision: str) -> ModelSession:
        if runtime_name == "onnxruntime":
            return OnnxRuntimeSession(model, settings.threads, "cpu")
        return OpenVinoSession(model, settings.threads, precision, cache_dir=Path(settings.cache_dir) / "openvino",
                               max_batch=OPENVINO_MAX_BATCH)

    batches = (1,) if batch <= 1 else (1, min(batch, OPENVINO_MAX_BATCH))
    return choose(name, model, settings.runtime, settings.precision, allowed, settings.threads,
                  Path(settings.cache_dir), open_pair, batches)
