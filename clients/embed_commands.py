"""CLI: `facegrid embed` — vectors of your own photos, texts and audio clips from a running server (EncoderService)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .gate_commands import add_server_option, connect, report_error
from .sdk import FacegridError


def cmd_embed(args) -> int:
    """`facegrid embed`: vectors of texts, photos and audio clips from a running server."""
    items = [(f"text:{i}", args.model, "text", t) for i, t in enumerate(args.text or [])]
    for kind, paths in (("photo", args.photo), ("audio", args.audio)):
        for path in paths or []:
            try:
                items.append((path, args.model, kind, Path(path).read_bytes()))
            except OSError as error:
                print(f"facegrid embed: {path}: {error.strerror or error}", file=sys.stderr)
                return 2
    if not items:
        print("facegrid embed: give --text, --photo or --audio", file=sys.stderr)
        return 2
    shown = None if args.full else 8
    results, failures = [], 0
    try:
        with connect(args) as client:
            for (item_id, _, kind, value), result in zip(items, client.embed_many(items)):
                entry = {"input": value if kind == "text" else item_id, "kind": kind}
                if isinstance(result, FacegridError):
                    failures += 1
                    entry.update(error=result.code.name, message=result.message)
                    if not args.json:
                        print(f"{entry['input']}: {result.code.name}: {result.message}", file=sys.stderr)
                else:
                    entry.update(model=result.model, dim=int(result.vector.shape[0]), truncated=result.truncated,
                                 vector=[round(float(v), 6) for v in result.vector[:shown]])
                    if not args.json:
                        cut = " (cut to the context length)" if result.truncated else ""
                        head = ", ".join(f"{v:+.3f}" for v in result.vector[:4])
                        print(f"{entry['input']}: {result.model}[{entry['dim']}]=({head}, ...){cut}")
                results.append(entry)
    except FacegridError as error:
        return report_error(args, error)
    if args.json:
        print(json.dumps({"model": args.model, "items": results}))
    return 1 if failures == len(items) else 0


def add_commands(commands) -> None:
    """`facegrid embed`."""
    embed = commands.add_parser("embed", help="vectors of texts, whole photos and audio clips with a model's towers (from a server)")
    embed.add_argument("--model", required=True, help="a model with text, image and/or audio towers (facegrid models list)")
    embed.add_argument("--text", action="append", help="a text to embed (repeatable)")
    embed.add_argument("--photo", action="append", help="a photo file to embed whole (repeatable)")
    embed.add_argument("--audio", action="append", help="a WAV file (16-bit PCM) to embed with an audio tower (repeatable)")
    embed.add_argument("--full", action="store_true", help="print every value of each vector (default: the first 8)")
    add_server_option(embed)
    embed.set_defaults(run=cmd_embed)
