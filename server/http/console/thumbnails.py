"""Face and photo thumbnails for the console, read from the operator's library folder and nowhere else.

The server keeps no photos: it has each photo's paths as the indexer sent them and the SHA-256 of its bytes. A
thumbnail is made only where FACEGRID_LIBRARY_ROOT names a folder and one of those paths, every symbolic link
resolved, is a regular file inside it (a path outside it, '..' out of it or a link out of it is refused) whose
bytes have the indexed SHA-256 (a file changed or swapped since is refused too). The bytes go through the
encoder's safe decoder (size and pixel limits before decoding, EXIF rotation as at indexing, so the stored box
fits), and a small JPEG comes out. Anything else is None: the page shows the path and the box instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

from PIL import Image

from facegrid.encoder.errors import EncoderError
from facegrid.encoder.image import DecodeLimits, decode_image

FACE_PX = 128  # a face thumbnail's side
PHOTO_PX = 256  # a photo thumbnail's longer side
FACE_MARGIN = 0.3  # of the face box's longer side, on each side: hair and chin show


def inside(root: Path, stored: str) -> Path | None:
    """The real path of a stored photo path if it is inside `root` (resolved), else None; a relative path is taken
    from the root."""
    if not stored or "\x00" in stored:
        return None
    candidate = Path(stored) if Path(stored).is_absolute() else root / stored
    try:
        real = candidate.resolve(strict=True)  # every link followed: where the bytes really are
    except (OSError, RuntimeError):  # missing, unreadable, or a loop of links
        return None
    return real if real != root and real.is_relative_to(root) else None


def _read(path: Path, max_bytes: int) -> bytes | None:
    """A regular file's bytes (at most max_bytes), or None; opened without following a link put there meanwhile,
    and without blocking on a FIFO."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(handle, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode) or status.st_size > max_bytes:
            return None
        data = file.read(max_bytes + 1)
    return data if len(data) <= max_bytes else None


def photo_bytes(root: Path | None, paths: list[str], photo_sha256: str, max_bytes: int) -> bytes | None:
    """The indexed photo's bytes from the first of its paths inside `root` that still holds them, or None."""
    if root is None:
        return None
    for stored in paths:
        real = inside(root, stored)
        data = _read(real, max_bytes) if real is not None else None
        if data is not None and hashlib.sha256(data).hexdigest() == photo_sha256:
            return data
    return None


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()


def face_jpeg(photo: bytes, box: tuple[float, float, float, float], limits: DecodeLimits) -> bytes | None:
    """A square JPEG of the face at `box` (x, y, width, height in the decoded photo), FACE_PX a side; None where the
    photo cannot be decoded or the box lies outside it."""
    try:
        pixels = decode_image(photo, limits)
    except EncoderError:
        return None
    height, width = pixels.shape[:2]
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * FACE_MARGIN)
    cx, cy = x + w / 2, y + h / 2
    left, top = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    right, bottom = min(width, int(cx + side / 2)), min(height, int(cy + side / 2))
    if right - left < 2 or bottom - top < 2:
        return None
    image = Image.fromarray(pixels[top:bottom, left:right])
    image.thumbnail((FACE_PX, FACE_PX), Image.Resampling.LANCZOS)
    return _jpeg(image)


def photo_jpeg(photo: bytes, limits: DecodeLimits) -> bytes | None:
    """A JPEG of the whole photo, PHOTO_PX on its longer side; None where it cannot be decoded."""
    try:
        pixels = decode_image(photo, limits)
    except EncoderError:
        return None
    image = Image.fromarray(pixels)
    image.thumbnail((PHOTO_PX, PHOTO_PX), Image.Resampling.LANCZOS)
    return _jpeg(image)
