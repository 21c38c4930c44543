"""Presentation-attack detection (liveness) on the server: MiniFASNet's passive score and the kept
multi-frame cues, fused per burst into a verdict; `load_checker` finds the imported model.

ONNX Runtime only (no torch): `facegrid models import minifasnet` made the graphs (encoder/importers/minifasnet.py).
"""

from .checker import LivenessThresholds, MiniFASNetChecker, load_checker

__all__ = ["LivenessThresholds", "MiniFASNetChecker", "load_checker"]
