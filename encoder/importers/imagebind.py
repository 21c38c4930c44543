"""ImageBind (image + text + audio towers): not importable, for want of a maintained package of its architecture.

Checked on PyPI (December 2026): there is no maintained distribution of Meta's ImageBind model code.
`imagebind_huge.pth` is a bare state dict; turning it into towers needs the model classes of
facebookresearch/ImageBind (CC-BY-NC 4.0, installed from git, not a PyPI release), which also pin old
torch/torchvision/pytorchvideo versions. See docs/models.md for what was checked. The model card
and registry do hold a third tower ("audio": its ONNX graph and its own preprocessing fields), so an
ImageBind export made elsewhere, or a model trained here (`facegrid train`), can be served as is.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ImportFailed

REASON = (
    "ImageBind cannot be imported: no maintained PyPI package provides its architecture "
    "(the 'imagebind' names on PyPI are unrelated or abandoned placeholders; Meta's facebookresearch/ImageBind is "
    "git-only, CC-BY-NC 4.0, and pins torch 1.13 / pytorchvideo). imagebind_huge.pth is a bare state dict that "
    "needs those model classes. A folder with an 'audio' tower in its facegrid.json (exported elsewhere) is served as is."
)


def import_imagebind(checkpoint: Path, out_dir: Path, name: str | None = None) -> Path:
    """Always ImportFailed, with the reason: see the module docstring."""
    raise ImportFailed(REASON)
