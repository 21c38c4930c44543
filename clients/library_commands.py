"""CLI commands for photo libraries: `facegrid index DIR` (bulk, resumable) and `facegrid search`."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from .gate_commands import add_server_option, connect, report_error
from .sdk import FacegridError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".heic", ".heif"}
_BATCH = 256


def photo_files(folder: Path) -> Iterator[Path]:
    """Photo files under a folder, in name order; symbolic links to folders are not followed (no loops)."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in PHOTO_SUFFIXES:
                yield Path(root) / name


def _requests(paths: list[Path], client, collection: str, failed: dict) -> Iterator[tuple[str, bytes, str]]:
    """(path, bytes, sha256) to send: bytes only for photos the server does not hold yet (resuming costs no upload)."""
    for start in range(0, len(paths), _BATCH):
        batch = []
        for path in paths[start : start + _BATCH]:
            try:
                data = path.read_bytes()
            except OSError as error:
                failed[str(path)] = f"cannot read: {error.strerror or error}"
                continue
            batch.append((str(path), data, hashlib.sha256(data).hexdigest()))
        known = client.known_photos([digest for _, _, digest in batch], collection)
        for path, data, digest in batch:
            yield path, (b"" if digest in known else data), digest


class _Count:
    """The progress of `facegrid index` where tqdm is not installed (the thin install): only the count, for the summary."""

    def __init__(self, **_options) -> None:
        self.n = 0

    def update(self, done: int = 1) -> None:
        self.n += done

    def set_postfix(self, **_values) -> None:
        pass

    def close(self) -> None:
        pass


def cmd_index(args) -> int:
    """`facegrid index`: index every face of the photos in a folder, skipping photos already indexed (resumable)."""
    try:
        from tqdm import tqdm
    except ModuleNotFoundError:  # the thin install: no bar; the summary at the end says what happened
        tqdm = _Count

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"facegrid: {folder} is not a folder", file=sys.stderr)
        return 2
    paths = list(photo_files(folder))
    failed: dict[str, str] = {}
    counts = {"photos": len(paths), "indexed": 0, "already_indexed": 0, "faces": 0}
    started = time.perf_counter()
    bar = tqdm(total=len(paths), unit="photo", disable=args.json or None, file=sys.stderr)
    try:
        with connect(args) as client:
            stream = client.index_photos(_requests(paths, client, args.collection, failed), args.collection,
                                         args.image_model or "")
            for result in stream:
                if result.error:
                    failed[result.path] = result.error
                elif result.already_indexed:
                    counts["already_indexed"] += 1
                else:
                    counts["indexed"] += 1
                    counts["faces"] += result.faces
                bar.update(1)
                bar.set_postfix(faces=counts["faces"], errors=len(failed), refresh=False)
    except FacegridError as error:
        bar.close()
        return report_error(args, error)
    bar.update(len(paths) - bar.n)  # files that could not be read were never sent
    bar.close()
    seconds = time.perf_counter() - started
    counts.update(errors=len(failed), seconds=round(seconds, 1), photos_per_s=round(len(paths) / max(seconds, 1e-9), 1))
    if args.json:
        print(json.dumps({**counts, "collection": args.collection, "failed": failed}))
    else:
        print(f"{counts['photos']} photos: {counts['indexed']} indexed ({counts['faces']} faces), "
              f"{counts['already_indexed']} already indexed, {len(failed)} errors, {seconds:.1f} s")
        for path, error in failed.items():
            print(f"  {path}: {error}")
    return 0


def _vector(path: str) -> np.ndarray:
    if path.endswith(".npy"):
        return np.load(path).astype(np.float32).reshape(-1)
    text = Path(path).read_text()
    values = json.loads(text) if text.lstrip().startswith("[") else text.split()
    return np.array(values, dtype=np.float32)


def cmd_search(args) -> int:
    """`facegrid search`: nearest faces to a photo's faces or a vector, or photos by words or likeness."""
    if sum(q is not None for q in (args.photo, args.vector, args.text, args.like)) != 1:
        print("facegrid: give one of PHOTO (its faces), --vector FILE, --text WORDS or --like PHOTO (whole photos)", file=sys.stderr)
        return 2
    if args.text is not None or args.like is not None:
        from .photo_commands import search_photos

        return search_photos(args)
    try:
        with connect(args) as client:
            if args.photo:
                reply = client.search(photo=args.photo, k=args.k, collection=args.collection)
            else:
                reply = client.search(vector=_vector(args.vector), k=args.k, collection=args.collection, model=args.model or "")
    except FacegridError as error:
        return report_error(args, error)
    queries = [
        {"face": list(q.face) if q.face else None,
         "hits": [{"score": round(h.score, 4), "paths": h.paths, "face_id": h.face_id or None, "vector_id": h.vector_id,
                   "box": list(h.box) if h.box else None} for h in q.hits]}
        for q in reply.queries
    ]
    if args.json:
        print(json.dumps({"collection": args.collection, "queries": queries}))
        return 0
    if not queries:
        print("no face in the query photo")
    for number, query in enumerate(queries):
        print(f"query face {number}" + (f" at {[round(v) for v in query['face']]}" if query["face"] else ""))
        for hit in query["hits"]:
            where = hit["paths"][0] if hit["paths"] else f"face {hit['face_id']}" if hit["face_id"] else f"vector {hit['vector_id']}"
            print(f"  {hit['score']:.3f}  {where}")
    return 0


