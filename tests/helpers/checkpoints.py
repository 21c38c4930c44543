"""Checkpoints in the formats operators have (torch only here and in the importers), of random weights."""

from __future__ import annotations

from pathlib import Path


def save_openclip_state_dict(arch: str, path: Path, seed: int = 0, wrap: bool = True):
    """A randomly initialised open_clip model of a real architecture, saved as open_clip's training does
    ({"state_dict": ..., "module."-prefixed by DistributedDataParallel}); the model (eval mode) is returned."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None).eval()
    state = model.state_dict()
    torch.save({"epoch": 1, "name": arch, "state_dict": {f"module.{k}": v for k, v in state.items()}} if wrap else state, path)
    return model


def save_openai_torchscript(arch: str, path: Path, seed: int = 0) -> None:
    """A CLIP saved the way OpenAI's .pt files are: a traced TorchScript module, fp16 weights, QuickGELU,
    with input_resolution / context_length / vocab_size tensors and the attention mask a constant, not a weight."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True).eval()
    size = model.visual.image_size
    mask = model._buffers.pop("attn_mask")
    model.attn_mask = mask  # a plain attribute, as in OpenAI's code: traced as a constant
    context, vocab = model.context_length, model.vocab_size
    del model.context_length, model.vocab_size
    model.register_buffer("input_resolution", torch.tensor(size[0] if isinstance(size, tuple) else size))
    model.register_buffer("context_length", torch.tensor(context))
    model.register_buffer("vocab_size", torch.tensor(vocab))
    with torch.no_grad():
        traced = torch.jit.trace(model, (torch.randn(1, 3, 224, 224), open_clip.tokenize(["a dog"])), check_trace=False, strict=False)
    traced.half().save(str(path))


def save_torchvision_state_dict(arch: str, path: Path, style: str = "full", seed: int = 0):
    """A randomly initialised torchvision model saved as a self-supervised trainer would; the model (eval) is returned.

    style: "full" (torchvision's own state dict, classifier included), "lightly" (a module holding
    nn.Sequential(*children[:-1]) as .backbone, and a projection head), "solo-learn" (a Lightning checkpoint
    with backbone.* without fc, projector.*, classifier.*)."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.get_model(arch, weights=None).eval()
    # BatchNorm running statistics at their initial values would hide a wrongly loaded buffer.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    if style == "full":
        torch.save(model.state_dict(), path)
    elif style == "lightly":
        holder = torch.nn.Module()
        holder.backbone = torch.nn.Sequential(*list(model.children())[:-1])
        holder.projection_head = torch.nn.Sequential(torch.nn.Linear(model.fc.in_features, 128))
        torch.save(holder.state_dict(), path)
    elif style == "solo-learn":
        state = {f"backbone.{k}": v for k, v in model.state_dict().items() if not k.startswith("fc.")}
        state.update({"projector.0.weight": torch.zeros(128, model.fc.in_features), "classifier.weight": torch.zeros(10, model.fc.in_features),
                      "momentum_backbone.conv1.weight": torch.zeros(1)})
        torch.save({"epoch": 9, "global_step": 90, "state_dict": state, "hyper_parameters": {"lr": 0.3}}, path)
    else:
        raise ValueError(style)
    return model
