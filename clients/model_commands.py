"""CLI: `facegrid models import openclip|torchvision|imagebind|minifasnet` — operators' checkpoints into model folders.

The folder goes into the models directory a server loads at start (--models-dir, else FACEGRID_MODELS_DIR,
else <data_dir>/models). torch, torchvision and open_clip are imported only when one of these commands runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _models_dir(args) -> Path:
    if args.models_dir:
        return Path(args.models_dir).expanduser()
    from facegrid.server.config import Settings

    return Path(Settings().encoder().models_dir)


def cmd_models_import(args) -> int:
    """`facegrid models import`: convert an operator's checkpoint into a model folder the server loads."""
    from facegrid.encoder.errors import EncoderError, ImportFailed

    try:
        from facegrid.encoder import importers
        from facegrid.encoder.towers.card import read_card

        models_dir = _models_dir(args)
        checkpoint = Path(args.checkpoint)
        if args.family == "openclip":
            folder = importers.import_openclip(args.arch, checkpoint, models_dir, name=args.name)
        elif args.family == "torchvision":
            folder = importers.import_torchvision(args.arch, checkpoint, models_dir, name=args.name)
        else:
            folder = importers.import_imagebind(checkpoint, models_dir, name=args.name)
        card = read_card(folder)
    except ImportFailed as error:
        print(f"facegrid models import {args.family}: {error}", file=sys.stderr)
        return 1
    except EncoderError as error:  # the folder was written but does not read back: a bug worth reporting as such
        print(f"facegrid models import {args.family}: the imported folder does not load: {error}", file=sys.stderr)
        return 1
    report = {"folder": str(card.folder), "name": card.name, "modalities": list(card.modalities), "dim": card.dim,
              "metric": card.metric, "family": card.family, "arch": card.arch}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"imported {card.name} ({card.family} {card.arch}): {'+'.join(card.modalities)}, {card.dim}-d, into {card.folder}")
        print("a server loads it at its next start (the same models directory)")
    return 0


def cmd_models_import_minifasnet(args) -> int:
    """MiniFASNet checkpoints into one liveness folder (<models_dir>/minifasnet) that `facegrid serve` finds."""
    from facegrid.encoder.errors import EncoderError

    try:
        from facegrid.encoder.importers.minifasnet import import_minifasnet
        from facegrid.encoder.liveness.card import read_liveness_card

        folder = import_minifasnet([Path(c) for c in args.checkpoint], _models_dir(args), name=args.name or "minifasnet")
        card = read_liveness_card(folder)
    except EncoderError as error:
        print(f"facegrid models import minifasnet: {error}", file=sys.stderr)
        return 1
    report = {"folder": str(card.folder), "name": card.name, "kind": "liveness", "family": card.family, "licence": card.licence,
              "models": [{"arch": m.arch, "scale": m.scale, "size": m.size, "checkpoint": m.checkpoint} for m in card.models]}
    if args.json:
        print(json.dumps(report))
    else:
        networks = ", ".join(f"{m.arch} ({m.scale:g}x the face box, {m.size}x{m.size})" for m in card.models)
        print(f"imported liveness model {card.name}: {networks}, into {card.folder}")
        print("a server loads it at its next start (the same models directory)")
    return 0


def cmd_models_list(args) -> int:
    """The models a running server serves, with their modalities and dimension."""
    import json

    from .gate_commands import connect, report_error
    from .sdk import FacegridError

    try:
        with connect(args) as client:
            models = client.models()
    except FacegridError as error:
        return report_error(args, error)
    if args.json:
        print(json.dumps({"models": [{"name": m.name, "modalities": list(m.modalities), "dim": m.dim, "metric": m.metric,
                                      "default": m.is_default, "source": m.source} for m in models]}))
    else:
        for m in models:
            print(f"{m.name:24} {'+'.join(m.modalities):16} {m.dim:5}-d {m.source}{'  (default)' if m.is_default else ''}")
    return 0


