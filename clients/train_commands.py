"""CLI: `facegrid train simclr|triplet|bind` — the training recipes (torch: the `train` extra).

Each recipe writes its model folder into the models directory a server loads at start (--models-dir,
else FACEGRID_MODELS_DIR, else <data_dir>/models) and prints one JSON object on the last line. torch is
imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse


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
    parser.set_defaults(epochs=None, run=cmd_train_simclr)  # no --epochs: 10, or unlimited under --minutes
    parser.add_argument("--faces", action="store_true", help="train on aligned face chips cut by facegrid's detector; export a face model")
    parser.add_argument("--arch", default="resnet18", help="torchvision ResNet (resnet18, resnet50, ...)")
    parser.add_argument("--checkpoint", help="torchvision state dict to start from (default: random weights)")
    parser.add_argument("--temperature", type=float, default=0.2, help="NT-Xent temperature")
    parser.add_argument("--size", type=int, default=96, help="input side in pixels (the face chip size with --faces)")
    parser.add_argument("--minutes", type=float, help="training-time budget (counted over resumed runs too)")
    parser.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                        help="what --minutes counts: wall-clock time, or the process's CPU time (fairer on a shared machine)")
    parser.add_argument("--feature", default="layer4", choices=("layer3", "layer4"), help="the layer whose pooled features are exported")
    parser.add_argument("--whiten", type=int, default=0, metavar="DIM",
                        help="PCA-whiten the exported vectors to DIM dims, fitted on the training items (0: off)")
    parser.add_argument("--mirror", action="store_true",
                        help="export the mean of each input's and its mirror image's features (twice the inference cost)")
    parser.add_argument("--projection", type=int, default=128, help="projection head output (dropped on export)")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                        help="auto: bf16 autocast on a GPU with bf16 or a CPU with AMX/AVX-512 BF16")
    parser.add_argument("--detector", default="cascade", help="face detector for --faces (yunet, hog, mmod, cascade)")
    parser.add_argument("--min-face", type=float, default=40.0, help="smallest face kept with --faces, in pixels")


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
    config = SimclrConfig(
        folder=Path(args.folder), out=args.out, models_dir=_models_dir(args),
        checkpoint_dir=Path(args.checkpoint_dir).expanduser() if args.checkpoint_dir else Settings().data_dir / "train" / args.out,
        faces=args.faces, arch=args.arch, checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        temperature=args.temperature, size=args.size,
        epochs=args.epochs if args.epochs is not None else (None if args.minutes else 10), minutes=args.minutes, clock=args.clock,
        batch=args.batch or 128, lr=args.lr or 1e-3, weight_decay=args.weight_decay, projection=args.projection,
        feature=args.feature, whiten=args.whiten, mirror=args.mirror, precision=args.precision, device=args.device, threads=args.threads,
        seed=args.seed, detector=args.detector, min_face=args.min_face)
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
    triplet.set_defaults(run=cmd_train_triplet)


def add_head_options(parser: argparse.ArgumentParser) -> None:
    """The triplet options a head is trained with (also taken by `facegrid eval lfw|openset --train-head triplet`)."""
    parser.add_argument("--people-per-batch", type=int, default=32, help="P: people in each batch (default 32)")
    parser.add_argument("--photos-per-person", type=int, default=4, help="K: photos of each person in a batch (default 4)")
    parser.add_argument("--margin", type=float, default=0.2, help="triplet margin on squared unit-vector distances (default 0.2)")
    parser.add_argument("--head", choices=["linear", "mlp"], default="linear", help="head: a linear map or a residual MLP")
    parser.add_argument("--init", choices=["identity", "pca-whiten", "within-whiten"], default="identity",
                        help="head: its starting map (default: the identity, i.e. the base model itself)")
    parser.add_argument("--hidden", type=int, default=512, help="mlp head: hidden width (default 512)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default 0)")
    parser.add_argument("--anchor", type=float, default=0.0,
                        help="head: L2 pull of its weights back to where they started (L2-SP; default 0: none)")
    parser.add_argument("--hard-people", action="store_true",
                        help="head: pair each batch's people with their look-alikes (nearest mean vectors)")


def head_settings(args: argparse.Namespace, epochs: int, lr: float):
    """HeadSettings from parsed options (torch imported here)."""
    from facegrid.encoder.train.triplet import HeadSettings

    return HeadSettings(kind=args.head, dim=getattr(args, "dim", None), init=args.init, hidden=args.hidden, epochs=epochs,
                        people_per_batch=args.people_per_batch, photos_per_person=args.photos_per_person,
                        margin=args.margin, lr=lr, weight_decay=args.weight_decay, anchor=args.anchor,
                        hard_people=args.hard_people, seed=getattr(args, "seed", 0))


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
                         head=head_settings(args, args.epochs, args.lr or (1e-3 if network else 1e-3)),
                         chip_size=args.chip_size, dim=args.dim or 128, device=args.device, threads=args.threads,
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
