"""Training recipes (torch, the `train` extra): SimCLR, FaceNet triplet loss, ImageBind-style binding, linear probes.

Serving never imports this package. Each recipe trains on the operator's own folders, checkpoints so an
interrupted run resumes, and exports a model folder that `facegrid serve` loads (encoder/towers).
"""

from ..extras import require

require("torch", "train")  # every recipe needs it: importing any of them names the extra
