"""CLI: `facegrid eval lfw|openset --train-head triplet`: the fold protocols of a head trained per fold.

The head is trained, for each LFW View 2 fold, on the other nine folds' people only, and the held-out fold is
scored with it and without it in the same run (evaluation/heads.py). torch is imported only when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from .train_commands import add_head_options, head_settings


def add_train_head_options(parser: argparse.ArgumentParser) -> None:
    """--train-head and the head's training options, on `eval lfw` and `eval openset`."""
    parser.add_argument("--train-head", choices=["triplet"], help="train a head per fold on the other folds' people "
                                                                  "and report it beside no head (the `train` extra)")
    add_head_options(parser)
    parser.add_argument("--head-epochs", type=int, help="--train-head: epochs per fold (default 10)")
    parser.add_argument("--head-lr", type=float, help="--train-head: learning rate (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="--train-head: random seed")
    parser.add_argument("--other-sets", action="store_true",
                        help="--train-head, eval lfw: also train one head on all of LFW and score it on ORL, deepface, "
                             "face_recognition, faceapi_bbt and dlib")


def _show(label: str):
    def show(done: int, total: int) -> None:
        if done == total or done % 1000 == 0:
            print(f"{label}: {done}/{total}", file=sys.stderr, flush=True)

    return show


def cmd_eval_heads(args: argparse.Namespace, models_dir: str | None = None) -> int:
    """Run the fold protocol of `args.protocol` with a triplet head and print its figures."""
    from facegrid.evaluation import heads

    settings = head_settings(args, args.head_epochs, args.head_lr)
    if args.protocol == "lfw":
        report = heads.lfw_with_heads(args.data, args.model, settings, args.workers, _show("embedding LFW images"), models_dir)
        if args.other_sets:
            report["other_sets"] = heads.other_sets(args.data, args.model, settings, args.workers, models_dir=models_dir)
    else:
        report = heads.openset_with_heads(args.data, args.model, settings, args.workers, _show("embedding LFW images"), models_dir)
    if args.json:
        print(json.dumps(report))
        return 0
    head = f"{settings.kind} head (init {settings.init}, {settings.epochs} epochs, P x K {settings.people_per_batch} x {settings.photos_per_person}, margin {settings.margin})"
    if args.protocol == "lfw":
        print(f"LFW View 2, {args.model} with a {head} trained per fold on the other nine folds' people")
        for label in ("no_head", "head"):
            r = report[label]
            print(f"  {label:8s} accuracy {r['accuracy'] * 100:.2f}% ± {r['std'] * 100:.2f}%  TAR @ FAR 0.1% {r['tar_at_far_1e-3'] * 100:.2f}%"
                  f"  per fold {' '.join(f'{a * 100:.2f}' for a in r['fold_accuracies'])}")
        for name, value in report.get("other_sets", {}).items():
            if isinstance(value, dict) and "head" in value:
                b, h = value["no_head"], value["head"]
                print(f"  {name:17s} no head -> head: TAR@FAR0.1% {b['tar_at_far_1e-3'] * 100:.2f} -> {h['tar_at_far_1e-3'] * 100:.2f}  "
                      f"EER {b['eer'] * 100:.2f} -> {h['eer'] * 100:.2f}  rank-1 {b['rank1'] * 100:.2f} -> {h['rank1'] * 100:.2f}  "
                      f"d' {b['d_prime']:.2f} -> {h['d_prime']:.2f}")
    else:
        print(f"LFW open-set identification per View 2 fold, {args.model} with a {head} trained on the other nine folds")
        for variant in ("one", "three"):
            for label in ("no_head", "head"):
                r = report[label][variant]
                print(f"  {variant:5s} template(s) {label:8s} DIR @ FAR 1% {r['dir_at_far_1e-2'] * 100:.2f}% ± {r['dir_at_far_1e-2_std'] * 100:.2f}"
                      f"  DIR @ FAR 0.1% {r['dir_at_far_1e-3'] * 100:.2f}%  rank-1 {r['rank1'] * 100:.2f}%")
    return 0
