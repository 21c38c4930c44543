"""`facegrid models import openclip`: an open_clip or OpenAI CLIP checkpoint into Immich's CLIP folder layout.

The architecture comes from open_clip's own built-in configs (`open_clip.create_model(arch, pretrained=None)`:
never a pretrained tag, which would download), the weights from the operator's file, loaded strictly.
Written (Immich's layout, plus our card):

    config.json                  open_clip's model config (embed_dim, vision_cfg, text_cfg[, quick_gelu])
    visual/model.onnx            "image" float32 (n, 3, H, W) -> "embedding" (n, dim), unit rows
    visual/preprocess_cfg.json   open_clip's PreprocessCfg of the model
    textual/model.onnx           "text" int32 (n, context_length) -> "embedding" (n, dim), unit rows
    textual/tokenizer.json       open_clip's BPE vocabulary (Hugging Face format, open_clip's zero padding)
    textual/tokenizer_config.json
    facegrid.json                the card
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ImportFailed
from ..towers.preprocess import ImagePreprocess
from ..towers.tokenizer import ClipTokenizer
from .folder import default_name, sha256, staged_folder, write_json

try:  # the import extra: without it, a clear message instead of a traceback
    import open_clip
    import torch

    from .checkpoint import load_strictly, read_checkpoint
    from .onnx_export import OPSET, check_tower, export_tower
except ImportError as _missing:  # pragma: no cover - the extra is installed where the importers run
    open_clip = None
    _MISSING = _missing

_VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"  # ships inside open_clip_torch
_OPENAI_JIT_EXTRA = ("input_resolution", "context_length", "vocab_size")


def import_openclip(arch: str, checkpoint: Path, out_dir: Path, name: str | None = None) -> Path:
    """Import an open_clip state dict or OpenAI TorchScript .pt of `arch` into out_dir/<name>; the folder's path."""
    if open_clip is None:
        raise ImportFailed(f"importing needs torch and open_clip_torch: pip install 'facegrid[import]' ({_MISSING})")
    config = open_clip.get_model_config(arch)
    if config is None:
        raise ImportFailed(f"unknown open_clip architecture {arch!r}; open_clip {open_clip.__version__} has: "
                           + ", ".join(open_clip.list_models()))
    _check_tokenizer(arch, config)
    name = name or default_name("clip-", arch)
    loaded = read_checkpoint(checkpoint)
    # OpenAI's CLIP was trained with QuickGELU; its TorchScript files are imported with it, as open_clip's
    # load_openai_model does. A plain state dict gets the architecture as named ("ViT-B-32-quickgelu" if so).
    quick_gelu = loaded.kind == "torchscript"
    model = _build(arch, quick_gelu)
    state = _as_open_clip(model, loaded.state)
    load_strictly(model, state, loaded.path, arch + (" (QuickGELU, OpenAI)" if quick_gelu else ""))
    model.eval()

    preprocess = _preprocess_cfg(model)
    context_length = int(model.context_length)
    image_size = ImagePreprocess.from_config(preprocess, f"{arch} preprocess cfg").size
    with staged_folder(out_dir, name) as folder:
        if quick_gelu:
            config = {**config, "quick_gelu": True}
        write_json(folder / "config.json", config)
        write_json(folder / "visual" / "preprocess_cfg.json", preprocess)
        visual, textual = _ImageTower(model), _TextTower(model)
        example = torch.randn(1, 3, *image_size)
        export_tower(visual, example, folder / "visual" / "model.onnx", "image")
        check_tower(visual, folder / "visual" / "model.onnx", [example, torch.randn(3, 3, *image_size)], "image")
        texts = open_clip.tokenize(["a photo of a dog on the beach", "", "two people " * 60], context_length).to(torch.int32)
        export_tower(textual, texts[:1], folder / "textual" / "model.onnx", "text")
        check_tower(textual, folder / "textual" / "model.onnx", [texts[:1], texts], "text")
        _write_tokenizer(folder / "textual", context_length)
        with torch.no_grad():
            dim = int(visual(example).shape[-1])
        write_json(folder / "facegrid.json", {
            "format": "facegrid-model/1", "name": name, "family": "openclip", "arch": arch, "dim": dim, "metric": "cosine",
            "towers": {"image": {"onnx": "visual/model.onnx", "preprocess": "visual/preprocess_cfg.json"},
                       "text": {"onnx": "textual/model.onnx", "tokenizer": "textual/tokenizer.json",
                                "context_length": context_length}},
            "source": {"checkpoint": loaded.path.name, "sha256": sha256(loaded.path), "format": loaded.kind,
                       "open_clip": open_clip.__version__, "torch": torch.__version__, "opset": OPSET},
        })
    return Path(out_dir).expanduser() / name


