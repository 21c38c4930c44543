"""decode_image on untrusted bytes: formats, colour modes, EXIF orientation, limits and failures.

Every fixture is generated here with Pillow/numpy (no image files in the repo); the
last tests run over the real photos in ../shared/data/faces when that folder exists.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from helpers import faces_dir_or_skip
from PIL import Image, ImageFile

from facegrid.encoder.errors import ImageError, ImageTooLarge, UnreadableImage
from facegrid.encoder.image import DecodeLimits, decode_image, image_size

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)
MSG_EMPTY = "empty file: no image data"
MSG_NOT_IMAGE = "not an image, or a format we do not read (JPEG, PNG, WEBP, GIF, BMP, TIFF, PGM/PPM, HEIC)"
FAST_S = 1.0  # a refusal from the header must take well under this


# --- fixtures and helpers ------------------------------------------------------


@pytest.fixture(autouse=True)
def _pillow_defaults(monkeypatch):
    """Run every test under Pillow's default global settings, whatever another test module set."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)


def quadrants(h: int = 48, w: int = 64) -> np.ndarray:
    """An asymmetric RGB image: red | green over blue | white, so all 8 flips/rotations differ."""
    a = np.empty((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = RED
    a[: h // 2, w // 2 :] = GREEN
    a[h // 2 :, : w // 2] = BLUE
    a[h // 2 :, w // 2 :] = WHITE
    return a


def quadrant_means(a: np.ndarray, margin: int = 6) -> list[np.ndarray]:
    """Mean colour of the interior of each quadrant (TL, TR, BL, BR), away from lossy edges."""
    h, w = a.shape[:2]
    boxes = [(0, h // 2, 0, w // 2), (0, h // 2, w // 2, w), (h // 2, h, 0, w // 2), (h // 2, h, w // 2, w)]
    return [a[y0 + margin : y1 - margin, x0 + margin : x1 - margin].reshape(-1, 3).mean(0) for y0, y1, x0, x1 in boxes]


def assert_quadrants(out: np.ndarray, expected: list[tuple[int, int, int]], tol: float) -> None:
    for got, want in zip(quadrant_means(out), expected):
        assert np.abs(got - np.array(want)).max() <= tol, (got, want)


def assert_rgb_contract(out: np.ndarray, shape: tuple[int, int]) -> None:
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint8
    assert out.shape == (*shape, 3)
    assert out.flags.c_contiguous and out.flags.writeable


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    """A PNG built chunk by chunk, with correct CRCs."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png16(samples: np.ndarray, color_type: int) -> bytes:
    """A 16-bit PNG (Pillow cannot write 16-bit RGB/RGBA/LA) from an (H, W, C) uint16 array."""
    h, w = samples.shape[:2]
    rows = samples.astype(">u2").view(np.uint8).reshape(h, -1)
    filtered = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)  # filter type 0 per row
    return raw_png(w, h, 16, color_type, zlib.compress(filtered.tobytes()))


def zeros_zlib(n_rows: int, row_len: int) -> bytes:
    """zlib stream of n_rows * row_len zero bytes, built in ~0.1 s for hundreds of MB.

    Deflate blocks ending with a full flush are self-contained and byte-aligned, so one
    compressed 16 MB block can be repeated; Adler-32 of n zeros is (n mod 65521) << 16 | 1.
    """
    chunk_rows = max(1, min(n_rows, (1 << 24) // row_len))
    full, rest = divmod(n_rows, chunk_rows)
    block = bytes(chunk_rows * row_len)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    c_last = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = c_last.compress(bytes(rest * row_len) if rest else block) + c_last.flush()
    adler = ((n_rows * row_len) % 65521) << 16 | 1
    return b"\x78\xda" + repeated * (full if rest else full - 1) + last + struct.pack(">I", adler)


def zero_png(width: int, height: int) -> bytes:
    """An 8-bit grayscale PNG of zeros: a complete, valid file (a bomb when large)."""
    return raw_png(width, height, 8, 0, zeros_zlib(height, width + 1))


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """20,000 x 20,000 black PNG: 400 MB of pixels in about 390 KB of file."""
    return zero_png(20_000, 20_000)


@pytest.fixture
def no_decode(monkeypatch):
    """Fail the test if any pixel data gets decoded (ImageFile.load is where plugins decode)."""

    def refuse(self):
        raise AssertionError(f"{self.format} image of {self.size} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def timed_refusal(data: bytes, limits: DecodeLimits = DecodeLimits()) -> ImageTooLarge:
    start = time.perf_counter()
    with pytest.raises(ImageTooLarge) as info:
        decode_image(data, limits)
    assert time.perf_counter() - start < FAST_S
    return info.value


# --- formats -------------------------------------------------------------------

FORMAT_CASES = [
    # (id, Pillow format, save options, colour tolerance)
    ("jpeg", "JPEG", {"quality": 95}, 12),
    ("jpeg-progressive", "JPEG", {"quality": 95, "progressive": True}, 12),
    ("png", "PNG", {}, 0),
    ("webp-lossy", "WEBP", {"quality": 95}, 16),
    ("webp-lossless", "WEBP", {"lossless": True}, 0),
    ("gif", "GIF", {}, 0),
    ("bmp", "BMP", {}, 0),
    ("ppm", "PPM", {}, 0),
    ("tiff", "TIFF", {}, 0),
    ("tiff-lzw", "TIFF", {"compression": "tiff_lzw"}, 0),
    ("tiff-deflate", "TIFF", {"compression": "tiff_deflate"}, 0),
]


@pytest.mark.parametrize(("fmt", "options", "tol"), [c[1:] for c in FORMAT_CASES], ids=[c[0] for c in FORMAT_CASES])
def test_each_format_decodes_with_right_shape_and_colours(fmt, options, tol):
    data = encode(Image.fromarray(quadrants()), fmt, **options)
    out = decode_image(data)
    assert_rgb_contract(out, (48, 64))
    assert_quadrants(out, [RED, GREEN, BLUE, WHITE], tol)
    if tol == 0:
        np.testing.assert_array_equal(out, quadrants())


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}), ("JPEG", {"quality": 95}), ("PPM", {}), ("TIFF", {}),
        ("BMP", {}), ("GIF", {}), ("WEBP", {"lossless": True}),
    ],
    ids=["png", "jpeg", "pgm", "tiff", "bmp", "gif", "webp"],
)
def test_grayscale_gives_three_equal_channels(fmt, options):
    gray = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (32, 1))
    data = encode(Image.fromarray(gray, "L"), fmt, **options)
    if fmt == "PPM":
        assert data.startswith(b"P5")  # binary PGM
    out = decode_image(data)
    assert_rgb_contract(out, (32, 64))
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert np.abs(out[..., 0].astype(int) - gray).max() <= (8 if fmt == "JPEG" else 0)


def test_bilevel_mode_1():
    bits = np.zeros((8, 16), bool)
    bits[:, 8:] = True
    out = decode_image(encode(Image.fromarray(bits), "PNG"))
    assert_rgb_contract(out, (8, 16))
    assert (out[:, :8] == 0).all() and (out[:, 8:] == 255).all()


def test_plain_text_pgm_and_ppm():
    out = decode_image(b"P2\n2 1\n255\n0 255\n")
    np.testing.assert_array_equal(out, [[BLACK, WHITE]])
    out = decode_image(b"P3\n2 1\n255\n255 0 0 0 0 255\n")
    np.testing.assert_array_equal(out, [[RED, BLUE]])


def test_format_comes_from_content_not_name(tmp_path):
    """A WEBP saved under a .jpg name decodes; a JPEG under .png too (the name is never used)."""
    webp = tmp_path / "photo.jpg"
    Image.fromarray(quadrants()).save(webp, "WEBP", lossless=True)
    np.testing.assert_array_equal(decode_image(webp.read_bytes()), quadrants())
    jpeg = tmp_path / "photo.png"
    Image.fromarray(quadrants()).save(jpeg, "JPEG", quality=95)
    assert_quadrants(decode_image(jpeg.read_bytes()), [RED, GREEN, BLUE, WHITE], 12)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("JPEG", {}), ("PNG", {}), ("WEBP", {"lossless": True}), ("GIF", {}), ("BMP", {}), ("PPM", {}), ("TIFF", {})],
    ids=["jpeg", "png", "webp", "gif", "bmp", "ppm", "tiff"],
)
def test_one_by_one_pixel(fmt, options):
    out = decode_image(encode(Image.new("RGB", (1, 1), (10, 200, 30)), fmt, **options))
    assert_rgb_contract(out, (1, 1))
    assert np.abs(out[0, 0].astype(int) - (10, 200, 30)).max() <= (12 if fmt == "JPEG" else 0)


@pytest.mark.parametrize(("width", "height"), [(300, 2000), (5000, 7), (1, 300), (4097, 3)])
def test_array_conversion_matches_pillow_for_odd_shapes(width, height):
    """The strip-wise copy into the output array equals Pillow's own conversion."""
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = decode_image(encode(Image.fromarray(pixels), "PNG", compress_level=1))
    assert_rgb_contract(out, (height, width))
    np.testing.assert_array_equal(out, pixels)


# --- colour modes ----------------------------------------------------------------


def test_16bit_gray_png_spans_full_8bit_range():
    ramp = np.linspace(0, 65535, 512).round().astype(np.uint16).reshape(2, 256)
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    out = decode_image(data)
    assert_rgb_contract(out, (2, 256))
    g = out[..., 0].astype(int)
    assert g.min() == 0 and g.max() == 255  # scaled, not clipped to 255 everywhere
    assert (np.diff(g[0]) >= 0).all()
    np.testing.assert_allclose(g, ramp / 65535 * 255, atol=1.01)


@pytest.mark.parametrize(
    ("color_type", "channels"), [(0, 1), (2, 3), (4, 2), (6, 4)], ids=["gray16", "rgb16", "gray-alpha16", "rgba16"]
)
def test_16bit_png_every_colour_type(color_type, channels):
    w = 64
    ramp = np.linspace(0, 65535, w).round().astype(np.uint16)
    samples = np.zeros((4, w, channels), np.uint16)
    samples[..., 0] = ramp
    if channels in (2, 4):
        samples[..., -1] = 65535  # opaque
    if channels >= 3:
        samples[..., 1] = 65535 - ramp
        samples[..., 2] = 32768
    out = decode_image(png16(samples, color_type))
    assert_rgb_contract(out, (4, w))
    expected_first = np.round(ramp / 65535 * 255)
    np.testing.assert_allclose(out[0, :, 0], expected_first, atol=1.01)
    if channels >= 3:
        np.testing.assert_allclose(out[0, :, 1], 255 - expected_first, atol=1.01)
        assert abs(int(out[0, 0, 2]) - 128) <= 1
    else:
        assert (out[..., 0] == out[..., 2]).all()


def test_16bit_pgm_and_tiff():
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16)
    pgm = b"P5\n256 1\n65535\n" + ramp.astype(">u2").tobytes()
    tiff = encode(Image.fromarray(ramp.reshape(1, 256)), "TIFF")
    for data in (pgm, tiff):
        g = decode_image(data)[0, :, 0].astype(int)
        assert g[0] == 0 and g[-1] == 255 and (np.diff(g) >= 0).all()


def test_pgm_with_odd_maxval_is_scaled():
    out = decode_image(b"P2\n3 1\n1023\n0 512 1023\n")
    np.testing.assert_allclose(out[0, :, 0], [0, 128, 255], atol=1)


def test_32bit_int_and_float_tiff():
    signed = np.linspace(-1000, 1000, 64).round().astype(np.int32).reshape(1, 64)
    g = decode_image(encode(Image.fromarray(signed, "I"), "TIFF"))[0, :, 0].astype(int)
    assert g[0] == 0 and g[-1] == 255 and (np.diff(g) >= 0).all()

    unit = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(1, 64)
    g = decode_image(encode(Image.fromarray(unit, "F"), "TIFF"))[0, :, 0].astype(int)
    np.testing.assert_allclose(g, unit[0] * 255, atol=1)

    broken = unit.copy()
    broken[0, :4] = [np.nan, np.inf, -np.inf, np.nan]
    out = decode_image(encode(Image.fromarray(broken, "F"), "TIFF"))
    assert_rgb_contract(out, (1, 64))


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency_composites_on_white(fmt):
    indices = np.zeros((8, 16), np.uint8)
    indices[:, 8:] = 1
    img = Image.fromarray(indices, "P")
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))  # index 0 black (transparent), 1 red
    out = decode_image(encode(img, fmt, transparency=0))
    assert_rgb_contract(out, (8, 16))
    assert (out[:, :8] == 255).all()  # transparent black shows as white, not black
    assert (out[:, 8:] == RED).all()


def test_palette_without_transparency():
    img = Image.fromarray(quadrants()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    np.testing.assert_array_equal(decode_image(encode(img, "PNG")), quadrants())


def test_rgb_colour_key_transparency():
    rgb = quadrants()
    out = decode_image(encode(Image.fromarray(rgb), "PNG", transparency=RED))
    assert_quadrants(out, [WHITE, GREEN, BLUE, WHITE], 0)


def test_la_gray_alpha():
    la = np.zeros((8, 24, 2), np.uint8)  # black everywhere
    la[:, 8:16, 1] = 128  # half transparent
    la[:, 16:, 1] = 255  # opaque
    out = decode_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert_rgb_contract(out, (8, 24))
    assert (out[:, :8] == 255).all()
    assert (np.abs(out[:, 8:16].astype(int) - 127) <= 1).all()
    assert (out[:, 16:] == 0).all()


@pytest.mark.parametrize(("fmt", "options"), [("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {})])
def test_rgba_alpha_composited_on_white(fmt, options):
    rgba = np.zeros((8, 24, 4), np.uint8)
    rgba[..., 2] = 255  # blue
    rgba[:, 8:16, 3] = 128
    rgba[:, 16:, 3] = 255
    out = decode_image(encode(Image.fromarray(rgba, "RGBA"), fmt, **options))
    assert (out[:, :8] == 255).all()
    assert (np.abs(out[:, 8:16].astype(int) - (127, 127, 255)) <= 1).all()
    assert (out[:, 16:] == BLUE).all()


@pytest.mark.parametrize(("fmt", "tol"), [("JPEG", 12), ("TIFF", 0)])
def test_cmyk(fmt, tol):
    img = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red
    img.paste((255, 0, 255, 0), (0, 0, 16, 32))  # left half pure green
    data = encode(img, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = decode_image(data)
    assert_rgb_contract(out, (32, 32))
    assert np.abs(out[4:-4, 4:12].reshape(-1, 3).mean(0) - GREEN).max() <= tol
    assert np.abs(out[4:-4, 20:-4].reshape(-1, 3).mean(0) - RED).max() <= tol


@pytest.mark.parametrize(("fmt", "tol"), [("GIF", 0), ("PNG", 0), ("WEBP", 16)], ids=["gif", "apng", "webp"])
def test_animation_gives_its_first_frame(fmt, tol):
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    out = decode_image(data)
    assert_rgb_contract(out, (16, 16))
    assert np.abs(out.reshape(-1, 3).mean(0) - RED).max() <= tol


# --- EXIF orientation --------------------------------------------------------------

# What a viewer shows for a stored image a, per EXIF orientation (written from the
# EXIF definitions with numpy, independently of Pillow's transpose table).
DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored horizontally
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1],  # mirrored vertically
    5: lambda a: a.transpose(1, 0, 2),  # row 0 is the left side, column 0 the top
    6: lambda a: np.rot90(a, -1),  # shown rotated 90 clockwise
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # row 0 is the right side, column 0 the bottom
    8: lambda a: np.rot90(a, 1),  # shown rotated 90 counter-clockwise
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(
    ("fmt", "options"),
    [("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True})],
    ids=["jpeg", "png", "webp"],
)
def test_exif_orientation(fmt, options, orientation):
    stored = quadrants(48, 64)
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[274] = orientation
    out = decode_image(encode(img, fmt, exif=exif, **options))
    expected = DISPLAYED[orientation](stored)
    assert_rgb_contract(out, expected.shape[:2])
    if fmt == "JPEG":
        assert np.abs(out.astype(int) - expected).mean() < 4
        assert_quadrants(out, [tuple(c) for c in quadrant_means(expected, margin=0)], 12)
    else:
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_invalid_exif_orientation_is_ignored(value):
    img = Image.fromarray(quadrants())
    exif = img.getexif()
    exif[274] = value
    np.testing.assert_array_equal(decode_image(encode(img, "PNG", exif=exif)), quadrants())


# --- unreadable input -----------------------------------------------------------------


def test_empty_bytes():
    with pytest.raises(UnreadableImage) as info:
        decode_image(b"")
    assert str(info.value) == MSG_EMPTY


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(7).integers(0, 256, 10_000, dtype=np.uint8).tobytes(),
        b"\x00",
        b"hello, this is text, not a photo\n" * 10,
        b"<!DOCTYPE html><html><body><img src=x></body></html>",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS would run Ghostscript: never opened
        b"PK\x03\x04" + bytes(100),
    ],
    ids=["random", "one-byte", "text", "html", "pdf", "eps", "zip"],
)
def test_not_an_image(data):
    with pytest.raises(UnreadableImage) as info:
        decode_image(data)
    assert str(info.value) == MSG_NOT_IMAGE


@pytest.mark.parametrize("fmt", ["ICO", "JPEG2000", "PCX", "TGA"])
def test_formats_we_do_not_read_are_refused(fmt):
    try:
        data = encode(Image.fromarray(quadrants()), fmt)
    except (KeyError, OSError) as exc:  # this Pillow build cannot write it
        pytest.skip(f"Pillow cannot write {fmt}: {exc}")
    with pytest.raises(UnreadableImage) as info:
        decode_image(data)
    assert str(info.value) == MSG_NOT_IMAGE


def noisy_image(h: int = 96, w: int = 128) -> Image.Image:
    return Image.fromarray(np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("keep", [0.02, 0.25, 0.5, 0.9, -2], ids=["2%", "25%", "50%", "90%", "all-but-2-bytes"])
@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_truncated_jpeg_is_refused_not_partially_decoded(progressive, keep):
    data = encode(noisy_image(), "JPEG", quality=90, progressive=progressive)
    cut = data[:keep] if keep < 0 else data[: int(len(data) * keep)]
    with pytest.raises(UnreadableImage) as info:
        decode_image(cut)
    assert str(info.value).startswith("truncated or corrupt image")


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the TIFF's cut EXIF/IFD
@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("GIF", {}), ("BMP", {}), ("PPM", {}), ("TIFF", {}), ("WEBP", {}), ("WEBP", {"lossless": True})],
    ids=["png", "gif", "bmp", "ppm", "tiff", "webp", "webp-lossless"],
)
def test_truncated_other_formats(fmt, options):
    data = encode(noisy_image(), fmt, **options)
    for keep in (0.1, 0.5, 0.95):
        with pytest.raises(UnreadableImage) as info:
            decode_image(data[: int(len(data) * keep)])
        assert str(info.value).startswith("truncated or corrupt image")


@pytest.mark.parametrize(("width", "height"), [(0, 0), (0, 10), (10, 0)])
def test_zero_width_or_height(width, height):
    with pytest.raises(UnreadableImage):
        decode_image(raw_png(width, height, 8, 0, zlib.compress(b"")))
    with pytest.raises(UnreadableImage):
        decode_image(f"P5\n{width} {height}\n255\n".encode())


def test_bytes_after_header_garbled():
    data = bytearray(encode(noisy_image(), "PNG"))
    data[200:400] = bytes(200)  # IDAT contents destroyed: zlib or CRC failure
    with pytest.raises(UnreadableImage):
        decode_image(bytes(data))


def test_wrong_type():
    with pytest.raises(TypeError):
        decode_image("not bytes")  # type: ignore[arg-type]


def test_bytearray_and_memoryview_accepted():
    data = encode(Image.fromarray(quadrants()), "PNG")
    np.testing.assert_array_equal(decode_image(bytearray(data)), quadrants())
    np.testing.assert_array_equal(decode_image(memoryview(data)), quadrants())


def test_errors_are_typed():
    assert issubclass(UnreadableImage, ImageError) and issubclass(ImageTooLarge, ImageError)


# --- limits and bombs -------------------------------------------------------------------


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (8, 8)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # logical screen
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (1, 1)), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def webp_claiming(width: int, height: int, chunk: bytes = b"VP8X") -> bytes:
    """A WebP whose header claims width x height; chunk picks the layout (VP8X, VP8L, "VP8 ")."""
    img = Image.new("RGBA" if chunk != b"VP8 " else "RGB", (1, 1))
    exif = img.getexif()
    exif[274] = 1  # metadata forces the extended (VP8X) layout
    options = {"lossless": chunk != b"VP8 ", **({"exif": exif} if chunk == b"VP8X" else {})}
    data = bytearray(encode(img, "WEBP", **options))
    assert bytes(data[12:16]) == chunk
    if chunk == b"VP8X":  # 24-bit (size - 1) fields
        data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    elif chunk == b"VP8L":  # 14-bit (size - 1) fields after the 0x2F signature
        bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1)
        data[21:25] = (bits | (width - 1) | (height - 1) << 14).to_bytes(4, "little")
    else:  # key frame: 14-bit sizes after the start code 9D 01 2A
        data[26:30] = struct.pack("<HH", width, height)
    return bytes(data)


HEADER_CLAIMS = {
    "png": lambda w, h: raw_png(w, h, 8, 2, zlib.compress(bytes(100))),
    "jpeg": jpeg_claiming,
    "gif": gif_claiming,
    "bmp": bmp_claiming,
    "webp-vp8x": webp_claiming,
    "webp-vp8l": lambda w, h: webp_claiming(w, h, b"VP8L"),
    "webp-vp8": lambda w, h: webp_claiming(w, h, b"VP8 "),
    "pgm": lambda w, h: f"P5\n{w} {h}\n255\n".encode() + bytes(100),
}


@pytest.mark.parametrize("pillow_guard", [True, False], ids=["pillow-guard-on", "pillow-guard-off"])
def test_png_header_claiming_50000x50000_is_refused_fast(pillow_guard, monkeypatch, no_decode):
    data = raw_png(50_000, 50_000, 8, 2, zlib.compress(bytes(1000)))  # correct CRCs, tiny IDAT
    if not pillow_guard:  # our check must not depend on Pillow's process-global limit
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    timed_refusal(data)


@pytest.mark.parametrize("kind", sorted(HEADER_CLAIMS))
@pytest.mark.parametrize(
    ("width", "height"),
    [(8000, 8000), (16000, 16000)],  # 64 M: under Pillow's 179 M hard limit; 256 M: over it
    ids=["64Mpx", "256Mpx"],
)
def test_header_claiming_huge_canvas_refused_before_decoding(kind, width, height, monkeypatch, no_decode):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    err = timed_refusal(HEADER_CLAIMS[kind](width, height))
    assert f"{width}x{height}" in str(err)


def test_real_decompression_bomb(bomb_png, monkeypatch):
    assert len(bomb_png) < 1_000_000  # 400 MB of pixels in a few hundred KB
    timed_refusal(bomb_png)  # Pillow's own guard fires in the header: mapped to ImageTooLarge
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    err = timed_refusal(bomb_png)  # now only our limit stands in the way
    assert "20000x20000" in str(err)


def test_bomb_builder_makes_valid_files():
    """The zero-PNG used as a bomb is a real, decodable image at a size we accept."""
    out = decode_image(zero_png(1500, 1000))
    assert_rgb_contract(out, (1000, 1500))
    assert not out.any()


def test_pillow_decompression_bomb_error_maps_to_image_too_large(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # Pillow refuses > 100 px itself
    with pytest.raises(ImageTooLarge):
        decode_image(encode(Image.new("RGB", (20, 20)), "PNG"))


def test_pillow_global_state_untouched():
    decode_image(encode(Image.fromarray(quadrants()), "JPEG"))
    assert Image.MAX_IMAGE_PIXELS == 89_478_485
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_byte_limit_checked_first():
    data = encode(Image.fromarray(quadrants()), "PNG")
    assert decode_image(data, DecodeLimits(max_bytes=len(data))).shape == (48, 64, 3)
    with pytest.raises(ImageTooLarge) as info:
        decode_image(data, DecodeLimits(max_bytes=len(data) - 1))
    assert f"{len(data):,} bytes" in str(info.value)
    with pytest.raises(ImageTooLarge):  # even garbage is refused for its size before anything else
        decode_image(bytes(21_000_000))


def test_custom_pixel_limit():
    limits = DecodeLimits(max_pixels=100)
    assert decode_image(encode(Image.new("RGB", (10, 10)), "PNG"), limits).shape == (10, 10, 3)
    assert decode_image(encode(Image.new("RGB", (100, 1)), "GIF"), limits).shape == (1, 100, 3)
    with pytest.raises(ImageTooLarge) as info:
        decode_image(encode(Image.new("RGB", (11, 10)), "PNG"), limits)
    assert "11x10" in str(info.value) and "100 pixels" in str(info.value)


def test_default_limits_allow_a_large_photo():
    data = encode(Image.new("RGB", (8000, 5000), (9, 9, 9)), "JPEG", quality=50)
    assert decode_image(data).shape == (5000, 8000, 3)  # 40 M pixels: exactly the limit


def test_decode_limits_validation():
    assert DecodeLimits() == DecodeLimits(max_bytes=20_000_000, max_pixels=40_000_000)
    with pytest.raises(ValueError):
        DecodeLimits(max_bytes=0)
    with pytest.raises(ValueError):
        DecodeLimits(max_pixels=-1)
    with pytest.raises(AttributeError):  # frozen
        DecodeLimits().max_bytes = 1  # type: ignore[misc]


def jpeg_with_repeated_scan(copies: int) -> bytes:
    """A progressive JPEG whose first scan is repeated: the many-scan CPU attack."""
    data = encode(noisy_image(64, 64), "JPEG", progressive=True)
    sos = data.index(b"\xff\xda")
    end = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    while True:  # the scan ends at the next marker that is not stuffing or a restart
        end = data.index(b"\xff", end)
        if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
            end += 2
            continue
        break
    return data[:end] + data[sos:end] * copies + data[end:]


def test_jpeg_with_too_many_scans_refused():
    assert decode_image(jpeg_with_repeated_scan(50)).shape == (64, 64, 3)  # libjpeg tolerates repeats
    start = time.perf_counter()
    with pytest.raises(UnreadableImage, match="scans"):
        decode_image(jpeg_with_repeated_scan(600))
    assert time.perf_counter() - start < FAST_S


# --- image_size, threads -------------------------------------------------------------------


def test_image_size_reads_header_only(no_decode, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert image_size(encode(Image.new("RGB", (33, 17)), "JPEG")) == (33, 17)
    assert image_size(encode(Image.new("RGB", (300, 200)), "WEBP")) == (300, 200)
    assert image_size(raw_png(50_000, 40_000, 8, 0, b"")) == (50_000, 40_000)
    with pytest.raises(UnreadableImage):
        image_size(b"")
    with pytest.raises(UnreadableImage):
        image_size(b"definitely not an image")


def test_concurrent_decoding_is_consistent():
    payloads = [
        encode(Image.fromarray(quadrants(240, 320)), fmt, **opt)
        for fmt, opt in [("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"lossless": True}), ("GIF", {})]
    ] * 8
    serial = [decode_image(d) for d in payloads]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(decode_image, payloads))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


# --- real photos ------------------------------------------------------------------------------


def faces_dir() -> Path:
    return faces_dir_or_skip()


def assert_sensible_photo(out: np.ndarray) -> None:
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.flags.c_contiguous
    assert min(out.shape[:2]) >= 32
    assert 30 < out.mean() < 225 and out.std() > 15  # neither black, white nor flat


def test_real_webp_named_jpg_decodes():
    folder = faces_dir() / "deepface"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    disguised = []
    for path in sorted(folder.rglob("*.jpg")):
        with path.open("rb") as f:
            head = f.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            disguised.append(path)
    assert disguised, "expected one .jpg in deepface/ that is really WEBP"
    for path in disguised:
        assert_sensible_photo(decode_image(path.read_bytes()))


def test_real_obama_resolution_variants_decode():
    folder = faces_dir() / "face_recognition" / "obama_resolution_variants"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    assert any(p.suffix.lower() == ".png" for p in paths)
    for path in paths:
        out = decode_image(path.read_bytes())
        assert_sensible_photo(out)
        with Image.open(path) as im:
            assert out.shape[:2] == (im.height, im.width)


def test_real_orl_pgm_decodes():
    folder = faces_dir() / "orl"
    pgms = sorted(folder.glob("s*/*.pgm"))[:5] if folder.is_dir() else []
    if not pgms:
        pytest.skip(f"no PGM files under {folder}")
    for path in pgms:
        out = decode_image(path.read_bytes())
        assert out.shape == (112, 92, 3)
        assert (out[..., 0] == out[..., 1]).all()


def test_heic_from_a_phone_decodes():
    pillow_heif = pytest.importorskip("pillow_heif", reason="pillow-heif reads HEIC")
    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.fromarray(quadrants(96, 128)).save(buffer, "HEIF", quality=95)
    decoded = decode_image(buffer.getvalue())
    assert decoded.shape == (96, 128, 3)
    assert decoded[10, 10].argmax() == 0  # red stays red in the top-left quadrant
    with pytest.raises(ImageTooLarge):
        decode_image(buffer.getvalue(), DecodeLimits(max_pixels=1000))
