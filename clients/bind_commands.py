"""CLI: `facegrid train bind`, `facegrid train clip` (its pivot) and `facegrid eval bind` — binding a new modality.

Registered from train_commands._add_bind and cli.py's eval parser. torch is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PAIRS_HELP = ("CSV of naturally paired items; the header row names each column's modality. bind: "
              "<pivot modality>,<new modality> (e.g. image,audio: the pivot's image files, then the WAV files); "
              "clip: image,text. Files are relative to the CSV's folder; a text column holds the texts themselves.")


def _models_dir(args) -> Path:
    if args.models_dir:
        return Path(args.models_dir).expanduser()
    from facegrid.server.config import Settings

    return Path(Settings().encoder().models_dir)


def _checkpoint_dir(args) -> Path:
    if args.checkpoint_dir:
        return Path(args.checkpoint_dir).expanduser()
    from facegrid.server.config import Settings

    return Settings().data_dir / "train" / args.out


def cmd_train_bind(args) -> int:
    """`facegrid train bind`: bind a new modality's tower to a frozen pivot model (ImageBind's recipe)."""
    from facegrid.encoder.errors import EncoderError
    from facegrid.encoder.train.bind import BindSettings, train_bind

    defaults = BindSettings()
    settings = BindSettings(epochs=args.epochs, batch=args.batch or defaults.batch, lr=args.lr or defaults.lr, seed=args.seed,
                            device=args.device, threads=args.threads)
    try:
        result = train_bind(Path(args.pairs), args.pivot, args.modality, _models_dir(args), args.out, settings, _checkpoint_dir(args))
    except EncoderError as error:
        print(f"facegrid train bind: {error}", file=sys.stderr)
        return 2
    print(result.as_json())
    return 0


def cmd_train_clip(args) -> int:
    """`facegrid train clip`: train a small image-text pivot model with CLIP's contrastive loss."""
    from facegrid.encoder.errors import EncoderError
    from facegrid.encoder.train.clip_pivot import ClipSettings, train_clip

    defaults = ClipSettings()
    settings = ClipSettings(epochs=args.epochs, batch=args.batch or defaults.batch, lr=args.lr or defaults.lr, dim=args.dim,
                            seed=args.seed, device=args.device, threads=args.threads)
    try:
        result = train_clip(Path(args.pairs), _models_dir(args), args.out, settings, _checkpoint_dir(args))
    except EncoderError as error:
        print(f"facegrid train clip: {error}", file=sys.stderr)
        return 2
    print(result.as_json())
    return 0


def add_bind(recipes, common) -> None:
    """`facegrid train bind` and `facegrid train clip`, with the recipes' common options."""
    bind = recipes.add_parser("bind", help="bind a new modality's tower (audio) to a frozen pivot model (ImageBind)",
                              description="Train a new tower (audio: 16-bit PCM WAV) into a frozen pivot model's space with "
                                          "InfoNCE on (pivot-modality, new-modality) pairs only; the result is a new model "
                                          "folder: the pivot's towers plus the new one.")
    bind.add_argument("--pairs", required=True, metavar="PAIRS.csv", help=PAIRS_HELP)
    bind.add_argument("--pivot", required=True, metavar="MODEL", help="a model folder's name in the models directory (kept frozen)")
    bind.add_argument("--modality", required=True, choices=["audio"], help="the new tower's modality")
    common(bind)
    bind.set_defaults(run=cmd_train_bind, epochs=30)
    clip = recipes.add_parser("clip", help="a small CLIP-style image + text pivot from (image, text) pairs",
                              description="Train a small image + text model (4-layer CNN on 64x64 images, a text tower over "
                                          "a BPE vocabulary learned from the texts) with CLIP's InfoNCE: a pivot for "
                                          "`facegrid train bind` on simple images (emoji, icons).")
    clip.add_argument("--pairs", required=True, metavar="PAIRS.csv", help=PAIRS_HELP)
    clip.add_argument("--dim", type=int, default=64, help="vector dimension (default 64)")
    common(clip)
    clip.set_defaults(run=cmd_train_clip, epochs=40)


def cmd_eval_bind(args) -> int:
    """`facegrid eval bind`: train and score the binding recipe on the emoji data set, in one run."""
    from facegrid.encoder.errors import EncoderError
    from facegrid.evaluation.bind import evaluate_bind

    try:
        report = evaluate_bind(args.concepts, args.renderings, args.voices, args.held_out, args.epochs, args.pivot_epochs,
                               args.batch, args.seed, args.threads, args.device, Path(args.keep) if args.keep else None)
    except EncoderError as error:
        print(f"facegrid eval bind: {error}", file=sys.stderr)
        return 2
    value = report.as_json()
    if args.json:
        print(json.dumps(value))
        return 0
    print(f"{report.concepts} concepts, audio of held-out voices ({', '.join(report.test_voices)}) -> their names, "
          f"{report.bound.queries} queries")
    print(f"  {'':34} {'recall@1':>9} {'recall@5':>9}")
    for label, r in [("chance", None), ("untrained audio tower", report.untrained), ("bound through images (emergent)", report.bound),
                     ("direct, on (audio, text) pairs", report.direct)]:
        one, five = (report.chance_at_1, report.chance_at_5) if r is None else (r.recall_at_1, r.recall_at_5)
        print(f"  {label:34} {100 * one:8.1f}% {100 * five:8.1f}%")
    print(f"  pivot image -> name (its training renderings): {100 * report.pivot_image_text.recall_at_1:.1f}% @1; "
          f"steps bound {report.steps['bound']}, direct {report.steps['direct']}; {report.seconds['total']:.0f} s")
    return 0


def add_eval_bind(evaluate) -> None:
    """`facegrid eval bind`."""
    parser = evaluate.add_parser("bind", help="emergent audio -> text retrieval of a tower bound through images (emoji set)",
                                 description="Builds the emoji data set (fonts-symbola, espeak-ng), trains a CLIP-style pivot "
                                             "on (image, name), binds an audio tower on (image, audio) only, trains a direct "
                                             "audio tower on (name, audio) for the same steps, and reports recall@1/@5 of "
                                             "held-out voices' clips against every name, with chance and random weights.")
    parser.add_argument("--concepts", type=int, default=64, help="emoji in the set (default 64)")
    parser.add_argument("--renderings", type=int, default=4, help="images per emoji (default 4)")
    parser.add_argument("--voices", type=int, default=6, help="spoken clips per emoji, one per voice (default 6)")
    parser.add_argument("--held-out", type=int, default=2, help="voices kept for evaluation (default 2, the last ones)")
    parser.add_argument("--epochs", type=int, default=30, help="binding epochs (default 30)")
    parser.add_argument("--pivot-epochs", type=int, default=40, help="pivot epochs (default 40)")
    parser.add_argument("--batch", type=int, default=64, help="pairs per step (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch and ONNX Runtime threads (0: every core)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--keep", metavar="DIR", help="keep the trained model folders under DIR/models")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.set_defaults(run=cmd_eval_bind)
