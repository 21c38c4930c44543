"""ONNX Runtime sessions (CUDA where a GPU is present, CPU otherwise, one code path) and the
encoder's own settings: where converted graphs are cached, which device, how many threads."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

try:
    import onnxruntime as ort
except ImportError as error:  # neither onnxruntime nor onnxruntime-gpu
    raise ImportError(
        "ONNX Runtime is not installed. Install facegrid with exactly one runtime: "
        "pip install 'facegrid[cpu]' (any machine) or pip install 'facegrid[gpu]' (NVIDIA GPU)"
    ) from error

from .assets import default_data_dir


@dataclass(frozen=True)
class EncoderSettings:
    """Passed down from the server's Settings (or defaulted for library use: folders under the default data directory)."""

    cache_dir: Path = field(default_factory=lambda: default_data_dir() / "cache")  # converted graphs under models/
    device: str = "auto"  # "auto": CUDA when onnxruntime-gpu sees a GPU; "cpu" forces the CPU
    threads: int = 0  # intra-op threads per session; 0: every core
    # Which runtime runs the models and at what precision (encoder/sessions/): auto measures once per CPU model
    # and model file; onnxruntime or openvino; f32, or bf16 (OpenVINO, on CPUs with AVX-512 BF16 or AMX).
    runtime: str = "auto"
    precision: str = "auto"
    # Operator-supplied model folders (one per model: Immich's CLIP layout, or what `facegrid models import` writes).
    models_dir: Path = field(default_factory=lambda: default_data_dir() / "models")
    # Batching across callers (encoder/batcher.py): at most batch_max items a model run (0: no batcher, each
    # caller runs the model itself), waiting up to batch_wait_ms for more after the first, batch_queue items queued.
    batch_max: int = 0
    batch_wait_ms: float = 0.0
    batch_queue: int = 1024
    batch_workers: int = 1  # batches of one model run side by side (Triton's model instances)

    @classmethod
    def under(cls, data_dir: Path, **chosen) -> EncoderSettings:
        """The defaults with the cache and model folders under `data_dir` (the configured one, from Settings)."""
        return cls(**{"cache_dir": Path(data_dir) / "cache", "models_dir": Path(data_dir) / "models", **chosen})

    def single_threaded(self) -> "EncoderSettings":
        """The same, one thread a session and no batcher (worker processes: the pool gives the parallelism,
        and one process has one caller, so nothing to batch across)."""
        return replace(self, threads=1, batch_max=0)

    def converted_dir(self) -> Path:
        """Where graphs converted from shipped weights are cached."""
        path = Path(self.cache_dir) / "models"
        path.mkdir(parents=True, exist_ok=True)
        return path


def providers(device: str = "auto") -> list[str]:
    """Execution providers in order of preference, limited to those installed."""
    wanted = ["CPUExecutionProvider"] if device.lower() == "cpu" else ["CUDAExecutionProvider", "CPUExecutionProvider"]
    available = set(ort.get_available_providers())
    return [p for p in wanted if p in available]


def gpu_available(device: str = "auto") -> bool:
    """Whether ONNX Runtime can run on a CUDA GPU here."""
    return "CUDAExecutionProvider" in providers(device)


@functools.cache
def _load_cuda_libraries() -> None:
    # onnxruntime-gpu's CUDA provider has no search path of its own for the CUDA and cuDNN
    # libraries that the gpu extra installs as NVIDIA wheels; this loads them from there (or the
    # system's) once. Without them ONNX Runtime falls back to the CPU and says so.
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        preload()


def on_cuda(session: ort.InferenceSession) -> bool:
    """Whether a session really runs on CUDA (ONNX Runtime falls back to the CPU when CUDA fails to load)."""
    return "CUDAExecutionProvider" in session.get_providers()


def session(model: Path | bytes, threads: int = 0, device: str = "auto") -> ort.InferenceSession:
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
    chosen = providers(device)
    if "CUDAExecutionProvider" in chosen:
        _load_cuda_libraries()
    return ort.InferenceSession(source, sess_options=options, providers=chosen)
