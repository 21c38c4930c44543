"""YuNet on ONNX Runtime: the network, then the decoding `cv2.FaceDetectorYN` does.

The shipped int8 file is rewritten once (weights folded, input size left free) and
run by ONNX Runtime: 2.2 ms for a 320x320 photo on one CPU core, against 4.5 ms
for `cv2.FaceDetectorYN` on the same file. Decoding follows OpenCV's
`FaceDetectorYN` (objdetect/src/face_detect.cpp): the photo is padded to a
multiple of 32; for each stride (8, 16, 32) every cell scores
sqrt(class x objectness); a kept cell's box centre and landmarks are offsets in
cells, its size exp(.) cells; OpenCV's NMS on integer boxes removes overlaps.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx

from .assets import opencv_zoo_model
from .graph_rewrite import cached_graph, fold_weights
from .runtime import EncoderSettings
from .sessions.open import open_session

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
CONVERSION = "1"  # bump when convert_yunet changes, so cached graphs are rebuilt
STRIDES = (8, 16, 32)
DIVISOR = 32


def convert_yunet(path: Path) -> bytes:
    """The shipped YuNet with its weights folded and any input height and width."""
    model = fold_weights(onnx.load(str(path)))
    for dim, name in zip(model.graph.input[0].type.tensor_type.shape.dim[2:], ("height", "width")):
        dim.dim_param = name
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "cells"
    return model.SerializeToString()


def cached_yunet(settings: EncoderSettings | None = None) -> Path:
    """The path of the converted YuNet graph, converting once and caching it in the data folder."""
    folder = (settings or EncoderSettings()).converted_dir()
    return cached_graph(opencv_zoo_model(YUNET_FILE), f"yunet-{CONVERSION}", convert_yunet, folder)


def padded_blob(bgr: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) float32 blob of a BGR image, padded right and bottom with zeros to multiples of 32."""
    height, width = bgr.shape[:2]
    blob = np.zeros((1, 3, -(-height // DIVISOR) * DIVISOR, -(-width // DIVISOR) * DIVISOR), np.float32)
    blob[0, :, :height, :width] = bgr.transpose(2, 0, 1)
    return blob


def decode(outputs: dict[str, np.ndarray], blob_width: int, score_threshold: float, nms_threshold: float,
           top_k: int = 5000) -> np.ndarray:
    """Rows of (x, y, w, h, 5 landmark x/y pairs, score), best first, as FaceDetectorYN gives them."""
    rows = []
    for stride in STRIDES:
        columns = blob_width // stride
        score = np.sqrt(np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1) * np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1))
        cells = np.flatnonzero(score >= score_threshold)
        if not len(cells):
            continue
        column, row = (cells % columns).astype(np.float32), (cells // columns).astype(np.float32)
        box = outputs[f"bbox_{stride}"].reshape(-1, 4)[cells]
        width, height = np.exp(box[:, 2]) * stride, np.exp(box[:, 3]) * stride
        x = (column + box[:, 0]) * stride - width / 2
        y = (row + box[:, 1]) * stride - height / 2
        points = outputs[f"kps_{stride}"].reshape(-1, 5, 2)[cells]
        landmarks = np.stack([(points[..., 0] + column[:, None]) * stride, (points[..., 1] + row[:, None]) * stride], axis=-1)
        rows.append(np.column_stack([x, y, width, height, landmarks.reshape(-1, 10), score[cells]]).astype(np.float32))
    if not rows:
        return np.zeros((0, 15), np.float32)
    faces = np.concatenate(rows)
    if len(faces) > 1:
        boxes = [[int(v) for v in face[:4]] for face in faces]  # OpenCV's NMS sees integer boxes (truncated)
        keep = cv2.dnn.NMSBoxes(boxes, faces[:, 14].tolist(), score_threshold, nms_threshold, top_k=top_k)
        faces = faces[np.asarray(keep, dtype=np.int64).reshape(-1)]
    return faces


class YuNetNet:
    """The converted YuNet graph in one session (thread-safe: sessions are)."""

    def __init__(self, settings: EncoderSettings | None = None) -> None:
        settings = settings or EncoderSettings()
        # One photo at a time (YuNet's graph does not take a batch on OpenVINO); f32 only: no other precision measured.
        self._session = open_session(cached_yunet(settings), settings, "yunet", ("f32",), batch=1)
        self._names = [o.name for o in self._session.get_outputs()]

    def detect(self, bgr: np.ndarray, score_threshold: float, nms_threshold: float) -> np.ndarray:
        """FaceDetectorYN's rows for a BGR uint8 image."""
        blob = padded_blob(bgr)
        outputs = dict(zip(self._names, self._session.run(self._names, {"input": blob})))
        return decode(outputs, blob.shape[3], score_threshold, nms_threshold)
