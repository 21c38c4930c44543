"""Rewriting OpenCV Zoo's weight-quantized ONNX files for fast float inference on ONNX Runtime.

The shipped YuNet and SFace files keep their weights as int8 blocks that a
DequantizeLinear node expands on every call (and ONNX Runtime refuses YuNet's
per-tensor nodes that carry a block size). `fold_weights` expands them once, in
numpy; converted graphs are cached in the data directory by source hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper


_WEIGHT_OPS = {"DequantizeLinear", "Reshape", "Constant"}


def _dequantize(node: onnx.NodeProto, inputs: list[np.ndarray | None]) -> np.ndarray:
    """DequantizeLinear per tensor, per axis or per block: (x - zero_point) * scale."""
    attributes = {a.name: a.i for a in node.attribute}
    values = inputs[0].astype(np.float32)
    scale = inputs[1].astype(np.float32)
    zero = inputs[2].astype(np.float32) if len(inputs) > 2 and inputs[2] is not None else np.zeros_like(scale)
    if scale.size > 1:
        axis = attributes.get("axis", 1) % values.ndim
        block = attributes.get("block_size", 0)
        if block:  # one scale per `block` values along the axis
            positions = np.arange(values.shape[axis]) // block
            scale, zero = np.take(scale, positions, axis=axis), np.take(zero, positions, axis=axis)
        else:  # one scale per slice along the axis
            shape = [1] * values.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (values - zero) * scale


def fold_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every weight-only node (dequantize, reshape, constant) evaluated once."""
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type in _WEIGHT_OPS and all(x in values or x == "" for x in node.input):
            inputs = [values.get(x) for x in node.input]
            if node.op_type == "Constant":
                values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            elif node.op_type == "Reshape":
                values[node.output[0]] = inputs[0].reshape(inputs[1])
            else:
                values[node.output[0]] = _dequantize(node, inputs)
            continue
        kept.append(node)
    used = {x for node in kept for x in node.input}
    del model.graph.node[:]
    model.graph.node.extend(kept)
    del model.graph.initializer[:]
    model.graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in values.items() if name in used)
    # Some files list their original weights as graph inputs although nothing reads them.
    inputs = [i for i in model.graph.input if i.name in used and i.name not in values]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return model


def cached_graph(source: Path, label: str, convert: Callable[[Path], bytes], folder: Path) -> Path:
    """Path of `convert(source)`, built on first use and cached in `folder` by `label` and the source's hash."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = Path(folder) / f"{label}-{digest}.onnx"
    if not target.exists():
        data = convert(source)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, target)
    return target
