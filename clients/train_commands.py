"""CLI: `facegrid train simclr|triplet|bind` — the training recipes (torch: the `train` extra).

Each recipe writes its model folder into the models directory a server loads at start (--models-dir,
else FACEGRID_MODELS_DIR, else <data_dir>/models) and prints one JSON object on the last line. torch is
imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse

PRECISIONS = ("auto", "f32", "bf16")  # as encoder/train/run.py's (this module imports no encoder code before a run)


def _given(args: argparse.Namespace, options: dict[str, str]) -> dict:
    """Settings field -> value of the options given on the command line. Recipe options default to None here, so
    an option left out takes the recipe's own default (its settings dataclass: the one source of them)."""
    return {name: getattr(args, option) for name, option in options.items() if getattr(args, option, None) is not None}


def add_commands(commands) -> None:
    """Register `facegrid train` and its recipes."""
    train = commands.add_parser("train", help="train an encoder on your own photos (SimCLR, triplet, binding)")
    recipes = train.add_subparsers(dest="recipe", required=True)
    _add_simclr(recipes)
    _add_triplet(recipes)
    _add_bind(recipes)


def _common(parser: argparse.ArgumentParser) -> None:
    """Options every recipe takes."""
    parser.add_argument("--out", required=True, help="name of the model folder written (also the model's name)")
    parser.add_argument("--models-dir", help="models directory (default: the server's)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the data (0: export the starting weights)")
    parser.add_argument("--batch", type=int, help="items per step")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--checkpoint-dir", help="where checkpoints go (default: <data_dir>/train/<out>); a run there resumes")


def _add_simclr(recipes) -> None:
    """`facegrid train simclr DIR --out NAME` (owner: the SimCLR recipe)."""
    parser = recipes.add_parser("simclr", help="self-supervised SimCLR on a folder of unlabeled photos (or their faces)")
    parser.add_argument("folder", help="folder of photos (subfolders too); no labels are read")
    _common(parser)
    # Help texts quote SimclrConfig's defaults (tests/test_train_precision.py checks them); None leaves them to it.
    parser.set_defaults(epochs=None, run=cmd_train_simclr)  # no --epochs: 10, or unlimited under --minutes
    parser.add_argument("--faces", action="store_true", help="train on aligned face chips cut by facegrid's detector; export a face model")
    parser.add_argument("--arch", help="torchvision ResNet (default resnet18; resnet50, ...)")
    parser.add_argument("--checkpoint", help="torchvision state dict to start from (default: random weights)")
    parser.add_argument("--temperature", type=float, help="NT-Xent temperature (default 0.2)")
    parser.add_argument("--size", type=int, help="input side in pixels (the face chip size with --faces; default 96)")
    parser.add_argument("--minutes", type=float, help="training-time budget (counted over resumed runs too)")
    parser.add_argument("--clock", choices=("wall", "cpu"),
                        help="what --minutes counts: wall-clock time (default), or the process's CPU time (fairer on a shared machine)")
    parser.add_argument("--feature", choices=("layer3", "layer4"),
                        help="the layer whose pooled features are exported (default: layer3 with --faces, else layer4)")
    parser.add_argument("--whiten", type=int, metavar="DIM",
                        help="PCA-whiten the exported vectors to DIM dims, fitted on the training items (0: off; default: "
                             "128 with --faces when there are 512 or more chips, else off)")
    parser.add_argument("--mirror", action="store_true",
                        help="export the mean of each input's and its mirror image's features (twice the inference cost)")
    parser.add_argument("--projection", type=int, help="projection head output (dropped on export; default 128)")
    parser.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0.0001)")
    add_precision_option(parser)
    parser.add_argument("--detector", help="face detector for --faces (yunet, hog, mmod, default cascade)")
    parser.add_argument("--min-face", type=float, help="smallest face kept with --faces, in pixels (default 40)")


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """--precision auto|f32|bf16 for a recipe that trains a CNN (fp32 is read as f32)."""
    parser.add_argument("--precision", choices=PRECISIONS, type=lambda v: {"fp32": "f32"}.get(v, v),
                        help="the forward pass: auto (default) is bf16 autocast where the CPU has native bf16 (AVX-512 BF16 "
                             "or AMX) or the GPU has bf16, else f32; bf16 where it is not native is refused (emulated, slower)")


_SIMCLR_OPTIONS = {name: name for name in ("arch", "temperature", "size", "clock", "batch", "lr", "weight_decay", "projection",
                                           "feature", "whiten", "precision", "detector", "min_face", "epochs")}


def cmd_train_simclr(args) -> int:
    """Run the SimCLR recipe; the TrainResult JSON on the last line."""
    import sys
    from pathlib import Path

    from facegrid.encoder.errors import EncoderError
    from facegrid.server.config import Settings

    from .model_commands import _models_dir

    try:
        from facegrid.encoder.train.simclr import SimclrConfig, train_simclr
    except ImportError as error:
        print(f"facegrid train simclr: needs the train extra (pip install 'facegrid[train]'): {error}", file=sys.stderr)
        return 1
    given = _given(args, _SIMCLR_OPTIONS)
    if args.epochs is None and args.minutes:
        given["epochs"] = None  # --minutes alone: as many epochs as the budget allows
    config = SimclrConfig(
        folder=Path(args.folder), out=args.out, models_dir=_models_dir(args),
        checkpoint_dir=Path(args.checkpoint_dir).expanduser() if args.checkpoint_dir else Settings().data_dir / "train" / args.out,
        faces=args.faces, checkpoint=Path(args.checkpoint) if args.checkpoint else None, minutes=args.minutes,
        mirror=args.mirror, device=args.device, threads=args.threads, seed=args.seed, **given)
    try:
        result = train_simclr(config)
    except EncoderError as error:
        print(f"facegrid train simclr: {error}", file=sys.stderr)
        return 1
    print(result.as_json())
    return 0


