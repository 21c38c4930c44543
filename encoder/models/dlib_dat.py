"""Reader for dlib's `dlib_face_recognition_resnet_model_v1.dat`.

dlib serialises a network as nested C++ objects, outside-in. For this file:

    add_loss_layer version, loss_metric_ settings,
    one version number per wrapper layer (outermost first, down to the input),
    the input layer's settings,
    then each real layer's settings and weights, from the input outward.

That order follows from each wrapper writing `version, subnetwork, own details`.
Tag and skip layers write only `version, subnetwork`, so they add a version number and
nothing else. The wiring (which tag a skip or add_prev refers to) is not in the file:
it comes from `anet_type` in dlib's examples/dnn_face_recognition_ex.cpp, expanded by
`network_definition()` below; the reader checks the file against it as it goes.

The result is a list of small dataclasses with plain numpy arrays, input first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------------------
# Layers, as the reader returns them (input first)


@dataclass(frozen=True)
class InputRGB:
    """input_rgb_image_sized: per-channel means subtracted before dividing by 256."""

    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


@dataclass(frozen=True)
class Conv:
    """con_: weights [out, in, h, w] and bias [out]."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    """affine_ (batch norm frozen at training end): y = scale * x + shift, per channel."""

    scale: np.ndarray
    shift: np.ndarray


@dataclass(frozen=True)
class Relu:
    """relu_."""


@dataclass(frozen=True)
class Pool:
    """max_pool_ / avg_pool_; window (0, 0) means the whole input (avg_pool_everything)."""

    kind: str  # "max" or "avg"
    window: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Fc:
    """fc_ without bias: y = x @ weight, weight [in, out]."""

    weight: np.ndarray


@dataclass(frozen=True)
class Tag:
    """tagN: remembers the current output under `tag`."""

    tag: int


@dataclass(frozen=True)
class Skip:
    """skipN: continues from the output remembered under `tag`."""

    tag: int


@dataclass(frozen=True)
class AddPrev:
    """add_prevN: current output + the output remembered under `tag`.

    dlib adds tensors of different shapes by taking the larger size in every
    dimension and treating missing entries of either input as zero (channels at the
    end, rows at the bottom, columns at the right).
    """

    tag: int


Layer = InputRGB | Conv | Affine | Relu | Pool | Fc | Tag | Skip | AddPrev


# ----------------------------------------------------------------------------------------
# The network definition: anet_type expanded, input first. Entries are layer kinds
# ("con", "affine", ...) with the template arguments the file is checked against.


def _block(filters: int, stride: int) -> list[tuple]:
    # block<N,BN,stride> = BN<con<N,3,3,1,1, relu<BN<con<N,3,3,stride,stride, SUBNET>>>>>
    return [
        ("con", filters, 3, stride),
        ("affine",),
        ("relu",),
        ("con", filters, 3, 1),
        ("affine",),
    ]


def _ares(filters: int) -> list[tuple]:
    # relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [("tag", 1), *_block(filters, 1), ("add_prev", 1), ("relu",)]


def _ares_down(filters: int) -> list[tuple]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return [
        ("tag", 1),
        *_block(filters, 2),
        ("tag", 2),
        ("skip", 1),
        ("avg_pool", 2, 2),
        ("add_prev", 2),
        ("relu",),
    ]


def network_definition() -> list[tuple]:
    """anet_type of dnn_face_recognition_ex.cpp as a flat list of layer kinds, input first."""
    stem = [("input",), ("con", 32, 7, 2), ("affine",), ("relu",), ("max_pool", 3, 2)]
    alevel4 = _ares(32) * 3
    alevel3 = _ares_down(64) + _ares(64) * 3
    alevel2 = _ares_down(128) + _ares(128) * 2
    alevel1 = _ares_down(256) + _ares(256) * 2
    alevel0 = _ares_down(256)
    head = [("avg_pool", 0, 1), ("fc", 128)]  # avg_pool_everything = avg_pool<0,0,1,1>
    return stem + alevel4 + alevel3 + alevel2 + alevel1 + alevel0 + head


# ----------------------------------------------------------------------------------------
# Primitive decoding


class DatFormatError(ValueError):
    """The file does not hold the network this reader expects."""


class _Stream:
    """Cursor over the file's bytes with dlib's primitive decoders."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise DatFormatError(f"unexpected end of file at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        # A control byte (low 4 bits: how many value bytes follow, 0x80: negative),
        # then the magnitude little-endian. Zero is one control byte 0x01 and a 0x00.
        control = self.take(1)[0]
        size = control & 0x0F
        magnitude = int.from_bytes(self.take(size), "little")
        return -magnitude if control & 0x80 else magnitude

    def real(self) -> float:
        # float_details: value = mantissa * 2**exponent, both as integers above;
        # exponents 32000.. mark inf, -inf and nan.
        mantissa, exponent = self.integer(), self.integer()
        special = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}
        if exponent in special:
            return special[exponent]
        return float(mantissa) * 2.0**exponent

    def boolean(self) -> bool:
        # Booleans are the ASCII characters '0' / '1', not bytes 0 / 1.
        char = self.take(1)
        if char not in (b"0", b"1"):
            raise DatFormatError(f"bad boolean {char!r} at byte {self.pos - 1}")
        return char == b"1"

    def string(self) -> str:
        return self.take(self.integer()).decode("ascii")

    def tensor(self) -> np.ndarray:
        # version 2, then num_samples, k, nr, nc, then raw little-endian float32
        # (not dlib's generic float encoding: tensors are written compactly).
        self.expect_version("tensor", 2)
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self.take(4 * count), dtype="<f4")
        return values.reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, ...]:
        # An alias_tensor is a view into a layer's `params`: only its shape is stored.
        self.expect_version("alias_tensor", 1)
        return tuple(self.integer() for _ in range(4))

    def expect_version(self, what: str, *allowed: int) -> int:
        version = self.integer()
        if version not in allowed:
            raise DatFormatError(f"{what}: version {version}, expected one of {allowed}")
        return version

    def expect_str(self, what: str, *allowed: str) -> str:
        value = self.string()
        if value not in allowed:
            raise DatFormatError(f"{what}: found {value!r}, expected one of {allowed}")
        return value


