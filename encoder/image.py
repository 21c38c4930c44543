"""Safe decoding of untrusted image bytes into RGB uint8 arrays.

Every photo the service receives passes through ``decode_image``.  The bytes come
from users, so the function:

* picks the format from the content (Pillow's magic-byte sniffing, restricted to
  a short list of formats we read), never from a file name;
* refuses oversized input *before* decoding: first by byte count, then by the
  pixel count read from the header, so a tiny file that claims a huge canvas
  never gets its pixel buffer allocated;
* turns every failure of the decoders into one of the typed errors of
  ``encoder.errors`` with a message a user can act on;
* applies the EXIF orientation, and maps every colour mode Pillow can produce
  (grayscale, palette, alpha, CMYK, 16-bit, 32-bit int, float) to RGB uint8.

Nothing here touches Pillow's process-global settings (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``, warning filters), and there is no shared
mutable state, so concurrent calls from several threads are safe.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import ImageTooLarge, UnreadableImage

__all__ = ["DecodeLimits", "decode_image", "image_size"]

# Pillow format ids we open.  "JPEG" also covers MPO (multi-picture JPEG from
# phones/cameras; Pillow's JPEG factory returns its first picture), "PPM" covers
# PBM/PGM/PPM/PFM.  Restricting the list keeps Pillow away from exotic plugins
# (EPS would run Ghostscript, others are rarely exercised parsers).
_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "PPM", "TIFF")

# HEIC/HEIF (phone photos) through pillow-heif, where installed. Registering its
# plugin is process-wide but only adds a reader; it decodes on load, after our
# pixel check, like the other formats.
try:
    import pillow_heif

    pillow_heif.register_heif_opener()
    _FORMATS += ("HEIF",)
except ImportError:  # pragma: no cover - pillow-heif is a dependency; this keeps decoding working without it
    pass

_MSG_EMPTY = "empty file: no image data"
_MSG_NOT_IMAGE = (
    "not an image, or a format we do not read (JPEG, PNG, WEBP, GIF, BMP, TIFF, PGM/PPM, HEIC)"
)

_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)

# A progressive JPEG with thousands of tiny scans makes libjpeg re-walk the
# whole coefficient buffer once per scan, so a small file can cost many seconds
# of CPU.  Real encoders write about 10 scans; libjpeg-turbo's tools cap at 500.
# Counting FF DA bytes may also count markers inside EXIF thumbnails or by chance
# inside metadata, which is far below this bound for any real photo.
_MAX_JPEG_SCANS = 500

# Pillow 16-bit/32-bit/float single-band modes; handled with numpy, not convert().
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})

# EXIF orientation (tag 274) -> the transpose that undoes it (same table as
# PIL.ImageOps.exif_transpose, which we do not call: it copies the image even
# when there is nothing to do).
_EXIF_ORIENTATION = 0x0112
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class DecodeLimits:
    """Size limits applied to untrusted image bytes before they are decoded."""

    max_bytes: int = 20_000_000
    max_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("DecodeLimits: max_bytes and max_pixels must be positive")


_DEFAULT_LIMITS = DecodeLimits()


def decode_image(data: bytes, limits: DecodeLimits = _DEFAULT_LIMITS) -> np.ndarray:
    """Decode untrusted image bytes to a C-contiguous, writable RGB uint8 array (H, W, 3)."""
    data = _as_bytes(data)
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"image file too large: {len(data):,} bytes, the limit is {limits.max_bytes:,} bytes"
        )
    with _open(data, limits.max_pixels) as im:
        fmt = im.format or "image"
        try:
            im.load()  # the full decode: the only step that allocates the pixels
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(_bomb_message(limits.max_pixels)) from exc
        except MemoryError:
            raise
        except Exception as exc:  # OSError, SyntaxError, ValueError, EOFError, struct.error...
            raise UnreadableImage(
                f"truncated or corrupt image: the {fmt} data could not be fully decoded"
            ) from exc
        try:
            return _to_rgb_array(_apply_exif_orientation(im))
        except MemoryError:
            raise
        except Exception as exc:
            raise UnreadableImage(
                f"unsupported image: cannot convert {fmt} colour mode {im.mode!r} to RGB"
            ) from exc


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) as stored in the header, read without decoding; EXIF orientation not applied."""
    with _open(_as_bytes(data), None) as im:
        return im.size


# --- internals -----------------------------------------------------------------


def _as_bytes(data: bytes) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(f"image data must be bytes, not {type(data).__name__}")
    if not data:
        raise UnreadableImage(_MSG_EMPTY)
    return data


def _check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise UnreadableImage(f"corrupt image: it claims a size of {width}x{height} pixels")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(
            f"image too large: {width}x{height} = {width * height:,} pixels, "
            f"the limit is {max_pixels:,} pixels"
        )


def _bomb_message(max_pixels: int | None) -> str:
    limit = f" (the limit is {max_pixels:,} pixels)" if max_pixels is not None else ""
    return f"image too large: its header claims more pixels than we decode{limit}"