def _add_triplet(recipes) -> None:
    """`facegrid train triplet DIR --out NAME` (owner: the triplet recipe)."""
    triplet = recipes.add_parser("triplet", help="FaceNet triplet loss on person folders (DIR/person/*.jpg): a head over a "
                                                 "shipped face model, or a whole network from scratch")
    triplet.add_argument("folder", metavar="DIR", help="one subfolder of photos per person")
    _common(triplet)
    what = triplet.add_mutually_exclusive_group()
    what.add_argument("--base", default=None, help="train a head over this shipped face model's vectors (default: fused)")
    what.add_argument("--arch", choices=["resnet18", "resnet34", "resnet50"],
                      help="train this whole network from random weights on aligned chips instead of a head")
    add_head_options(triplet)
    triplet.add_argument("--dim", type=int, help="output dimension (head: the base's; network: 128)")
    triplet.add_argument("--chip-size", type=int, default=96, help="network: aligned chip side in pixels (default 96)")
    triplet.add_argument("--workers", type=int, help="head: processes embedding the photos (default: one per core)")
    add_precision_option(triplet)  # --arch only: a head trains in f32
    triplet.set_defaults(epochs=None, run=cmd_train_triplet)  # no --epochs: HeadSettings' (10)


def add_head_options(parser: argparse.ArgumentParser) -> None:
    """The triplet options a head is trained with (also taken by `facegrid eval lfw|openset --train-head triplet`).

    Left out, each takes HeadSettings' default, which the help quotes (tests/test_train_precision.py checks it).
    """
    parser.add_argument("--people-per-batch", type=int,
                        help="P: people in each batch (default 128; all of them when the training set has fewer)")
    parser.add_argument("--photos-per-person", type=int, help="K: photos of each person in a batch (default 4)")
    parser.add_argument("--margin", type=float, help="triplet margin on squared unit-vector distances (default 0.2)")
    parser.add_argument("--head", choices=["linear", "mlp"], help="head: a linear map (default) or a residual MLP")
    parser.add_argument("--init", choices=["identity", "pca-whiten", "within-whiten"],
                        help="head: its starting map (default: the identity, i.e. the base model itself)")
    parser.add_argument("--hidden", type=int, help="mlp head: hidden width (default 512)")
    parser.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0)")
    parser.add_argument("--anchor", type=float,
                        help="head: L2 pull of its weights back to where they started (L2-SP; default 0.01; 0: none)")
    parser.add_argument("--hard-people", action="store_true",
                        help="head: pair each batch's people with their look-alikes (nearest mean vectors)")


_HEAD_OPTIONS = {"kind": "head", "init": "init", "hidden": "hidden", "people_per_batch": "people_per_batch",
                 "photos_per_person": "photos_per_person", "margin": "margin", "weight_decay": "weight_decay",
                 "anchor": "anchor", "dim": "dim", "seed": "seed"}


def head_settings(args: argparse.Namespace, epochs: int | None, lr: float | None):
    """HeadSettings from parsed options, its own defaults for those left out (torch imported here)."""
    from facegrid.encoder.train.triplet import HeadSettings

    given = _given(args, _HEAD_OPTIONS)
    given.update({name: value for name, value in (("epochs", epochs), ("lr", lr)) if value is not None})
    return HeadSettings(hard_people=args.hard_people, **given)


def cmd_train_triplet(args: argparse.Namespace) -> int:
    """`facegrid train triplet`: a head over a face model (or a network with --arch) by triplet loss; its JSON last."""
    import sys
    from pathlib import Path

    from facegrid.encoder.errors import EncoderError
    from facegrid.encoder.train.triplet import TripletRun
    from facegrid.server.config import Settings

    from .model_commands import _models_dir

    if args.batch:
        print("facegrid train triplet: the batch is P x K (--people-per-batch, --photos-per-person), not --batch", file=sys.stderr)
        return 2
    network = args.arch is not None
    try:
        run = TripletRun(folder=Path(args.folder), out=args.out, models_dir=_models_dir(args),
                         base=None if network else (args.base or "fused"), arch=args.arch or "head",
                         head=head_settings(args, args.epochs, args.lr),
                         chip_size=args.chip_size, dim=args.dim or 128, device=args.device, precision=args.precision or "auto",
                         threads=args.threads,
                         workers=args.workers, checkpoint_dir=Path(args.checkpoint_dir) if args.checkpoint_dir else Settings().data_dir / "train" / args.out)
        from facegrid.encoder.train.triplet import run_triplet

        result = run_triplet(run)
    except EncoderError as error:
        print(f"facegrid train triplet: {error}", file=sys.stderr)
        return 2
    print(result.as_json())
    return 0


def _add_bind(recipes) -> None:
    """`facegrid train bind --pairs PAIRS.csv --pivot MODEL --modality NAME --out NAME` (owner: the binding recipe),
    and `facegrid train clip --pairs PAIRS.csv --out NAME`, the small image + text pivot it binds to."""
    from .bind_commands import add_bind

    add_bind(recipes, _common)
