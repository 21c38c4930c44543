"""ImageBind (image + text + audio towers): not importable, for want of a maintained package of its architecture.

What PyPI offers (checked December 2026 with pip download --no-deps and the packages' own files):
- `imagebind` 0.0.1.dev0 (2023): an empty placeholder wheel (metadata only, no code).
- `imagebind-packaged` 0.1.2 / `imagebind-package` 0.1.1 (2024-03): re-uploads of Meta's repository that pin
  torch 1.13 / torchvision==0.14.0 / pytorchvideo==0.1.5; they cannot be installed beside our torch 2.14.1.
- `imagebind-unofficial` 0.1.1 (2026-08): one person's re-upload of Meta's code. `import imagebind` imports
  its data module, which imports pytorchvideo 0.1.5 (its last release, 2022), which imports
  `torchvision.transforms.functional_tensor`, removed in torchvision 0.17: with our torchvision 0.29.1 the
  import fails (ModuleNotFoundError) before the model classes are reached. Its wheel says MIT; the
  LICENSE inside is Meta's CC BY-NC-SA 4.0 (non-commercial), as are the imagebind_huge.pth weights.
Meta's facebookresearch/ImageBind itself is not released on PyPI. `imagebind_huge.pth` is a bare state dict:
without those model classes there is nothing to load it into, and copying Meta's non-commercial code into
this MIT project is not an option. The model card and registry hold a third tower ("audio": its ONNX graph
and its own preprocessing fields), so an ImageBind export made elsewhere, or a model trained here, is
served as is.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ImportFailed

REASON = (
    "ImageBind cannot be imported: no maintained PyPI package provides its architecture. 'imagebind' is an empty "
    "placeholder; 'imagebind-packaged'/'imagebind-package' pin torch 1.13 and torchvision 0.14; 'imagebind-unofficial' "
    "0.1.1 fails on import with torchvision 0.29 (its pytorchvideo 0.1.5 needs torchvision.transforms.functional_tensor, "
    "removed in 0.17), and all carry Meta's CC BY-NC-SA 4.0 code. imagebind_huge.pth is a bare state dict that needs "
    "those model classes. A folder with an 'audio' tower in its facegrid.json (an ONNX export made elsewhere) is served as is."
)


def import_imagebind(checkpoint: Path, out_dir: Path, name: str | None = None) -> Path:
    """Always ImportFailed, with the reason (see the module docstring); nothing is read or written."""
    raise ImportFailed(REASON)
