"""Who else is in view: the one rule, shared by the door's Pass and the gate's Verify and Identify, for when another
face in a photo counts as a second person (a tailgater) rather than a passer-by far behind."""

from __future__ import annotations

CROWD_FRACTION = 1 / 3  # another face counts from a third of the largest face's size


def largest_and_others(sizes: list[float], min_face_size: float) -> tuple[int | None, int]:
    """The index of the largest face (None: no face) and how many other faces are of usable size: at least
    `min_face_size` pixels (the probe minimum) and a third of the largest face."""
    if not sizes:
        return None, 0
    largest = max(range(len(sizes)), key=sizes.__getitem__)
    least = max(min_face_size, sizes[largest] * CROWD_FRACTION)
    return largest, sum(1 for i, size in enumerate(sizes) if i != largest and size >= least)
