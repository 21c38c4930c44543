"""SimCLR's augmentations as small parts, and the pair of independent views each photo becomes.

Each part is one torchvision v2 transform on a (3, h, w) uint8 tensor; `simclr_transform` composes them:
crop and resize, flip, a small rotation, colour jitter (p 0.8), grayscale (p 0.2), Gaussian blur, a
patch cut out. Face chips are already aligned, so their crops are milder (most of the face stays in
view) than a whole photo's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import v2


@dataclass(frozen=True)
class AugmentSettings:
    """How strong each part is; `for_faces` / `for_photos` give the defaults."""

    size: int
    crop_scale: tuple[float, float]
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    rotation: float = 10.0  # degrees either way
    jitter: float = 0.4  # brightness, contrast, saturation; hue is a quarter of it
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: float = 0.5
    erase_p: float = 0.25
    erase_scale: tuple[float, float] = (0.02, 0.12)

    @classmethod
    def for_faces(cls, size: int) -> "AugmentSettings":
        """Aligned chips: keep 60-100% of the chip, nearly square, small tilt."""
        return cls(size=size, crop_scale=(0.6, 1.0), crop_ratio=(0.9, 1.1), rotation=10.0)

    @classmethod
    def for_photos(cls, size: int) -> "AugmentSettings":
        """Whole photos: SimCLR's 8-100% crops."""
        return cls(size=size, crop_scale=(0.08, 1.0), rotation=15.0)


def crop(s: AugmentSettings) -> v2.Transform:
    """A random crop of the area fraction and aspect ratio asked, resized to size x size."""
    return v2.RandomResizedCrop(s.size, scale=s.crop_scale, ratio=s.crop_ratio, antialias=True)


def flip() -> v2.Transform:
    """A horizontal flip half the time."""
    return v2.RandomHorizontalFlip(0.5)


def rotate(s: AugmentSettings) -> v2.Transform:
    """A random rotation up to the settings' angle, or nothing when it is 0."""
    return v2.RandomRotation(s.rotation) if s.rotation > 0 else v2.Identity()


def colour(s: AugmentSettings) -> v2.Transform:
    """Colour jitter applied with probability jitter_p, then grayscale with probability gray_p."""
    j = s.jitter
    return v2.Compose([v2.RandomApply([v2.ColorJitter(j, j, j, j / 4)], p=s.jitter_p), v2.RandomGrayscale(s.gray_p)])


def blur(s: AugmentSettings) -> v2.Transform:
    """Gaussian blur, kernel ~10% of the side (odd), sigma 0.1-2, with probability blur_p."""
    kernel = max(3, (s.size // 10) | 1)
    return v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=s.blur_p)


def cut_out(s: AugmentSettings) -> v2.Transform:
    """A random rectangle set to zero (RandomErasing), with probability erase_p."""
    return v2.RandomErasing(p=s.erase_p, scale=s.erase_scale, value=0)


def simclr_transform(s: AugmentSettings) -> v2.Compose:
    """All parts in SimCLR's order: geometry first, then colour, blur, the cut-out last."""
    return v2.Compose([crop(s), flip(), rotate(s), colour(s), blur(s), cut_out(s)])


class TwoViews:
    """A photo (3, h, w) uint8 into two independently augmented (3, size, size) uint8 views."""

    def __init__(self, transform: v2.Transform) -> None:
        self.transform = transform

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent augmentations of the same photo (a SimCLR positive pair)."""
        return self.transform(image), self.transform(image)


def normalise(batch: torch.Tensor, mean: float = 0.5, std: float = 0.5) -> torch.Tensor:
    """uint8 (n, 3, h, w) into the float input the face model card describes: (rgb/255 - mean)/std."""
    return (batch.float() / 255.0 - mean) / std
