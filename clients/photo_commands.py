"""CLI commands over whole-photo vectors: search by words or likeness, near-duplicates, k-means by scene,
and a collection's image model (`collections set-image-model`, `collections status`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .gate_commands import add_server_option, connect, report_error
from .sdk import FacegridError


def _hit(hit) -> dict:
    return {"score": round(hit.score, 4), "photo_sha256": hit.photo_sha256, "paths": hit.paths}


def search_photos(args) -> int:
    """`facegrid search --text WORDS` or `--like PHOTO`: whole photos of the collection."""
    try:
        with connect(args) as client:
            if args.text is not None:
                found = client.search_photos(text=args.text, k=args.k, collection=args.collection)
            else:
                found = client.search_photos(photo=Path(args.like), k=args.k, collection=args.collection)
    except FacegridError as error:
        return report_error(args, error)
    hits = [_hit(h) for h in found.hits]
    if args.json:
        print(json.dumps({"collection": args.collection, "model": found.model, "text_truncated": found.text_truncated,
                          "hits": hits}))
        return 0
    if found.text_truncated:
        print(f"(the text was cut to {found.model}'s context length)", file=sys.stderr)
    for hit in hits:
        print(f"  {hit['score']:.3f}  {hit['paths'][0] if hit['paths'] else hit['photo_sha256']}")
    return 0


def cmd_similar(args) -> int:
    """`facegrid similar`: groups of near-duplicate photos of a collection."""
    try:
        with connect(args) as client:
            found = client.similar_photos(args.collection, args.threshold or 0.0, args.min_size)
    except FacegridError as error:
        return report_error(args, error)
    groups = [[_hit(h) for h in group] for group in found.groups]
    if args.json:
        print(json.dumps({"collection": args.collection, "threshold": round(found.threshold, 6),
                          "threshold_source": found.threshold_source, "photos": found.photos, "groups": groups}))
        return 0
    print(f"{len(groups)} groups of near-duplicates among {found.photos} photos (threshold {found.threshold:.4f}, "
          f"{found.threshold_source})")
    for number, group in enumerate(groups, 1):
        print(f"group {number}: {len(group)} photos")
        for hit in group:
            print(f"  {hit['score']:.3f}  {hit['paths'][0] if hit['paths'] else hit['photo_sha256']}")
    return 0


def cmd_kmeans(args) -> int:
    """`facegrid kmeans`: k-means over a collection's face vectors, or its whole photos with --photos."""
    try:
        with connect(args) as client:
            clusters = client.kmeans(args.collection, args.k, photos=args.photos)
    except FacegridError as error:
        return report_error(args, error)
    members: dict[int, list] = {}
    for position, cluster in enumerate(clusters.clusters):
        if args.photos:
            members.setdefault(cluster, []).append({"photo_sha256": clusters.photo_sha256[position],
                                                    "paths": clusters.paths[position]})
        else:
            members.setdefault(cluster, []).append(clusters.ids[position])
    if args.json:
        print(json.dumps({"collection": args.collection, "k": clusters.k, "sizes": clusters.sizes,
                          "clusters": [members.get(c, []) for c in range(clusters.k)]}))
        return 0
    print(f"{clusters.k} clusters of {args.collection}" + (" photos" if args.photos else "") + f"; sizes {clusters.sizes}")
    for cluster in range(clusters.k):
        shown = members.get(cluster, [])[:5]
        print(f"cluster {cluster}: " + ", ".join(m["paths"][0] if isinstance(m, dict) and m["paths"] else str(m) for m in shown)
              + (" ..." if len(members.get(cluster, [])) > 5 else ""))
    return 0


def _status(stats) -> dict:
    reembed = stats.reembed
    return {"collection": stats.collection, "model": stats.model, "dim": stats.dim, "photos": stats.photos,
            "faces": stats.faces, "image_model": stats.image_model or None, "image_dim": stats.image_dim,
            "photo_vectors": stats.photo_vectors, "index": stats.index,
            "reembed": {"state": reembed.state or None, "done": reembed.done, "total": reembed.total,
                        "missing": reembed.missing} if reembed is not None else None}


def cmd_collections(args) -> int:
    """`facegrid collections`: a collection's models, counts and re-embedding (status), or set its image model."""
    try:
        with connect(args) as client:
            if args.action == "set-image-model":
                stats = client.set_image_model(args.collection, args.model)
            else:
                stats = client.stats(args.collection)
    except FacegridError as error:
        return report_error(args, error)
    status = _status(stats)
    if args.json:
        print(json.dumps(status))
        return 0
    print(f"{status['collection']}: {status['photos']} photos, {status['faces']} faces ({status['model']}); index {status['index']}")
    if status["image_model"]:
        print(f"  image model {status['image_model']} ({status['image_dim']}-d): {status['photo_vectors']} photo vectors")
    reembed = status["reembed"]
    if reembed and reembed["state"]:
        print(f"  re-embedding {reembed['state']}: {reembed['done']}/{reembed['total']} done, {reembed['missing']} missing")
    return 0


def add_commands(commands) -> None:
    """Add the whole-photo commands (similar, kmeans, collections) to the parser."""
    similar = commands.add_parser("similar", help="groups of near-duplicate photos (whole-photo vectors)")
    similar.add_argument("--collection", default="photos")
    similar.add_argument("--threshold", type=float, default=None,
                         help="link score (default: the one measured for the collection's image model, "
                              "see `facegrid bench near-duplicates`)")
    similar.add_argument("--min-size", type=int, default=2, help="smallest group to list (default 2)")
    add_server_option(similar)
    similar.set_defaults(run=cmd_similar)

    means = commands.add_parser("kmeans", help="k-means over a collection's vectors; --photos: its whole photos (by scene or event)")
    means.add_argument("--collection", default="photos")
    means.add_argument("--photos", action="store_true", help="over the whole-photo vectors (needs an image model)")
    means.add_argument("--k", type=int, default=0, help="clusters (default: chosen; at most one per 5 vectors)")
    add_server_option(means)
    means.set_defaults(run=cmd_kmeans)

    collections = commands.add_parser("collections", help="a photo collection's models and background re-embedding")
    actions = collections.add_subparsers(dest="action", required=True)
    set_model = actions.add_parser("set-image-model", help="give a collection an image model; its photos are embedded "
                                                           "again in the background")
    set_model.add_argument("collection")
    set_model.add_argument("model")
    add_server_option(set_model)
    set_model.set_defaults(run=cmd_collections)
    status = actions.add_parser("status", help="models, counts, the index its vectors are searched with, and re-embedding progress (done/total/missing)")
    status.add_argument("collection")
    add_server_option(status)
    status.set_defaults(run=cmd_collections)
