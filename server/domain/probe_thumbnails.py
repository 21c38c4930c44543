"""Probe thumbnails: a small JPEG of the face a door compared, kept only where the operator turned it on.

Biometric data, so off by default (FACEGRID_PROBE_THUMBNAILS_DAYS 0). When on, each Pass that saw a face keeps that
face cut from the frame compared (for a burst denied before any comparison, by liveness or a crowd: the largest face
seen), about 96 px, in Redis for the retention period; the Pass's audit entry names it by a random id, so the console
can show it beside the decision to an admin. A recognised subject's thumbnails go with their Forget; a stranger's
(nobody recognised) live until the retention period ends. The face is cut out on the call (a copy of ~300 px); the
JPEG is made and written by the background writer, like the audit entry, so the door answers no later for it.
"""

from __future__ import annotations

import io
import logging
import math
import secrets
from typing import Callable

import numpy as np
from PIL import Image

from ..store.probe_thumbnails import ProbeThumbnailStore

log = logging.getLogger("facegrid.server")

SIZE = 96  # pixels, the longer side
MARGIN = 0.3  # of the face box, on each side: the head, not the inner face alone
QUALITY = 80


def face_crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """A square cut (a copy) of a face box (x, y, width, height) with a margin, from an RGB image; cut by its edges."""
    height, width = image.shape[:2]
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * MARGIN)
    centre_x, centre_y = x + w / 2, y + h / 2
    left, top = max(0, int(centre_x - side / 2)), max(0, int(centre_y - side / 2))
    right, bottom = min(width, int(math.ceil(centre_x + side / 2))), min(height, int(math.ceil(centre_y + side / 2)))
    return np.array(image[top:max(bottom, top + 1), left:max(right, left + 1)])


def thumbnail_jpeg(crop: np.ndarray, size: int = SIZE) -> bytes:
    """An RGB cut as a JPEG of at most `size` pixels a side."""
    picture = Image.fromarray(crop)
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


def face_thumbnail(image: np.ndarray, box: tuple[float, float, float, float], size: int = SIZE) -> bytes:
    """A square JPEG of a face box with a margin, at most `size` pixels a side, from an RGB image."""
    return thumbnail_jpeg(face_crop(image, box), size)


class ProbeThumbnails:
    """Keeps, serves and forgets probe thumbnails for `retention_days` (> 0: the operator turned them on)."""

    def __init__(self, store: ProbeThumbnailStore, retention_days: float, submit: Callable[[Callable], None]) -> None:
        if not retention_days > 0:
            raise ValueError(f"probe thumbnails need a retention period over 0 days, got {retention_days}")
        self.store = store
        self.retention_days = retention_days
        self.ttl_s = max(1, int(retention_days * 86400))
        self._submit = submit  # a background write on a pipeline (store/background.py)

    def keep(self, image: np.ndarray, box: tuple[float, float, float, float], subject_id: str = "") -> str:
        """Keep the thumbnail of a face; its id, for the audit entry. The face is cut out on the call; the JPEG is
        made and written by the background writer, so the door's answer waits for neither."""
        probe_id = secrets.token_urlsafe(12)
        crop = face_crop(image, box)

        def write(pipe) -> None:
            try:
                jpeg = thumbnail_jpeg(crop)
            except Exception as error:  # noqa: BLE001 - never the other background writes' failure
                log.warning("a probe thumbnail could not be encoded: %s: %s", type(error).__name__, error)
                return
            ProbeThumbnailStore.put(pipe, probe_id, jpeg, self.ttl_s, subject_id)

        self._submit(write)
        return probe_id

    def get(self, probe_id: str) -> bytes | None:
        """A thumbnail's JPEG, or None where it is not (or no longer) kept."""
        return self.store.get(probe_id)

    def kept(self, probe_ids: list[str]) -> set[str]:
        """Which of these thumbnails are still kept."""
        return self.store.kept(probe_ids)

    def forget(self, subject_id: str) -> int:
        """Remove a subject's thumbnails (their Forget); how many went."""
        return self.store.forget(subject_id)
