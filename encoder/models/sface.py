"""OpenCV Zoo's SFace (128-d, MobileFaceNet-style).

The shipped file is int8 block-quantized, weights only. It runs on ONNX Runtime
(CUDA where present) after a one-time rewrite, cached in the data directory:
- weights dequantized once instead of on every call;
- PRelu spelled as `a*x + (1-a)*relu(x)`: ONNX Runtime folds the per-channel
  Mul and Add into its blocked convolutions, where its own per-channel PRelu
  breaks them apart. On one CPU core, ms a chip: 13.6 this way, 16.1 as
  relu(x) + a*min(x, 0), 27.7 as PRelu, 15.5 for the shipped file on OpenCV's
  DNN engine (kept as `backend="opencv"`, the reference the rewrite is tested
  against).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..align import arcface_chip
from ..assets import opencv_zoo_model
from ..catalog import PRECISIONS
from ..detect import Detection
from ..graph_rewrite import cached_graph, fold_weights
from ..runtime import EncoderSettings
from ..sessions.open import open_session
from .base import FaceModel

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
CONVERSION = "3"  # bump when convert_sface changes, so cached graphs are rebuilt


def _prelu_as_elementwise(node: onnx.NodeProto, slopes: dict[str, np.ndarray]) -> tuple[list, list]:
    """PRelu(x) = a*x + (1-a)*relu(x): nodes, and the (1-a) initializer they need."""
    x, slope = node.input
    y = node.output[0]
    complement = numpy_helper.from_array((1 - slopes[slope]).astype(np.float32), slope + "/complement")
    nodes = [
        helper.make_node("Mul", [x, slope], [y + "/linear"]),
        helper.make_node("Relu", [x], [y + "/positive"]),
        helper.make_node("Mul", [y + "/positive", complement.name], [y + "/bent"]),
        helper.make_node("Add", [y + "/linear", y + "/bent"], [y]),
    ]
    return nodes, [complement]


def convert_sface(path: Path) -> bytes:
    """The shipped int8 SFace graph rewritten for fast float inference on ONNX Runtime."""
    model = fold_weights(onnx.load(str(path)))
    slopes = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes, added = [], []
    for node in model.graph.node:
        if node.op_type == "PRelu":
            prelu_nodes, prelu_initializers = _prelu_as_elementwise(node, slopes)
            nodes.extend(prelu_nodes)
            added.extend(prelu_initializers)
        else:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {x for n in nodes for x in n.input}
    initializers = [i for i in model.graph.initializer if i.name in used] + added
    del model.graph.initializer[:]
    model.graph.initializer.extend(initializers)
    # Batch dimension made dynamic so many chips run in one call.
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    return model.SerializeToString()


def cached_sface(settings: EncoderSettings | None = None) -> Path:
    """Path of the converted SFace graph, built on first use and cached by source hash."""
    folder = (settings or EncoderSettings()).converted_dir()
    return cached_graph(opencv_zoo_model(SFACE_FILE), f"sface-{CONVERSION}", convert_sface, folder)


class _OpenCvNet:
    """The shipped graph on OpenCV's DNN engine (one net per thread: nets keep state); the reference."""

    def __init__(self) -> None:
        import cv2

        self._cv2 = cv2
        self._path = str(opencv_zoo_model(SFACE_FILE))
        self._local = threading.local()

    def run(self, blob: np.ndarray) -> np.ndarray:
        net = getattr(self._local, "net", None)
        if net is None:
            net = self._local.net = self._cv2.dnn.readNetFromONNX(self._path)
        net.setInput(blob, "data")  # OpenCV 5 needs the input's name for this graph
        return net.forward().copy()


class _SessionNet:
    """The rewritten graph in a session (encoder/sessions: ONNX Runtime or OpenVINO; CUDA where present): the default."""

    def __init__(self, settings: EncoderSettings, batch: int) -> None:
        self._session = open_session(cached_sface(settings), settings, "sface", PRECISIONS["sface"], batch)

    def run(self, blob: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"data": blob})[0]


class SFace(FaceModel):
    """SFace: 112x112 ArcFace-aligned RGB chips, raw 0..255 values, 128-d."""

    name = "sface"
    dim = 128
    input_size = (112, 112)
    # On a CPU core, ms per chip: 13.9 at batch 1, 13.6 at 2, 14.1 at 4, 14.3 at 8 (cache-bound beyond).
    max_batch = 2

    def __init__(self, mirror: bool = False, settings: EncoderSettings | None = None, backend: str = "onnxruntime") -> None:
        super().__init__(mirror=mirror)
        self.backend = backend
        self._net = _SessionNet(settings or EncoderSettings(), self.max_batch) if backend == "onnxruntime" else _OpenCvNet()

    @property
    def session(self):
        """The session that runs the chips (None with the OpenCV reference backend)."""
        return getattr(self._net, "_session", None)

    def chip(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """112x112 RGB chip on the ArcFace template (OpenCV's alignCrop geometry)."""
        return arcface_chip(image, detection.landmarks, 112)

    def _embed_raw(self, chips: np.ndarray) -> np.ndarray:
        # OpenCV's reference feeds RGB (blobFromImage with swapRB on a BGR chip), unscaled.
        return self._net.run(np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32))
