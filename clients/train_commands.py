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


def _add_triplet(recipes) -> None:
    """`facegrid train triplet DIR --out NAME` (owner: the triplet recipe)."""


def _add_bind(recipes) -> None:
    """`facegrid train bind --pairs PAIRS.csv --pivot MODEL --modality NAME --out NAME` (owner: the binding recipe),
    and `facegrid train clip --pairs PAIRS.csv --out NAME`, the small image + text pivot it binds to."""
    from .bind_commands import add_bind

    add_bind(recipes, _common)