def cmd_group(args) -> int:
    """`facegrid group`: group a collection's faces by person; an HTML contact sheet and a folder of links."""
    from .contact_sheet import write_html, write_links

    try:
        with connect(args) as client:
            groups = (client.cluster(args.collection, min_size=args.min_size) if not args.no_recluster
                      else client.groups(args.collection))
    except FacegridError as error:
        return report_error(args, error)
    summary = {"collection": args.collection, "groups": len(groups.groups), "unassigned": groups.unassigned,
               "threshold": round(groups.threshold, 4), "sizes": [len(g.faces) for g in groups.groups]}
    if args.html:
        summary["thumbnails"] = write_html(groups, Path(args.html), f"facegrid: {args.collection}")
        summary["html"] = args.html
    if args.links:
        summary["links"] = write_links(groups, Path(args.links))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['groups']} people in {args.collection} ({groups.unassigned} faces in no group); "
              f"sizes: {summary['sizes'][:20]}{' ...' if len(summary['sizes']) > 20 else ''}")
        if args.html:
            print(f"contact sheet: {args.html}")
        if args.links:
            print(f"links: {args.links}")
    return 0


def cmd_correct(args) -> int:
    """`facegrid correct`: merge or split groups, name one (enrolling it), or undo the last correction."""
    try:
        with connect(args) as client:
            if args.action == "merge":
                groups = client.merge_groups(int(args.values[0]), int(args.values[1]), args.collection)
            elif args.action == "split":
                groups = client.split_face(args.values[0], args.collection)
            elif args.action == "name":
                groups = client.name_group(int(args.values[0]), args.values[1], args.collection)
            else:
                groups = client.undo(args.collection)
    except FacegridError as error:
        return report_error(args, error)
    except (IndexError, ValueError):
        print("facegrid: usage: correct merge GROUP OTHER | split FACE_ID | name GROUP SUBJECT | undo", file=sys.stderr)
        return 2
    summary = {"collection": args.collection, "groups": len(groups.groups),
               "named": {str(g.group_id): g.name for g in groups.groups if g.name}}
    print(json.dumps(summary) if args.json else f"{summary['groups']} groups; named: {summary['named'] or 'none'}")
    return 0


def add_commands(commands) -> None:
    """Add the photo-library commands (index, group, correct, search) to the parser."""
    index = commands.add_parser("index", help="index every face of the photos in a folder (resumable)")
    index.add_argument("folder")
    index.add_argument("--collection", default="photos", help="collection name (default: photos)")
    index.add_argument("--image-model", default=None, metavar="MODEL",
                       help="the collection's image model (a folder model): each photo gets a whole-photo vector too, "
                            "for search --text / --like, similar and kmeans --photos")
    add_server_option(index)
    index.set_defaults(run=cmd_index)

    group = commands.add_parser("group", help="group a collection's photos by person; HTML contact sheet, folder of links")
    group.add_argument("--collection", default="photos")
    group.add_argument("--html", metavar="OUT.html", help="write a contact sheet: one row of face thumbnails per person")
    group.add_argument("--links", metavar="DIR", help="make DIR/person-0001/... symbolic links to each person's photos")
    group.add_argument("--min-size", type=int, default=1, help="smallest group to keep (default 1)")
    group.add_argument("--no-recluster", action="store_true", help="show the stored groups instead of clustering again")
    add_server_option(group)
    group.set_defaults(run=cmd_group)

    correct = commands.add_parser("correct", help="fix the grouping, for good: merge, split, name (enrolls at the gate), undo")
    correct.add_argument("action", choices=["merge", "split", "name", "undo"])
    correct.add_argument("values", nargs="*", help="merge GROUP OTHER | split FACE_ID | name GROUP SUBJECT | undo")
    correct.add_argument("--collection", default="photos")
    add_server_option(correct)
    correct.set_defaults(run=cmd_correct)

    search = commands.add_parser("search", help="nearest indexed faces to the faces of a photo, or to a vector; "
                                                "photos by words (--text) or by likeness (--like)")
    search.add_argument("photo", nargs="?")
    search.add_argument("--vector", help="file with the query vector: .npy, a JSON list, or numbers separated by spaces")
    search.add_argument("--model", default=None, help="with --vector: the model that made it (refused unless the collection's)")
    search.add_argument("--text", default=None, metavar="WORDS", help="whole photos nearest to these words (the collection's image model)")
    search.add_argument("--like", default=None, metavar="PHOTO", help="whole photos most like this one (same scene, near-duplicates)")
    search.add_argument("--k", type=int, default=10, help="how many hits (1-1000, default 10)")
    search.add_argument("--collection", default="photos")
    add_server_option(search)
    search.set_defaults(run=cmd_search)

    from .photo_commands import add_commands as add_photo_commands

    add_photo_commands(commands)
