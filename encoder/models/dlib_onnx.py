"""dlib's 128-d face recognition ResNet as an ONNX graph, built from the `.dat` weights.

Input `chips`: float32 [N, 3, 150, 150], normalised by `preprocess`. Output
`embedding`: float32 [N, 128], dlib's raw descriptor (not L2-normalised).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..assets import dlib_model
from ..runtime import EncoderSettings
from .dlib_dat import AddPrev, Affine, Conv, Fc, InputRGB, Layer, Pool, Relu, Skip, Tag, read_dlib_dat

DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)  # stored in the .dat too
CHIP_SIZE = 150
OPSET = 17
# Part of the cache file name: bump when the graph built from the same .dat changes.
GRAPH_VERSION = 1


# ----------------------------------------------------------------------------------------
# Preprocessing


def preprocess(chips_rgb_uint8: np.ndarray) -> np.ndarray:
    """(N,150,150,3) uint8 RGB chips -> (N,3,150,150) float32, normalised as dlib does."""
    chips = np.asarray(chips_rgb_uint8)
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"expected uint8 chips of shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.dtype} {chips.shape}")
    # dlib: (pixel - mean) / 256 in float32; dividing by 256 is exact.
    planar = chips.transpose(0, 3, 1, 2).astype(np.float32)
    planar -= MEAN_RGB[None, :, None, None]
    planar /= np.float32(256)
    return np.ascontiguousarray(planar)


# ----------------------------------------------------------------------------------------
# Graph building


@dataclass(frozen=True)
class _Value:
    """A tensor in the graph being built; shape is (channels, rows, cols), batch dynamic."""

    name: str
    shape: tuple[int, int, int]


def _pooled_size(size: int, window: int, stride: int, padding: int) -> int:
    # dlib's (and ONNX's default floor) output size for convolutions and pooling.
    return 1 + (size + 2 * padding - window) // stride


class _GraphBuilder:
    """Collects nodes and initializers while walking dlib's layers input first."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def constant(self, prefix: str, array: np.ndarray) -> str:
        name = self.fresh(prefix)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        output = output or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def conv(self, x: _Value, conv: Conv, affine: Affine | None) -> _Value:
        weight, bias = _fold_affine(conv, affine)
        out_channels, _, kh, kw = weight.shape
        (sy, sx), (py, px) = conv.stride, conv.padding
        name = self.node(
            "Conv",
            [x.name, self.constant("w", weight), self.constant("b", bias)],
            kernel_shape=[kh, kw],
            strides=[sy, sx],
            pads=[py, px, py, px],
        )
        _, rows, cols = x.shape
        return _Value(name, (out_channels, _pooled_size(rows, kh, sy, py), _pooled_size(cols, kw, sx, px)))

    def affine(self, x: _Value, affine: Affine) -> _Value:
        # Only for an affine layer not directly after a convolution (none in this model).
        scale = self.constant("scale", affine.scale.reshape(1, -1, 1, 1))
        shift = self.constant("shift", affine.shift.reshape(1, -1, 1, 1))
        return _Value(self.node("Add", [self.node("Mul", [x.name, scale]), shift]), x.shape)

    def relu(self, x: _Value) -> _Value:
        return _Value(self.node("Relu", [x.name]), x.shape)

    def pool(self, x: _Value, pool: Pool) -> _Value:
        channels, rows, cols = x.shape
        if pool.window == (0, 0):  # a 0x0 window covers the whole input
            return _Value(self.node("GlobalAveragePool", [x.name]), (channels, 1, 1))
        (kh, kw), (sy, sx), (py, px) = pool.window, pool.stride, pool.padding
        # dlib averages only over in-bounds values: ONNX's count_include_pad=0 default.
        op = "MaxPool" if pool.kind == "max" else "AveragePool"
        name = self.node(op, [x.name], kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
        return _Value(name, (channels, _pooled_size(rows, kh, sy, py), _pooled_size(cols, kw, sx, px)))

    def pad_to(self, x: _Value, shape: tuple[int, int, int]) -> _Value:
        # Zeros at the end of channels, rows and columns: how dlib adds unequal tensors.
        extra = [target - have for target, have in zip(shape, x.shape)]
        if not any(extra):
            return x
        pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)  # N,C,H,W begins then ends
        return _Value(self.node("Pad", [x.name, self.constant("pads", pads)]), shape)

    def add(self, a: _Value, b: _Value) -> _Value:
        shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape))
        a, b = self.pad_to(a, shape), self.pad_to(b, shape)
        return _Value(self.node("Add", [a.name, b.name]), shape)

    def fc(self, x: _Value, fc: Fc, output: str) -> _Value:
        flat = self.node("Flatten", [x.name], axis=1)  # dlib flattens k, rows, cols in order
        weight = self.constant("fc", fc.weight)
        return _Value(self.node("MatMul", [flat, weight], output=output), (fc.weight.shape[1], 1, 1))