# ----------------------------------------------------------------------------------------
# Layer details (what each layer's serialize() writes)


def _read_input(s: _Stream) -> InputRGB:
    s.expect_str("input layer", "input_rgb_image_sized")
    mean = (s.real(), s.real(), s.real())
    rows, cols = s.integer(), s.integer()
    return InputRGB(mean_rgb=mean, rows=rows, cols=cols)


def _read_con(s: _Stream, filters: int, size: int, stride: int) -> Conv:
    version = s.expect_str("con", "con_4", "con_5", "con_6")
    params = s.tensor()
    num_filters = s.integer()
    nr, nc, stride_y, stride_x = s.integer(), s.integer(), s.integer(), s.integer()
    padding = (s.integer(), s.integer())
    filters_shape = s.alias_tensor()
    s.alias_tensor()  # biases: [1, out, 1, 1], stored after the filters in params
    for _ in range(4):  # learning-rate and weight-decay multipliers: training only
        s.real()
    use_bias = s.boolean() if version in ("con_5", "con_6") else True
    if version == "con_6":
        if s.boolean():  # use_relu: a relu fused into the convolution by dlib's fuse_layers
            raise DatFormatError("con: fused relu is not supported")
    if (num_filters, nr, nc, stride_y, stride_x) != (filters, size, size, stride, stride):
        raise DatFormatError(f"con: found {num_filters} {nr}x{nc}/{stride_y}, expected {filters} {size}x{size}/{stride}")
    flat = params.reshape(-1)
    weight_count = int(np.prod(filters_shape))
    weight = flat[:weight_count].reshape(filters_shape)
    bias = flat[weight_count : weight_count + num_filters] if use_bias else np.zeros(num_filters, np.float32)
    return Conv(weight=weight, bias=bias, stride=(stride_y, stride_x), padding=padding)


def _read_affine(s: _Stream) -> Affine:
    version = s.expect_str("affine", "affine_", "affine_2")
    params = s.tensor()
    gamma_shape = s.alias_tensor()
    s.alias_tensor()  # beta: same shape, stored after gamma in params
    mode = s.integer()
    disabled = s.boolean() if version == "affine_2" else False
    if mode != 0:  # layer_mode: CONV_MODE = 0 (per channel), FC_MODE = 1 (per element)
        raise DatFormatError(f"affine: mode {mode}, expected CONV_MODE (0)")
    channels = int(np.prod(gamma_shape))
    flat = params.reshape(-1)
    scale, shift = flat[:channels], flat[channels : 2 * channels]
    if disabled:  # a disabled affine is the identity
        scale, shift = np.ones_like(scale), np.zeros_like(shift)
    return Affine(scale=scale, shift=shift)


def _read_relu(s: _Stream) -> Relu:
    version = s.expect_str("relu", "relu_", "relu_2")
    if version == "relu_2" and s.boolean():
        raise DatFormatError("relu: disabled relu layers are not supported")
    return Relu()


