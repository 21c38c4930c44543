"""Importers: operators' checkpoints (open_clip, OpenAI CLIP, torchvision backbones, MiniFASNet liveness) into model folders.

torch, torchvision and open_clip are imported here only (and in tests): serving runs the exported ONNX
graphs on ONNX Runtime. Install them with `pip install 'facegrid[import]'`.
"""

from ..errors import ImportFailed
from .imagebind import import_imagebind
from .minifasnet import import_minifasnet
from .openclip import import_openclip
from .torchvision_import import import_torchvision

__all__ = ["ImportFailed", "import_imagebind", "import_minifasnet", "import_openclip", "import_torchvision"]
