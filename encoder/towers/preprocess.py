"""Whole-image preprocessing of an image tower, exactly as open_clip (and torchvision's eval transforms) do it.

open_clip's eval transform is: resize (shortest edge, longest edge with padding, or squash) with PIL,
centre crop, to float in [0, 1], normalise by mean and std. PIL does the resizing here too, with the same
size arithmetic, so the pixels a tower sees are the reference library's pixels, not an approximation.
The settings come from Immich's `visual/preprocess_cfg.json` (open_clip's PreprocessCfg), plus one field of
ours, `resize`: resize the shortest edge to this before cropping `size` (torchvision's Resize(256) +
CenterCrop(224) for ImageNet backbones); without it, the shortest edge is resized to `size`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import BadModelFolder

_RESAMPLING = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}
RESIZE_MODES = ("shortest", "longest", "squash")


@dataclass(frozen=True)
class ImagePreprocess:
    """How an RGB photo becomes a tower's (3, H, W) float32 input."""

    size: tuple[int, int]  # height, width of the tower's input
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0
    resize: int = 0  # shortest edge before the centre crop; 0: the crop size itself

    @classmethod
    def from_config(cls, config: dict, source: str) -> "ImagePreprocess":
        """From an open_clip PreprocessCfg dict (Immich's preprocess_cfg.json); `source` names the file in errors."""
        try:
            size = config["size"]
            size = (int(size[0]), int(size[-1])) if isinstance(size, (list, tuple)) else (int(size), int(size))
            made = cls(
                size=size,
                mean=tuple(float(v) for v in config["mean"]),
                std=tuple(float(v) for v in config["std"]),
                interpolation=str(config.get("interpolation", "bicubic")),
                resize_mode=str(config.get("resize_mode", "shortest")),
                fill_color=int(config.get("fill_color", 0) or 0),
                resize=int(config.get("resize", 0) or 0),
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise BadModelFolder(f"{source}: not a preprocessing config ({type(error).__name__}: {error})") from None
        made.check(source)
        return made

    def check(self, source: str) -> None:
        """Raise BadModelFolder when a value cannot be used."""
        problems = []
        if not all(1 <= s <= 4096 for s in self.size):
            problems.append(f"size {self.size} out of 1..4096")
        if len(self.mean) != 3 or len(self.std) != 3 or not all(s > 0 for s in self.std):
            problems.append("mean and std need 3 values each, std > 0")
        if self.interpolation not in _RESAMPLING:
            problems.append(f"interpolation {self.interpolation!r} is not one of {', '.join(_RESAMPLING)}")
        if self.resize_mode not in RESIZE_MODES:
            problems.append(f"resize_mode {self.resize_mode!r} is not one of {', '.join(RESIZE_MODES)}")
        if problems:
            raise BadModelFolder(f"{source}: " + "; ".join(problems))

    def as_config(self) -> dict:
        """The preprocess_cfg.json form."""
        config = {
            "size": list(self.size), "mode": "RGB", "mean": list(self.mean), "std": list(self.std),
            "interpolation": self.interpolation, "resize_mode": self.resize_mode, "fill_color": self.fill_color,
        }
        if self.resize:
            config["resize"] = self.resize
        return config

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """A (3, H, W) float32 input from an (h, w, 3) uint8 RGB image."""
        image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
        image = self._resized(image)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        pixels = (pixels - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32)

    def _resized(self, image: Image.Image) -> Image.Image:
        target_h, target_w = self.size
        resample = _RESAMPLING[self.interpolation]
        if self.resize_mode == "squash":
            return image.resize((target_w, target_h), resample)
        if self.resize_mode == "longest":
            image = _resize_keep_ratio(image, self.size, longest=True, resample=resample)
            return _centre_crop_or_pad(image, self.size, self.fill_color)
        if self.resize or target_h == target_w:
            image = _resize_shortest(image, self.resize or target_h, resample)
        else:
            image = _resize_keep_ratio(image, self.size, longest=False, resample=resample)
        return _centre_crop_or_pad(image, self.size, self.fill_color)


def _resize_shortest(image: Image.Image, edge: int, resample) -> Image.Image:
    """torchvision's Resize(int): the shorter edge becomes `edge`, the longer keeps the ratio, rounded down."""
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = edge, int(edge * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return image
    return image.resize((new_w, new_h), resample)


def _resize_keep_ratio(image: Image.Image, size: tuple[int, int], longest: bool, resample) -> Image.Image:
    """open_clip's ResizeKeepRatio: scale so the longest (or shortest) edge fits the target, ratio kept."""
    w, h = image.size
    ratio_h, ratio_w = h / size[0], w / size[1]
    ratio = max(ratio_h, ratio_w) if longest else min(ratio_h, ratio_w)
    new_h, new_w = round(h / ratio), round(w / ratio)
    if (new_w, new_h) == (w, h):
        return image
    return image.resize((new_w, new_h), resample)


def _centre_crop_or_pad(image: Image.Image, size: tuple[int, int], fill: int) -> Image.Image:
    """torchvision's centre crop (rounding as it does), padding first where the image is smaller."""
    crop_h, crop_w = size
    w, h = image.size
    if crop_w > w or crop_h > h:
        left, top = max((crop_w - w) // 2, 0), max((crop_h - h) // 2, 0)
        padded = Image.new("RGB", (max(w, crop_w), max(h, crop_h)), (fill, fill, fill))
        padded.paste(image, (left, top))
        image, (w, h) = padded, padded.size
        if (w, h) == (crop_w, crop_h):
            return image
    top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
    return image.crop((left, top, left + crop_w, top + crop_h))