def _fold_affine(conv: Conv, affine: Affine | None) -> tuple[np.ndarray, np.ndarray]:
    # scale * (W * x + b) + shift == (scale * W) * x + (scale * b + shift); done in
    # float64 so the only extra rounding is the final cast.
    weight, bias = conv.weight.astype(np.float64), conv.bias.astype(np.float64)
    if affine is not None:
        scale, shift = affine.scale.astype(np.float64), affine.shift.astype(np.float64)
        weight = weight * scale[:, None, None, None]
        bias = bias * scale + shift
    return weight.astype(np.float32), bias.astype(np.float32)


def _check_input(layer: Layer) -> InputRGB:
    # preprocess() runs outside the graph with fixed means: make sure they are the file's.
    if not isinstance(layer, InputRGB) or (layer.rows, layer.cols) != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError(f"expected a {CHIP_SIZE}x{CHIP_SIZE} RGB input layer, found {layer}")
    if not np.array_equal(np.array(layer.mean_rgb, dtype=np.float32), MEAN_RGB):
        raise ValueError(f"the .dat's input means {layer.mean_rgb} differ from preprocess()'s {MEAN_RGB}")
    return layer


def _build_graph(layers: list[Layer]) -> onnx.GraphProto:
    g = _GraphBuilder()
    first = _check_input(layers[0])
    x = _Value("chips", (3, first.rows, first.cols))
    tags: dict[int, _Value] = {}
    index = 1
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1] if index + 1 < len(layers) else None
        if isinstance(layer, Conv):
            # Fold the affine (frozen batch norm) that follows into the convolution.
            affine = following if isinstance(following, Affine) else None
            x = g.conv(x, layer, affine)
            index += 1 if affine is not None else 0
        elif isinstance(layer, Affine):
            x = g.affine(x, layer)
        elif isinstance(layer, Relu):
            x = g.relu(x)
        elif isinstance(layer, Pool):
            x = g.pool(x, layer)
        elif isinstance(layer, Tag):
            tags[layer.tag] = x
        elif isinstance(layer, Skip):
            x = tags[layer.tag]
        elif isinstance(layer, AddPrev):
            x = g.add(x, tags[layer.tag])
        elif isinstance(layer, Fc) and following is None:
            x = g.fc(x, layer, output="embedding")
        else:
            raise ValueError(f"unsupported layer at position {index}: {type(layer).__name__}")
        index += 1
    if x.name != "embedding":
        raise ValueError("the network must end with its fully connected layer")
    return helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["N", 3, first.rows, first.cols])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", x.shape[0]])],
        initializer=g.initializers,
    )


def build_dlib_onnx(dat_path: Path) -> bytes:
    """The serialized ONNX ModelProto equivalent to dlib's network in `dat_path`."""
    graph = _build_graph(read_dlib_dat(Path(dat_path)))
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="facegrid",
        doc_string="dlib_face_recognition_resnet_model_v1; input (rgb - mean) / 256, output not normalised",
    )
    model.ir_version = 8  # readable by ONNX Runtime >= 1.10
    onnx.checker.check_model(model)
    return model.SerializeToString()


# ----------------------------------------------------------------------------------------
# Cache


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_dlib_onnx(dat_path: Path | None = None, folder: Path | None = None) -> Path:
    """Path of the ONNX file for `dat_path` (default: the shipped model), built on first use."""
    dat_path = Path(dat_path) if dat_path is not None else dlib_model(DAT_NAME)
    folder = Path(folder) if folder is not None else EncoderSettings().converted_dir()
    target = folder / f"dlib_resnet_v1-g{GRAPH_VERSION}-{_sha256(dat_path)[:16]}.onnx"
    if target.is_file():
        return target
    model = build_dlib_onnx(dat_path)
    # Temp file in the same folder + os.replace: readers never see a partial file, and
    # concurrent builders each replace it with identical bytes.
    fd, temp = tempfile.mkstemp(dir=folder, prefix=target.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model)
        os.chmod(temp, 0o644)  # mkstemp makes it owner-only
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
