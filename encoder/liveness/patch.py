"""The patch a MiniFASNet reads: the face box scaled about its centre, shifted inside the image, resized.

As the upstream project cuts it (its CropImage): the scale is lowered until the scaled box fits the image,
a box crossing an edge is shifted back inside rather than padded, and the pixels are resized to size x size.
"""

from __future__ import annotations

import cv2
import numpy as np


def patch_box(box: tuple[float, float, float, float], image_width: int, image_height: int, scale: float) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) in pixels of the box scaled by `scale` about its centre, kept inside the image."""
    x, y, width, height = box
    width, height = max(width, 1.0), max(height, 1.0)
    scale = min((image_height - 1) / height, (image_width - 1) / width, scale)
    new_width, new_height = width * scale, height * scale
    centre_x, centre_y = x + width / 2, y + height / 2
    left, top = centre_x - new_width / 2, centre_y - new_height / 2
    right, bottom = centre_x + new_width / 2, centre_y + new_height / 2
    # Shift back inside the image (never pad): the model was trained on patches cut this way.
    shift_x = -left if left < 0 else (image_width - right if right > image_width else 0.0)
    shift_y = -top if top < 0 else (image_height - bottom if bottom > image_height else 0.0)
    return int(left + shift_x), int(top + shift_y), int(right + shift_x), int(bottom + shift_y)


def cut_patch(bgr: np.ndarray, box: tuple[float, float, float, float], scale: float, size: int) -> np.ndarray:
    """The size x size BGR patch around a face box (uint8)."""
    height, width = bgr.shape[:2]
    left, top, right, bottom = patch_box(box, width, height, scale)
    pixels = bgr[max(top, 0):max(bottom, top + 1), max(left, 0):max(right, left + 1)]
    return cv2.resize(pixels, (size, size))