def cmd_models_precision(args) -> int:
    """`facegrid models precision NAME --photos DIR`: top-1 neighbour agreement of OpenVINO at a precision against f32."""
    from facegrid.encoder.errors import EncoderError
    from facegrid.evaluation.precision import AGREEMENT_NEEDED, check_precision, record

    photos = sorted(p for p in Path(args.photos).expanduser().rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    try:
        check = check_precision(_models_dir(args), args.name, photos[: args.limit], args.precision)
        recorded = record(check, _models_dir(args)) if args.record and args.precision != "f32" else []
    except (EncoderError, ValueError) as error:
        print(f"facegrid models precision: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"model": check.model, "precision": check.precision, "photos": check.photos,
                          "agreement": check.agreement, "needed": AGREEMENT_NEEDED, "recorded": recorded}))
    else:
        for modality, agreement in check.agreement.items():
            print(f"{check.model} {modality} tower, OpenVINO {check.precision} vs ONNX Runtime f32: top-1 agreement "
                  f"{agreement * 100:.1f}% on {check.photos} photos ({'holds' if check.holds(modality) else 'does not hold'}: "
                  f"{AGREEMENT_NEEDED * 100:.0f}% needed)")
        if recorded:
            print(f"recorded {check.precision} in the card of: {', '.join(recorded)}")
    return 0


def add_commands(commands) -> None:
    """Add `models import ...` to the `facegrid` parser."""
    models = commands.add_parser("models", help="model folders: import operators' checkpoints").add_subparsers(dest="models_command", required=True)
    listing = models.add_parser("list", help="the models a running server serves (modalities, dimension)")
    from .gate_commands import add_server_option

    add_server_option(listing)
    listing.set_defaults(run=cmd_models_list)
    importing = models.add_parser("import", help="turn a checkpoint into a model folder (needs pip install 'facegrid[import]')")
    families = importing.add_subparsers(dest="family", required=True)
    specs = {
        "openclip": ("an open_clip state dict or OpenAI's CLIP .pt: image + text towers", "open_clip architecture, e.g. ViT-B-32"),
        "torchvision": ("a torchvision backbone's state dict (SimCLR: lightly, solo-learn): an image tower", "torchvision model, e.g. resnet50"),
        "imagebind": ("ImageBind (not importable here: the command says why)", None),
    }
    for family, (text, arch_help) in specs.items():
        parser = families.add_parser(family, help=text, description=text)
        if arch_help:
            parser.add_argument("--arch", required=True, help=arch_help)
        parser.add_argument("--checkpoint", required=True, metavar="FILE", help="the checkpoint file (.pt, .pth, .bin, .ckpt, .safetensors)")
        parser.add_argument("--name", help="model and folder name (default from the architecture, e.g. clip-vit-b-32)")
        parser.add_argument("--models-dir", help="where model folders live (default FACEGRID_MODELS_DIR, else <data_dir>/models)")
        parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
        parser.set_defaults(run=cmd_models_import, family=family)
    precision = models.add_parser("precision", help="whether a folder model's towers keep their nearest neighbours at "
                                  "bf16 (OpenVINO) against f32; --record allows it in the card")
    precision.add_argument("name", help="the folder model")
    precision.add_argument("--photos", required=True, metavar="DIR", help="a folder of photos (searched recursively)")
    precision.add_argument("--limit", type=int, default=500, help="photos used at most (default 500)")
    precision.add_argument("--precision", choices=["bf16", "f32"], default="bf16",
                           help="bf16 (default; needs a CPU with AVX-512 BF16 or AMX), or f32 (OpenVINO's f32 against ONNX Runtime's)")
    precision.add_argument("--record", action="store_true", help="write the precision into the card of each tower that holds it")
    precision.add_argument("--models-dir", help="where model folders live (default FACEGRID_MODELS_DIR, else <data_dir>/models)")
    precision.add_argument("--json", action="store_true", help="one JSON object on the last line")
    precision.set_defaults(run=cmd_models_precision)
    text = "MiniFASNet presentation-attack checkpoints (Silent-Face-Anti-Spoofing, Apache-2.0): the liveness model"
    minifasnet = families.add_parser("minifasnet", help=text, description=text + ". Give each architecture's file once "
                                     "(2.7_80x80_MiniFASNetV2.pth, 4_0_0_80x80_MiniFASNetV1SE.pth); the patch scale is read "
                                     "from the upstream file name.")
    minifasnet.add_argument("--checkpoint", required=True, action="append", metavar="FILE", help="a MiniFASNet .pth (repeat for each)")
    minifasnet.add_argument("--name", help="folder name (default minifasnet)")
    minifasnet.add_argument("--models-dir", help="where model folders live (default FACEGRID_MODELS_DIR, else <data_dir>/models)")
    minifasnet.add_argument("--json", action="store_true", help="one JSON object on the last line")
    minifasnet.set_defaults(run=cmd_models_import_minifasnet, family="minifasnet")