def _check_tokenizer(arch: str, config: dict) -> None:
    """Only open_clip's own BPE tokenizer (SimpleTokenizer, what open_clip.tokenize uses) is served here."""
    text = config.get("text_cfg") or {}
    supported = ("supported: architectures whose text tower uses open_clip's SimpleTokenizer "
                 "(OpenAI CLIP and LAION's ViT-*, RN*, convnext_*, EVA, ...)")
    hf = text.get("hf_tokenizer_name") or text.get("hf_model_name")
    if hf:
        raise ImportFailed(f"{arch}: its text tower uses the Hugging Face tokenizer {hf!r}; {supported}")
    if "siglip" in arch.lower():
        raise ImportFailed(f"{arch}: SigLIP models use their own SentencePiece tokenizer and a sigmoid head; {supported}")
    if "multimodal_cfg" in config:
        raise ImportFailed(f"{arch}: captioning models (CoCa) are not imported; {supported}")
    if text.get("tokenizer_kwargs"):
        raise ImportFailed(f"{arch}: its tokenizer takes {text['tokenizer_kwargs']} (not open_clip.tokenize's defaults); {supported}")


def _build(arch: str, quick_gelu: bool) -> "torch.nn.Module":
    # The fused MHA fast path is for inference in torch; the exporter needs the plain ops (as Immich's exporter does).
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        return open_clip.create_model(arch, pretrained=None, force_quick_gelu=quick_gelu, pretrained_image=False,
                                      pretrained_text=False, device="cpu", precision="fp32")
    except Exception as error:  # noqa: BLE001 - a missing timm, an unsupported tower ...
        raise ImportFailed(f"{arch}: open_clip cannot build it here ({type(error).__name__}: {str(error)[:300]})") from None


def _as_open_clip(model, state: dict) -> dict:
    """open_clip's own conversions of a loaded state dict (its load_checkpoint), except resizing positions."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict

    state = {k: v for k, v in state.items() if k not in _OPENAI_JIT_EXTRA}
    state = convert_state_dict(model, state)
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for key in ("logit_scale", "logit_bias"):  # scalar vs 1-d, as open_clip forgives
        ours = getattr(model, key, None)
        if key in state and ours is not None and state[key].ndim != ours.ndim:
            state[key] = state[key].reshape(ours.shape)
    # Positional embeddings of another grid are NOT interpolated (open_clip would): at import that means the
    # wrong architecture (ViT-L-14 vs ViT-L-14-336), which must be an error, not a quietly resized model.
    return state


def _preprocess_cfg(model) -> dict:
    cfg = dict(open_clip.get_model_preprocess_cfg(model))
    size = cfg.get("size", 224)
    cfg["size"] = list(size) if isinstance(size, (list, tuple)) else [int(size), int(size)]
    for key in ("mean", "std"):
        cfg[key] = [float(v) for v in cfg[key]]
    return {k: cfg[k] for k in ("size", "mode", "mean", "std", "interpolation", "resize_mode", "fill_color") if k in cfg}


def _write_tokenizer(textual: Path, context_length: int) -> None:
    vocab = Path(open_clip.__file__).parent / _VOCAB_FILE
    ClipTokenizer.from_bpe_vocab(vocab, context_length).write_tokenizer_json(textual / "tokenizer.json")
    # What Immich's OpenClipTextualEncoder reads: it pads with pad_token. open_clip pads with id 0 ("!"), so do we.
    write_json(textual / "tokenizer_config.json", {
        "add_prefix_space": False, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "pad_token": "!", "unk_token": "<|endoftext|>", "do_lower_case": True, "errors": "replace",
        "model_max_length": context_length, "tokenizer_class": "CLIPTokenizer",
    })


if open_clip is not None:
    class _ImageTower(torch.nn.Module):
        """encode_image, unit rows (as Immich exports it)."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, image):
            return self.model.encode_image(image, normalize=True)

    class _TextTower(torch.nn.Module):
        """encode_text of int32 token ids (Immich's input type), unit rows."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, text):
            return self.model.encode_text(text.long(), normalize=True)