def _open(data: bytes, max_pixels: int | None) -> Image.Image:
    """Identify the format and read the header only; enforce the pixel limit before any decode."""
    # Pillow's WebP plugin creates libwebp's decoder (which allocates the canvas)
    # inside Image.open, so WebP's canvas size is checked from the header first.
    webp = _webp_header_size(data)
    if webp is not None:
        _check_pixels(*webp, max_pixels)
    try:
        im = Image.open(io.BytesIO(data), formats=_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own hard limit (2 * Image.MAX_IMAGE_PIXELS), hit in the header.
        raise ImageTooLarge(_bomb_message(max_pixels)) from exc
    except MemoryError:
        raise
    except Exception as exc:  # UnidentifiedImageError, or a plugin choking on its header
        looks_like = _sniff(data)
        if looks_like is None:
            raise UnreadableImage(_MSG_NOT_IMAGE) from exc
        raise UnreadableImage(
            f"truncated or corrupt image: it starts like a {looks_like} file "
            "but its header cannot be read"
        ) from exc
    try:
        _check_pixels(im.width, im.height, max_pixels)
        if im.format in ("JPEG", "MPO") and data.count(b"\xff\xda") > _MAX_JPEG_SCANS:
            raise UnreadableImage(
                f"corrupt image: the JPEG has more than {_MAX_JPEG_SCANS} scans"
            )
    except BaseException:
        im.close()
        raise
    return im


def _sniff(data: bytes) -> str | None:
    """Name of the format the magic bytes announce; used only to word error messages."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if len(data) >= 2 and data[0:1] == b"P" and data[1:2] in b"123456fF":
        return "PGM/PPM"
    return None


def _webp_header_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP header (RIFF....WEBP + VP8/VP8L/VP8X), or None if not WebP."""
    head = bytes(data[:30])
    if len(head) < 16 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:  # 24-bit (size - 1) fields
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:  # 14-bit (size - 1) fields
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":  # 14-bit fields
        return (
            int.from_bytes(head[26:28], "little") & 0x3FFF,
            int.from_bytes(head[28:30], "little") & 0x3FFF,
        )
    return None  # unknown layout: Pillow decides (and applies its own hard limit)


def _apply_exif_orientation(im: Image.Image) -> Image.Image:
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # corrupt EXIF must not make an otherwise good photo unreadable
        return im
    method = _ORIENTATION_FIX.get(orientation) if isinstance(orientation, int) else None
    return im.transpose(method) if method is not None else im


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in _HIGH_DEPTH_MODES:
        gray = _high_depth_to_u8(np.asarray(im))
        return np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    if mode in _ALPHA_MODES or "transparency" in im.info:
        # Alpha is composited on white rather than dropped: the colour under a
        # transparent pixel is undefined (often black, sometimes leftover content),
        # so dropping alpha can show black halos or hidden pixels around cut-out
        # portraits and stickers.  White is what a viewer sees on a web page.
        if mode not in ("RGBA", "LA"):
            im = im.convert("RGBA")  # palette/tRNS transparency, premultiplied modes
        flat = Image.new("RGB", im.size, (255, 255, 255))
        flat.paste(im, (0, 0), im)
        im = flat
    elif mode != "RGB":
        # L, 1, P, CMYK (Adobe-inverted CMYK JPEGs are handled by Pillow), YCbCr...
        # No ICC colour management: it would cost a pass and the embedding models
        # were trained on untransformed pixel values.
        im = im.convert("RGB")
    return _rgb_image_to_array(im)


def _rgb_image_to_array(im: Image.Image) -> np.ndarray:
    """Copy an RGB Pillow image into a new writable (H, W, 3) uint8 array.

    ``np.asarray(im)`` is read-only and ``np.array(im)`` copies twice through one
    huge ``bytes``; packing horizontal strips of about 1 MB (cache-sized) into a
    preallocated array is about 3x faster on a 12 MP photo, with public API only.
    """
    width, height = im.size
    out = np.empty((height, width, 3), dtype=np.uint8)
    flat = out.reshape(-1)
    row_bytes = width * 3
    rows = max(1, (1 << 20) // (width * 4))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = im if (top == 0 and bottom == height) else im.crop((0, top, width, bottom))
        flat[top * row_bytes : bottom * row_bytes] = np.frombuffer(strip.tobytes(), dtype=np.uint8)
    return out


def _high_depth_to_u8(a: np.ndarray) -> np.ndarray:
    """Scale a 16-bit / 32-bit int / float single-band array to uint8 over its full range.

    * unsigned 16-bit (I;16*), or int32 data within 0..65535 (how Pillow stores
      16-bit PGM and some 16-bit TIFFs): the 16-bit range maps onto 0..255 by
      keeping the high byte, as Pillow itself does for 16-bit RGB(A);
    * float data within 0..1: times 255;
    * anything else (negative values, 32-bit ranges, other float ranges): the
      image's own min..max is stretched onto 0..255 (NaN and inf count as 0).
    """
    if a.dtype.kind == "u" and a.dtype.itemsize == 2:
        return (a >> 8).astype(np.uint8)
    if a.dtype.kind == "f":
        a = np.where(np.isfinite(a), a, 0.0)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0.0 and hi <= 1.0:
            return np.rint(a * 255.0).astype(np.uint8)
    else:
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo >= 0 and hi <= 0xFFFF:
            return (a >> 8).astype(np.uint8)
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    scaled = (a.astype(np.float64) - lo) * (255.0 / (hi - lo))
    return np.rint(scaled).astype(np.uint8)
