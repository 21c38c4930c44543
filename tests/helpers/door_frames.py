"""Door camera frames made from still photos, for the door's tests."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def photos(faces_dir: Path, folder: str) -> list[bytes]:
    """The bytes of every photo in a folder of the faces data, in name order."""
    return [p.read_bytes() for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


def frame(photo: bytes, crop: float = 0.0) -> bytes:
    """A door camera's frame of a photo: cut in by `crop` of each side (the person moved a little), at most 640 px."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    w, h = image.size
    image = image.crop((int(w * crop), int(h * crop), int(w * (1 - crop)), int(h * (1 - crop))))
    image.thumbnail((640, 640))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
