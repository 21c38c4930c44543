"""The entry zone: the part of the picture where a face is someone at the door (fractions of the frame)."""

from __future__ import annotations

from dataclasses import dataclass

from .detector import Face


@dataclass(frozen=True)
class Zone:
    """A rectangle x1,y1,x2,y2 in fractions of the frame's width and height; the default is the whole frame."""

    x1: float = 0.0
    y1: float = 0.0
    x2: float = 1.0
    y2: float = 1.0

    @classmethod
    def parse(cls, text: str) -> "Zone":
        """'x1,y1,x2,y2' fractions, e.g. '0.25,0,0.75,1'; ValueError when malformed."""
        try:
            x1, y1, x2, y2 = (float(v) for v in text.split(","))
        except ValueError:
            raise ValueError(f"a zone is four fractions x1,y1,x2,y2 (e.g. 0.25,0,0.75,1), got {text!r}") from None
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise ValueError(f"a zone needs 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1, got {text!r}")
        return cls(x1, y1, x2, y2)

    def contains(self, face: Face, frame_width: int, frame_height: int) -> bool:
        """Whether the face's centre lies in the zone."""
        cx, cy = face.centre
        return self.x1 <= cx / frame_width <= self.x2 and self.y1 <= cy / frame_height <= self.y2
