"""What goes over the network: the face with its surroundings, at most 640 px on the long side, as JPEG.

The server's liveness model reads the context around a face (a phone's edge, a hand, the screen's frame:
MiniFASNet looks at 2.7x and 4x the face box), so each frame is cut to 4x the face box in width and in
height around its centre, clipped to the frame; when that is the whole frame, the whole frame goes.
"""

from __future__ import annotations

import cv2
import numpy as np

CONTEXT = 4.0         # crop side / face box side
MAX_SIDE = 640        # long side of what is sent, pixels
JPEG_QUALITY = 90


def crop_region(box: tuple[float, float, float, float], frame_width: int, frame_height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): CONTEXT times the box around its centre, clipped to the frame."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    half_w, half_h = w * CONTEXT / 2, h * CONTEXT / 2
    x0, y0 = max(0, int(np.floor(cx - half_w))), max(0, int(np.floor(cy - half_h)))
    x1, y1 = min(frame_width, int(np.ceil(cx + half_w))), min(frame_height, int(np.ceil(cy + half_h)))
    return x0, y0, x1, y1


def face_crop(bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The region around the face, scaled down so that its long side is at most MAX_SIDE."""
    height, width = bgr.shape[:2]
    x0, y0, x1, y1 = crop_region(box, width, height)
    crop = bgr[y0:y1, x0:x1]
    long_side = max(crop.shape[:2])
    if long_side > MAX_SIDE:
        scale = MAX_SIDE / long_side
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return crop


def encode_jpeg(bgr: np.ndarray) -> bytes:
    """JPEG bytes of a BGR image."""
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()
