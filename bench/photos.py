"""What the benchmarks measure with: camera-like probe frames, and latency percentiles."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def camera_frame(path: Path, size: tuple[int, int] = (640, 480)) -> bytes:
    """A photo cropped to 4:3 and resized to a camera-like JPEG frame."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    target = size[0] / size[1]
    if width / height > target:
        crop = int(height * target)
        image = image.crop(((width - crop) // 2, 0, (width - crop) // 2 + crop, height))
    else:
        crop = int(width / target)
        image = image.crop((0, (height - crop) // 2, width, (height - crop) // 2 + crop))
    buffer = io.BytesIO()
    image.resize(size, Image.LANCZOS).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def percentiles(samples: list[float]) -> dict:
    """The p50, p99 and mean of latency samples (seconds) in milliseconds."""
    ms = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2)}