def _read_pool(s: _Stream, kind: str, size: int, stride: int) -> Pool:
    s.expect_str(f"{kind}_pool", f"{kind}_pool_2")
    nr, nc, stride_y, stride_x = s.integer(), s.integer(), s.integer(), s.integer()
    padding = (s.integer(), s.integer())
    if (nr, nc, stride_y, stride_x) != (size, size, stride, stride):
        raise DatFormatError(f"{kind}_pool: found {nr}x{nc}/{stride_y}, expected {size}x{size}/{stride}")
    return Pool(kind=kind, window=(nr, nc), stride=(stride_y, stride_x), padding=padding)


def _read_fc(s: _Stream, outputs: int) -> Fc:
    version = s.expect_str("fc", "fc_2", "fc_3")
    num_outputs, num_inputs = s.integer(), s.integer()
    params = s.tensor()
    weights_shape = s.alias_tensor()  # [num_inputs, num_outputs]: y = x @ W
    s.alias_tensor()  # biases (unused: fc_no_bias)
    if s.integer() != 1:  # fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1
        raise DatFormatError("fc: expected fc_no_bias")
    for _ in range(4):  # learning-rate and weight-decay multipliers
        s.real()
    if version == "fc_3":
        s.boolean()  # use_bias
    if num_outputs != outputs or weights_shape[:2] != (num_inputs, num_outputs):
        raise DatFormatError(f"fc: found {num_inputs}->{num_outputs}, expected ->{outputs}")
    weight = params.reshape(-1)[: num_inputs * num_outputs].reshape(num_inputs, num_outputs)
    return Fc(weight=weight)


def _read_add_prev(s: _Stream, tag: int) -> AddPrev:
    s.expect_str("add_prev", "add_prev_")
    return AddPrev(tag=tag)


def _read_details(s: _Stream, spec: tuple) -> Layer:
    kind, *args = spec
    if kind == "con":
        return _read_con(s, *args)
    if kind == "affine":
        return _read_affine(s)
    if kind == "relu":
        return _read_relu(s)
    if kind in ("max_pool", "avg_pool"):
        return _read_pool(s, kind.removesuffix("_pool"), *args)
    if kind == "fc":
        return _read_fc(s, *args)
    if kind == "add_prev":
        return _read_add_prev(s, *args)
    raise AssertionError(f"no reader for {kind}")


def _skip_layer_state(s: _Stream, input_layer_version: int | None) -> None:
    # After its details add_layer writes training state: three booleans
    # (setup called, gradient stale, output disabled) and tensors that are empty in a
    # cleaned network. The add_layer holding the input layer (input_layer_version set)
    # writes grad_final instead of params_grad and, from version 3, one more integer.
    for _ in range(3):
        s.boolean()
    s.tensor()  # x_grad
    s.tensor()  # cached_output
    s.tensor()  # params_grad, or grad_final
    if input_layer_version == 3:
        s.integer()  # _sample_expansion_factor


# ----------------------------------------------------------------------------------------
# The file


def _read_loss(s: _Stream) -> None:
    s.expect_version("add_loss_layer", 1)
    if s.expect_str("loss", "loss_metric_", "loss_metric_2") == "loss_metric_2":
        s.real(), s.real()  # margin, distance threshold: training only


def _read_wrapper_versions(s: _Stream, definition: list[tuple]) -> int:
    # Outermost first; the last one is the add_layer holding the input layer, whose
    # version is returned because it decides what that layer writes after its details.
    for index in range(len(definition) - 1, 1, -1):
        kind = definition[index][0]
        if kind in ("tag", "skip"):
            s.expect_version(f"{kind} layer", 1)
        else:
            s.expect_version(f"add_layer ({kind})", 2)  # version 1 lacks params_grad
    return s.expect_version("add_layer on the input", 2, 3)


def read_dlib_dat(path: Path) -> list[Layer]:
    """The network's layers with their parameters, input first."""
    definition = network_definition()
    s = _Stream(Path(path).read_bytes())
    _read_loss(s)
    input_layer_version = _read_wrapper_versions(s, definition)
    layers: list[Layer] = [_read_input(s)]
    for index, spec in enumerate(definition[1:], start=1):
        kind, *args = spec
        if kind == "tag":
            layers.append(Tag(*args))
        elif kind == "skip":
            layers.append(Skip(*args))
        else:
            layers.append(_read_details(s, spec))
            _skip_layer_state(s, input_layer_version if index == 1 else None)
    if s.pos != len(s.data):
        raise DatFormatError(f"{len(s.data) - s.pos} unread bytes at the end of the file")
    return layers


if __name__ == "__main__":  # a quick look at a file: python -m facegrid.encoder.models.dlib_dat
    from facegrid.encoder.assets import dlib_model

    for layer in read_dlib_dat(dlib_model("dlib_face_recognition_resnet_model_v1.dat")):
        shapes = {k: getattr(v, "shape", v) for k, v in vars(layer).items()}
        print(type(layer).__name__, shapes)
