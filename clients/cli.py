"""The `facegrid` command.

The thin install (`pip install facegrid`) has no encoder, index or server stack, so nothing here loads them until
a command that needs them runs; such a command, run without them, says which extra to install (main()).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Before numpy and FAISS load (they read these once): idle BLAS and OpenMP threads sleep at once
# instead of spinning for ~0.1 s, where they took the cores the next face embedding needed.
# Identify at 100k subjects, p50: 76 ms -> 51 ms (docs/benchmarks.md). An operator's own values win.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .admin_commands import add_commands as add_admin_commands  # noqa: E402
from .backup_commands import add_commands as add_backup_commands  # noqa: E402
from .door_commands import add_commands as add_door_commands  # noqa: E402
from .embed_commands import add_commands as add_embed_commands  # noqa: E402
from .gate_commands import add_commands as add_gate_commands  # noqa: E402
from .head_eval_commands import add_train_head_options, cmd_eval_heads  # noqa: E402
from .library_commands import add_commands as add_library_commands  # noqa: E402
from .model_commands import add_commands as add_model_commands  # noqa: E402
from .train_commands import add_commands as add_train_commands  # noqa: E402
from .bind_commands import add_eval_bind  # noqa: E402
from .liveness_commands import add_eval_liveness  # noqa: E402
from .door_client_commands import add_bench as add_bench_door, add_commands as add_door_client_commands  # noqa: E402

# The shipped face models, named here so that building the parser loads no encoder; tests/test_install.py checks
# them against facegrid.encoder.models.
FACE_MODELS = ("dlib", "sface", "fused")
DEFAULT_FACE_MODEL = "fused"


def _add_face_model(parser: argparse.ArgumentParser) -> None:
    """--model (shipped or a folder face model) and --models-dir, where folder models are."""
    parser.add_argument("--model", default=DEFAULT_FACE_MODEL, metavar="NAME",
                        help=f"face model: {', '.join(FACE_MODELS)} or a folder model with a face tower (default: %(default)s)")
    parser.add_argument("--models-dir", default=None,
                        help="where folder models are (default: FACEGRID_MODELS_DIR, else <data_dir>/models)")


def _models_dir(args: argparse.Namespace) -> str:
    """--models-dir, else the server's models directory (FACEGRID_MODELS_DIR or <data_dir>/models)."""
    if args.models_dir:
        return str(Path(args.models_dir).expanduser())
    from facegrid.server.config import Settings

    return str(Settings().encoder().models_dir)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    _add_face_model(parser)
    parser.add_argument("--detector", default="cascade", choices=["cascade", "yunet", "hog", "mmod"],
                        help="face detector; cascade = YuNet, then dlib HOG, then dlib MMOD (default)")
    parser.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                        help="average each face with its mirror image (default: per model, on for dlib, off for sface)")


def _add_data_options(parser: argparse.ArgumentParser, model: bool = True, workers: bool = True,
                      folder_models: bool = False) -> None:
    """--data, --json and, where they apply, --model (with folder_models: folder face models too, and
    --models-dir) and --workers: shared by eval and bench."""
    parser.add_argument("--data", help="faces/ folder (default: ../shared/data/faces or FACEGRID_FACES_DIR)")
    if model and folder_models:
        _add_face_model(parser)
    elif model:
        parser.add_argument("--model", default=DEFAULT_FACE_MODEL, choices=FACE_MODELS, help="embedding model (default: %(default)s)")
    if workers:
        parser.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")


def _folds(text: str) -> list[int]:
    """'1-10', '3', or '1,4,7' -> fold numbers."""
    folds: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        folds.update(range(int(low), int(high or low) + 1))
    if not folds or min(folds) < 1 or max(folds) > 10:
        raise argparse.ArgumentTypeError("folds are numbered 1 to 10, e.g. 1-10 or 1,2")
    return sorted(folds)


def _progress(label: str):
    def show(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total or done % 1000 == 0:
            print(f"\r{label}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return show


def cmd_faces(args: argparse.Namespace) -> int:
    """`facegrid faces`: find and embed every face of photos in this process; exit 1 when no photo could be read."""
    from facegrid.encoder.errors import EncoderError
    from facegrid.encoder.image import DecodeLimits
    from facegrid.encoder.pipeline import FacePipeline
    from facegrid.encoder.runtime import EncoderSettings
    from facegrid.server.config import Settings

    pipeline = FacePipeline(args.model, args.detector, DecodeLimits(), mirror=args.mirror,
                            settings=EncoderSettings.under(Settings().data_dir, models_dir=Path(_models_dir(args))))
    failures = 0
    results = []
    for photo in args.photos:
        try:
            faces = pipeline.faces(Path(photo).read_bytes())
        except (EncoderError, OSError) as error:
            failures += 1
            results.append({"photo": photo, "error": str(error), "error_type": type(error).__name__})
            if not args.json:
                print(f"{photo}: error: {error}")
            continue
        results.append({"photo": photo, "faces": [f.as_dict(None if args.full else 8) for f in faces]})
        if not args.json:
            print(f"{photo}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
            for i, face in enumerate(faces):
                x, y, w, h = face.box
                q = face.quality
                head = ", ".join(f"{v:+.3f}" for v in face.vector[:4])
                print(
                    f"  [{i}] box=({x:.0f},{y:.0f},{w:.0f}x{h:.0f}) {face.detector} score={q.detector_score:.2f}"
                    f" size={q.size:.0f}px sharpness={q.sharpness:.0f} yaw={q.yaw:+.0f} pitch={q.pitch:+.0f}"
                    f" roll={q.roll:+.0f}  {face.model}[{face.vector.shape[0]}]=({head}, ...)"
                )
    if args.json:
        print(json.dumps({"model": pipeline.model.name, "photos": results}))
    return 1 if failures == len(args.photos) else 0


def cmd_eval_lfw(args: argparse.Namespace) -> int:
    """`facegrid eval lfw`: LFW verification accuracy by the 10-fold protocol (a trained head with --train-head)."""
    if args.train_head:
        return cmd_eval_heads(args, _models_dir(args))
    from facegrid.evaluation.lfw import evaluate_lfw, plot_roc

    report = evaluate_lfw(args.data, args.model, args.detector, args.folds, args.mirror, args.workers,
                          progress=_progress("embedding LFW images"), models_dir=_models_dir(args))
    if args.plot:
        plot_roc(report, Path(args.plot))
    summary = report.as_json()
    if not args.json:
        mirrored = [part for part, on in report.mirror.items() if on]
        print(f"LFW View 2, model {report.model} (mirrored: {', '.join(mirrored) or 'none'}), folds {args.folds_text}, {report.pairs} pairs")
        print(f"  accuracy        {report.accuracy * 100:.2f}% ± {report.std * 100:.2f}% (threshold fitted on the other folds)")
        print(f"  per fold        {' '.join(f'{a * 100:.2f}' for a in report.fold_accuracies)}")
        print(f"  threshold       {report.threshold:.4f} (cosine, mean over folds)")
        print(f"  TAR @ FAR 1%    {report.tar_at_far_1e2 * 100:.2f}%")
        print(f"  TAR @ FAR 0.1%  {report.tar_at_far_1e3 * 100:.2f}% (threshold {report.threshold_at_far_1e3:.4f})")
        print(f"  runtimes        {', '.join(f'{k} {v}' for k, v in report.runtimes.items())} (FACEGRID_RUNTIME, FACEGRID_PRECISION)")
        print(f"  images          {report.images}; faces by detector: {report.detectors}")
        print(f"  no face found   {report.no_face} (embedded from a centred fallback chip and scored, not dropped)")
        print(f"  time            {report.seconds:.1f} s ({report.embedded_now} images embedded now, the rest from cache)")
        if args.plot:
            print(f"  ROC curve       {args.plot}")
    else:
        print(json.dumps(summary))
    return 0


def cmd_bench_pipeline(args: argparse.Namespace) -> int:
    """`facegrid bench pipeline`: images/s of decode, detect, align and embed against face_recognition."""
    from facegrid.bench.pipeline import bench_pipeline

    report = bench_pipeline(args.data, args.images, args.model, args.workers, baseline=not args.no_baseline)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"pipeline bench: {report['images']} LFW images, {report['workers']} processes")
        print(f"  facegrid ({report['model']})  {report['images_per_s']:.1f} images/s  ({report['faces']} faces)")
        if report.get("baseline_images_per_s"):
            print(f"  face_recognition        {report['baseline_images_per_s']:.1f} images/s  ({report['baseline_faces']} faces)")
            print(f"  ratio                   {report['ratio']:.2f}x")
    return 0


def cmd_eval_openset(args: argparse.Namespace) -> int:
    """`facegrid eval openset`: open-set identification (DIR at FAR) on LFW through the gate's index code."""
    if args.train_head:
        return cmd_eval_heads(args, _models_dir(args))
    from facegrid.evaluation.openset import evaluate_openset

    report = evaluate_openset(args.data, args.model, args.workers, progress=_progress("embedding LFW images"),
                              models_dir=_models_dir(args))
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"LFW open-set identification, model {report['model']}: {report['impostor_probes']} impostor probes, "
          f"{report['no_face']} images without a detected face (centred fallback)")
    for label in ("one", "three"):
        v = report[label]
        print(f"  {label} template(s) per person: {v['subjects']} subjects, {v['genuine_probes']} genuine probes")
        print(f"    rank-1 {v['rank1'] * 100:.2f}%")
        for key in ("1e-2", "1e-3"):
            print(f"    DIR @ FAR {key}: {v['dir_at_far_' + key] * 100:.2f}% (threshold {v['threshold_at_far_' + key]:.4f}, "
                  f"{v['impostors_passing_at_far_' + key]} impostors pass; without LFW's alias pairs "
                  f"{v['dir_at_far_' + key + '_without_aliases'] * 100:.2f}%)")
        op = v["service_operating_point"]
        print(f"    service defaults (FAR {op['target_far']}, threshold {op['threshold']}, margin {op['margin']}): "
              f"{op['genuine_identified'] * 100:.2f}% identified, {op['genuine_misidentified'] * 100:.2f}% misidentified, "
              f"{op['impostors_accepted'] * 100:.3f}% impostors accepted")
        for hit in v["top_impostors"][:3]:
            print(f"    top impostor {hit['probe']} -> {hit['matched']} ({hit['score']})")
    return 0


def cmd_eval_calibrate(args: argparse.Namespace) -> int:
    """`facegrid eval calibrate`: measure a model's impostor curve on LFW and save its thresholds."""
    from facegrid.evaluation.calibrate import calibrate

    summary = calibrate(args.data, args.model, args.workers, progress=_progress("embedding LFW images"), save=not args.dry_run,
                        models_dir=_models_dir(args))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"calibration of {summary['model']}: {summary['impostor_pairs']:,} impostor pairs")
        for far, threshold in summary["thresholds"].items():
            print(f"  FAR {far:>6}: threshold {threshold}")
        if summary["path"]:
            print(f"  written to {summary['path']}")
    return 0


def cmd_eval_probe(args: argparse.Namespace) -> int:
    """`facegrid eval probe`: a linear probe's accuracy on a labelled photo folder."""
    from facegrid.evaluation.probe import linear_probe

    report = linear_probe(args.data, args.model, args.min_photos, args.test_share, args.seed, args.workers,
                          progress=_progress("embedding photos"), models_dir=_models_dir(args))
    if args.json:
        print(json.dumps(report.as_json()))
        return 0
    print(f"linear probe of {report.model} on {report.data}: {report.people} people with >= {report.min_photos} photos "
          f"({report.skipped_people} with fewer skipped)")
    print(f"  split by photo (seed {report.seed}): {report.train_photos} train, {report.test_photos} test")
    print(f"  top-1 accuracy  {report.accuracy * 100:.2f}% held out ({report.train_accuracy * 100:.2f}% on the training photos; "
          f"always the most photographed person: {report.majority_accuracy * 100:.2f}%)")
    if not report.converged:
        print(f"  the fit stopped at {report.iterations} iterations before converging", file=sys.stderr)
    print(f"  no face found   {report.no_face} (centred fallback chip, kept)")
    print(f"  time            {report.seconds:.1f} s ({report.embedded_now} photos embedded now, the rest from cache)")
    return 0


def cmd_eval_cluster(args: argparse.Namespace) -> int:
    """`facegrid eval cluster`: grouping LFW faces by person, scored with BCubed and pairwise F."""
    from facegrid.evaluation.cluster import evaluate_cluster

    report = evaluate_cluster(args.data, args.model, args.workers, progress=_progress("embedding LFW images"),
                              models_dir=_models_dir(args), pairs_images=args.pairs_images)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"LFW clustering, model {report['model']}: {report['photos']} photos of {report['people']} people "
          f"({report['people_with_5_or_more']} with 5+ photos, the rest single-photo distractors)")
    print(f"  link threshold {report['threshold']} (FAR {report['link_far']:g}, fixed in advance), average linkage")
    print(f"  BCubed P {report['bcubed_precision']:.4f} R {report['bcubed_recall']:.4f} F {report['bcubed_f']:.4f}; "
          f"pairwise F {report['pairwise_f']:.4f}; {report['groups']} groups for {report['people']} people "
          f"({report['seconds']} s)")
    frequent = report["frequent_only"]
    print(f"  5+ photo people alone: BCubed F {frequent['bcubed_f']:.4f}, pairwise F {frequent['pairwise_f']:.4f}")
    for far, row in report["sweep"].items():
        print(f"    at FAR {far:>6}: threshold {row['threshold']}, BCubed F {row['bcubed_f']:.4f}, {row['groups']} groups")
    bbt = report["faceapi_bbt"]
    print(f"  faceapi_bbt: {bbt['crops']} labelled crops + {bbt['group_photo_faces']} faces from group photos, "
          f"{bbt['people']} people: BCubed F {bbt['bcubed_f']:.4f}, pairwise F {bbt['pairwise_f']:.4f}, "
          f"{bbt['groups_among_crops']} groups among the crops")
    return 0


def cmd_bench_index(args: argparse.Namespace) -> int:
    """`facegrid bench index`: bulk indexing against face_recognition, k-means, grouping and search at scale."""
    from facegrid.bench.index import bench_index

    report = bench_index(args.data, args.images, args.model, args.workers, baseline=not args.no_baseline,
                         progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"indexing {report['model']}: {report['photos_per_s']} photos/s vs face_recognition "
              f"{report['baseline_photos_per_s']} ({report['ratio']}x); search at 1M: {report['search_vs_numpy_ratio']}x numpy")
    return 0


def cmd_bench_scale(args: argparse.Namespace) -> int:
    """`facegrid bench scale`: memory, build time, recall and latency of the index types at millions of vectors."""
    from facegrid.bench.scale import bench_scale
    from facegrid.index.approximate import ApproximateSettings

    settings = ApproximateSettings(exact_max_mb=args.exact_max_mb, recall_target=args.recall_target, memory_gib=args.memory_gib)
    report = bench_scale(args.vectors, args.dim, args.queries, args.types, args.milvus_vectors, args.hnsw_max, settings,
                         progress=(lambda line: print(line, file=sys.stderr, flush=True)) if args.json else print)
    if args.json:
        print(json.dumps(report))
        return 0
    for part in [report] + ([report["milvus"]] if "milvus" in report else []):
        print(f"{part['vectors']:,} x {part['dim']}, {part['queries']} probes, batch 1:")
        for name, row in part["types"].items():
            if "skipped" in row:
                print(f"  {name:9} skipped: {row['skipped']}")
                continue
            gib = f"{row['index_gib']:.2f} GiB" if row.get("index_gib") is not None else "   -    "
            print(f"  {name:9} recall@10 {row['recall_at_10']:.3f}  {row['ms_per_query']:7.2f} ms/query (p99 {row['p99_ms']:.2f})"
                  f"  {gib}  build {row['build_s']:.0f} s  {row['index']}")
        print(f"  chosen for this size: {part['chosen_type']}")
    print("target met" if report["met"] else "target NOT met", f"(recall@10 >= {report['target']['recall_at_10']}, <= 10 ms, <= 4 GiB)")
    return 0


def cmd_bench_gate(args: argparse.Namespace) -> int:
    """`facegrid bench gate`: Verify and Identify latency over gRPC, and the gRPC overhead per call."""
    from facegrid.bench.gate import bench_gate

    if args.overhead_only:
        from facegrid.bench.rpc_overhead import bench_overhead

        report = bench_overhead(args.data, args.repeats, args.rounds, progress=(lambda *a: None) if args.json else print)
        print(json.dumps(report) if args.json else f"gRPC overhead per Identify p50: {report['facegrid_overhead_p50_ms']} ms "
              f"({report['facegrid_key_overhead_p50_ms']} ms with a key); bare gRPC here now {report['bare_overhead_p50_ms']} ms")
        return 0
    report = bench_gate(args.data, args.repeats, progress=(lambda *a: None) if args.json else print,
                        concurrency=args.concurrency, streams=args.streams, load_seconds=args.load_seconds)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"verify p50 {report['verify_p50_ms']} ms, p99 {report['verify_p99_ms']} ms; "
              f"identify at 100k p99 {report['identify_100k_p99_ms']} ms; gRPC overhead {report['grpc_overhead_ms']} ms")
    return 0


def cmd_bench_roles(args: argparse.Namespace) -> int:
    """`facegrid bench roles`: what the split into encoder and index servers costs, and what failover keeps."""
    from facegrid.bench.roles import bench_roles

    report = bench_roles(args.data, args.repeats, args.photos, progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        v, f = report["verify"], report["failover"]
        print(f"verify p50 {v['all']['p50_ms']} ms in one process, {v['split']['p50_ms']} ms split: the hop costs "
              f"{report['hop_p50_ms']} ms at p50 (target <= 2); failover: {f['photos_indexed']}/{f['distinct_photos']} photos, "
              f"{f['duplicates']} duplicates, {f['failed']} failed, {f['seconds']} s")
    return 0


def cmd_bench_catch_up(args: argparse.Namespace) -> int:
    """`facegrid bench catch-up`: Milvus's catch-up after an outage against refilling it whole."""
    from facegrid.bench.catch_up import bench_catch_up

    report = bench_catch_up(args.vectors, args.missed, progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        c, r = report["catch_up"], report["refill"]
        print(f"after an outage: {c['vectors_set']} missed vectors caught up in {c['ms']:.0f} ms, against a refill of "
              f"{r['vectors']} in {r['ms']:.0f} ms ({report['refill_over_catch_up']}x)")
    return 0


def _ints(text: str) -> list[int]:
    """'1,8,32' -> [1, 8, 32]."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of positive whole numbers, e.g. 1,8,32") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive whole numbers, e.g. 1,8,32")
    return values


def cmd_bench_encoder(args: argparse.Namespace) -> int:
    """`facegrid bench encoder`: items/s and latency with concurrent callers, batched and unbatched."""
    from facegrid.bench.encoder import bench_encoder
    from facegrid.server.config import Settings

    served = Settings()  # the batching a server would use, unless flags say otherwise
    for option, value in (("batch_max", served.batch_max), ("batch_wait_ms", served.batch_wait_ms),
                          ("batch_threads", served.batch_threads), ("batch_workers", served.batch_workers)):
        if getattr(args, option) is None:
            setattr(args, option, value)
    modalities = [args.modality] if args.modality else ["face", "image", "text"]
    report = bench_encoder(
        args.data, [args.model] if args.model else None, modalities, args.concurrency, args.device, args.seconds, args.inputs,
        batch_max=args.batch_max, batch_wait_ms=args.batch_wait_ms, threads=args.threads, batch_threads=args.batch_threads,
        batch_workers=args.batch_workers, min_calls=args.min_calls, rounds=args.rounds,
        models_dir=args.models_dir or str(served.encoder().models_dir), progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        top = max(args.concurrency)
        print(f"batched vs unbatched at {top} callers: {report[f'batched_vs_unbatched_at_{top}']}x; single-caller p50 "
              f"slowdown {report['single_caller_slowdown']}x; misrouted {report['misrouted']} of {report['calls']} calls")
    return 0


def cmd_bench_runtimes(args: argparse.Namespace) -> int:
    """`facegrid bench runtimes`: each network on ONNX Runtime and OpenVINO, f32 and (where native) bf16."""
    from facegrid.bench.runtimes import bench_runtimes

    report = bench_runtimes(args.threads, args.rounds, args.seconds, progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"CPU {report['cpu']}, native bf16: {'yes' if report['bf16'] else 'no'}, {report['threads']} thread(s)")
    return 0


def cmd_bench_fuzz(args: argparse.Namespace) -> int:
    """`facegrid bench fuzz`: generated requests over every RPC; exit 1 on any UNKNOWN/INTERNAL or crash."""
    from facegrid.bench.fuzz import fuzz, sample_photos

    report = fuzz(args.calls, sample_photos(args.data), progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['calls']} calls: {report['unknown_or_internal']} UNKNOWN/INTERNAL, {report['crashes']} crashes, "
              f"peak RSS {report['peak_rss_mb']} MB; codes {report['codes']}")
    return 0 if report["unknown_or_internal"] == 0 and report["crashes"] == 0 else 1


def cmd_bench_sigkill(args: argparse.Namespace) -> int:
    """`facegrid bench sigkill`: writes under random SIGKILLs; exit 1 if one acknowledged write is lost or doubled."""
    from facegrid.bench.sigkill_loop import sigkill_loop

    report = sigkill_loop(args.kills, args.data, progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['kills']} kills: {report['acknowledged']} acknowledged, {report['lost']} lost, "
              f"{report['duplicates']} duplicates; FAISS equals Redis after every restart: {report['faiss_equals_redis']}")
    return 0 if report["lost"] == 0 and report["duplicates"] == 0 and report["faiss_equals_redis"] else 1


def cmd_bench_auth(args: argparse.Namespace) -> int:
    """`facegrid bench auth`: what API keys and TLS cost per call against plaintext without keys."""
    from facegrid.bench.auth import bench_auth

    report = bench_auth(args.data, args.repeats, progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"keys + TLS cost {report['auth_tls_overhead_ms']} ms per call (ListModels p50 "
              f"{report['list_models_tls_key_p50_ms']} vs {report['list_models_plain_p50_ms']} ms plaintext without keys)")
    return 0


def cmd_bench_http(args: argparse.Namespace) -> int:
    """`facegrid bench http`: Verify over HTTP against gRPC on the same server, p50 and p99; exit 1 if answers differ."""
    from facegrid.bench.http_api import bench_http

    report = bench_http(args.data, args.repeats, progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"HTTP costs {report['verify_difference_p50_ms']} ms over gRPC per Verify (p50 {report['verify_http_p50_ms']} "
              f"vs {report['verify_grpc_p50_ms']} ms; median of paired calls {report['verify_paired_difference_median_ms']} ms; "
              f"target at most {report['target_ms']} ms); ListModels {report['list_models_difference_p50_ms']} ms")
    return 0 if report["same_answer"] else 1


def cmd_bench_oracle(args: argparse.Namespace) -> int:
    """`facegrid bench oracle`: whether Verify's timing tells enrolled ids from unknown; exit 1 if answers differ."""
    from facegrid.bench.oracle import bench_oracle

    report = bench_oracle(args.data, args.repeats, progress=(lambda *a: None) if args.json else print)
    print(json.dumps(report) if args.json else f"unknown ids answer {report['p50_difference_ms']} ms apart from known ones "
          f"(p50 {report['unknown_id_p50_ms']} vs {report['known_no_match_p50_ms']} ms)")
    return 0 if report["same_answer"] else 1


def cmd_bench_keyless_streams(args: argparse.Namespace) -> int:
    """`facegrid bench keyless-streams`: Verify latency while keyless streams are tried, against none."""
    from facegrid.bench.keyless_streams import bench_keyless_streams

    report = bench_keyless_streams(args.data, args.calls, args.rounds, progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"Verify p99 {report['verify_p99_beside_streams_ms']} ms beside {report['streams_tried']} keyless streams "
              f"against {report['verify_p99_alone_ms']} ms alone: {report['p99_ratio']}x")
    return 0


def cmd_bench_near_duplicates(args: argparse.Namespace) -> int:
    """`facegrid bench near-duplicates`: measure an image model's near-duplicate threshold on real photos."""
    from facegrid.bench.near_duplicates import bench_near_duplicates

    report = bench_near_duplicates(args.model, args.models_dir, args.data, args.photos, args.edited, args.false_merge_rate,
                                   write=args.write, progress=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(report))
    else:
        recall = ", ".join(f"{edit} {value * 100:.1f}%" for edit, value in report["recall_by_edit"].items())
        print(f"near-duplicate threshold of {report['model']}: {report['threshold']:.6f} at false-merge rate "
              f"{report['false_merge_rate']:g} (measured {report['measured_false_merge_rate']:.2g} over "
              f"{report['distinct_pairs']:,} distinct pairs); recall {report['recall'] * 100:.1f}% ({recall})")
        if report["written"]:
            print(f"  written to {report['written']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `facegrid` argument parser with every command's subparser."""
    parser = argparse.ArgumentParser(prog="facegrid", description="Face detection, embedding, verification and search.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_gate_commands(commands)
    add_library_commands(commands)
    add_admin_commands(commands)
    add_backup_commands(commands)
    add_door_commands(commands)
    add_embed_commands(commands)
    add_model_commands(commands)
    add_train_commands(commands)
    add_door_client_commands(commands)

    faces = commands.add_parser("faces", help="find and embed every face in photos")
    faces.add_argument("photos", nargs="+", metavar="PHOTO")
    _add_model_options(faces)
    faces.add_argument("--json", action="store_true", help="one JSON object on the last line")
    faces.add_argument("--full", action="store_true", help="with --json: the whole vector, not its first values")
    faces.set_defaults(run=cmd_faces)

    evaluate = commands.add_parser("eval", help="accuracy on labelled photos").add_subparsers(dest="protocol", required=True)
    lfw = evaluate.add_parser("lfw", help="LFW View 2, 10-fold verification accuracy")
    _add_data_options(lfw, model=False)
    lfw.add_argument("--folds", dest="folds_text", default="1-10", help="folds to use, e.g. 1-10 or 1,2 (default 1-10)")
    lfw.add_argument("--plot", metavar="ROC.png", help="draw the ROC curve to this file")
    _add_model_options(lfw)
    add_train_head_options(lfw)
    lfw.set_defaults(run=cmd_eval_lfw)

    openset = evaluate.add_parser("openset", help="LFW open-set identification: DIR at FAR, rank-1")
    _add_data_options(openset, folder_models=True)
    add_train_head_options(openset)
    openset.set_defaults(run=cmd_eval_openset)

    calibrate = evaluate.add_parser("calibrate", help="measure a model's score -> FAR table from all LFW impostor pairs")
    _add_data_options(calibrate, folder_models=True)
    calibrate.add_argument("--dry-run", action="store_true", help="print the thresholds without writing the table")
    calibrate.set_defaults(run=cmd_eval_calibrate)

    probe = evaluate.add_parser("probe", help="linear probe: a softmax classifier on frozen face vectors, split by photo")
    probe.add_argument("--data", help="a person-labelled folder DIR/person/*.jpg (default: LFW; the faces/ folder means its lfw/)")
    _add_face_model(probe)
    probe.add_argument("--min-photos", type=int, default=10, help="skip (and count) people with fewer photos (default 10)")
    probe.add_argument("--test-share", type=float, default=0.3, help="share of each person's photos held out (default 0.3)")
    probe.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    probe.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    probe.add_argument("--json", action="store_true", help="one JSON object on the last line")
    probe.set_defaults(run=cmd_eval_probe)

    cluster = evaluate.add_parser("cluster", help="grouping faces by person on LFW (+ faceapi_bbt): BCubed and pairwise F")
    _add_data_options(cluster, folder_models=True)
    cluster.add_argument("--pairs-images", action="store_true",
                         help="only the images of pairs.txt, which `eval lfw` embeds (a quicker check; reported figures use all)")
    cluster.set_defaults(run=cmd_eval_cluster)
    add_eval_bind(evaluate)
    add_eval_liveness(evaluate)

    bench = commands.add_parser("bench", help="speed against a baseline measured in the same run").add_subparsers(dest="target", required=True)
    pipe = bench.add_parser("pipeline", help="images/s of decode+detect+align+embed vs face_recognition")
    _add_data_options(pipe)
    pipe.add_argument("--images", type=int, default=500, help="LFW images to process (default 500)")
    pipe.add_argument("--no-baseline", action="store_true", help="skip face_recognition")
    pipe.set_defaults(run=cmd_bench_pipeline)
    index = bench.add_parser("index", help="bulk indexing vs face_recognition, k-means, grouping, search at 1M")
    _add_data_options(index)
    index.add_argument("--images", type=int, default=500, help="LFW photos to index (default 500)")
    index.add_argument("--no-baseline", action="store_true", help="skip face_recognition")
    index.set_defaults(run=cmd_bench_index)

    scale = bench.add_parser("scale", help="index types at millions of face-like vectors: memory, build time, recall@10 vs latency")
    scale.add_argument("--vectors", type=int, default=10_000_000, help="stored vectors (default 10M)")
    scale.add_argument("--dim", type=int, default=128, help="dimension (default 128)")
    scale.add_argument("--queries", type=int, default=1000, help="probes, searched one at a time (default 1000)")
    scale.add_argument("--types", default="flat,ivf_flat,ivf_fp16,ivf_sq8,ivf_pq,hnsw", help="index types to measure (default all)")
    scale.add_argument("--milvus-vectors", type=int, default=0, help="also this many through a real Milvus server, beside FAISS")
    scale.add_argument("--hnsw-max", type=int, default=2_000_000, help="measure HNSW only up to this size (its build is slow)")
    scale.add_argument("--exact-max-mb", type=float, default=256, help="the planner's exact-search limit (FACEGRID_EXACT_MAX_MB)")
    scale.add_argument("--recall-target", type=float, default=0.95, help="recall@10 the IVF types are tuned to")
    scale.add_argument("--memory-gib", type=float, default=4.0, help="index memory budget (FACEGRID_INDEX_MEMORY_GIB)")
    scale.add_argument("--json", action="store_true", help="one JSON object on the last line")
    scale.set_defaults(run=cmd_bench_scale)

    gate = bench.add_parser("gate", help="Verify/Identify latency and gRPC overhead, against a facegrid serve it starts")
    _add_data_options(gate, model=False, workers=False)
    gate.add_argument("--repeats", type=int, default=200, help="calls per measurement (default 200)")
    gate.add_argument("--concurrency", type=int, default=0, help="also time Verify from this many gate callers at once (each about once a second)")
    gate.add_argument("--streams", type=int, default=0, help="... beside this many bulk-index streams")
    gate.add_argument("--load-seconds", type=float, default=30.0, help="how long each load phase runs (default 30)")
    gate.add_argument("--overhead-only", action="store_true",
                      help="only the gRPC overhead per Identify (1k gallery), beside bare gRPC's, interleaved in rounds (~2 min)")
    gate.add_argument("--rounds", type=int, default=4, help="with --overhead-only: rounds the --repeats calls are spread over")
    gate.set_defaults(run=cmd_bench_gate)

    roles = bench.add_parser("roles", help="Verify through an index server + encoder server vs one process; bulk index with an encoder killed")
    _add_data_options(roles, model=False, workers=False)
    roles.add_argument("--repeats", type=int, default=200, help="Verify calls per server (default 200)")
    roles.add_argument("--photos", type=int, default=300, help="LFW photos in the failover run (default 300)")
    roles.set_defaults(run=cmd_bench_roles)

    catch_up = bench.add_parser("catch-up", help="Milvus back after an outage: the missed writes re-read from Redis vs a whole refill")
    catch_up.add_argument("--vectors", type=int, default=100_000, help="vectors in the collection (default 100k)")
    catch_up.add_argument("--missed", type=int, default=100, help="vectors added while Milvus is down (default 100)")
    catch_up.add_argument("--json", action="store_true", help="one JSON object on the last line")
    catch_up.set_defaults(run=cmd_bench_catch_up)

    auth = bench.add_parser("auth", help="per-call cost of API keys + TLS against plaintext without keys, in the same run")
    _add_data_options(auth, model=False, workers=False)
    auth.add_argument("--repeats", type=int, default=300, help="calls per measurement (default 300)")
    auth.set_defaults(run=cmd_bench_auth)

    http_bench = bench.add_parser("http", help="Verify over REST against gRPC on the same server: p50, p99 and the difference")
    _add_data_options(http_bench, model=False, workers=False)
    http_bench.add_argument("--repeats", type=int, default=300, help="calls of each per measurement (default 300)")
    http_bench.set_defaults(run=cmd_bench_http)

    oracle = bench.add_parser("oracle", help="Verify time to a gate key: a known id that does not match against unknown ids")
    _add_data_options(oracle, model=False, workers=False)
    oracle.add_argument("--repeats", type=int, default=200, help="calls of each kind (default 200)")
    oracle.set_defaults(run=cmd_bench_oracle)

    keyless = bench.add_parser("keyless-streams", help="Verify p99 while 200 keyless health/reflection streams are tried, against none")
    _add_data_options(keyless, model=False, workers=False)
    keyless.add_argument("--calls", type=int, default=60, help="Verify calls per phase and round (default 60)")
    keyless.add_argument("--rounds", type=int, default=3, help="rounds of (alone, beside the streams) (default 3)")
    keyless.set_defaults(run=cmd_bench_keyless_streams)

    runtimes = bench.add_parser("runtimes", help="each network on ONNX Runtime and OpenVINO, f32 and bf16 where native: ms an item")
    runtimes.add_argument("--threads", type=int, default=1, help="threads a session (default 1: one worker process's share)")
    runtimes.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    runtimes.add_argument("--seconds", type=float, default=2.0, help="seconds per candidate and batch size, over all rounds")
    runtimes.add_argument("--json", action="store_true")
    runtimes.set_defaults(run=cmd_bench_runtimes)
    enc = bench.add_parser("encoder", help="items/s and latency with 1/8/32 concurrent callers, batched vs unbatched, per model")
    _add_data_options(enc, model=False, workers=False)
    enc.add_argument("--model", default=None, help="one model (default: every face model, and every tower model found)")
    enc.add_argument("--modality", choices=["face", "image", "text"], default=None, help="one modality (default: all)")
    enc.add_argument("--concurrency", type=_ints, default=[1, 8, 32], help="concurrent callers, e.g. 1,8,32 (default)")
    enc.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="ONNX Runtime device (default cpu)")
    enc.add_argument("--seconds", type=float, default=6.0, help="seconds per measurement point and way (default 6)")
    enc.add_argument("--rounds", type=int, default=3, help="each point split into this many rounds, batched and unbatched alternating (default 3)")
    enc.add_argument("--inputs", type=int, default=64, help="distinct inputs (faces, photos, texts) per model (default 64)")
    enc.add_argument("--batch-max", type=int, default=None, help="batch bound (default: the server's FACEGRID_BATCH_MAX)")
    enc.add_argument("--batch-wait-ms", type=float, default=None, help="batch wait (default: the server's FACEGRID_BATCH_WAIT_MS)")
    enc.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads a session, unbatched (default 0: all cores)")
    enc.add_argument("--batch-threads", type=int, default=None, help="... of the batched sessions (default: the server's FACEGRID_BATCH_THREADS)")
    enc.add_argument("--batch-workers", type=int, default=None, help="batches of a model run side by side (default: the server's FACEGRID_BATCH_WORKERS)")
    enc.add_argument("--models-dir", default=None, help="model folders to bench besides the face models (default: the server's)")
    enc.add_argument("--min-calls", type=int, default=0, help="at least this many batched calls per point (routing check)")
    enc.set_defaults(run=cmd_bench_encoder)

    fuzzing = bench.add_parser("fuzz", help="generated requests over every RPC of a server it starts: no UNKNOWN/INTERNAL, no crash")
    _add_data_options(fuzzing, model=False, workers=False)
    fuzzing.add_argument("--calls", type=int, default=10_000, help="requests to send (default 10000)")
    fuzzing.set_defaults(run=cmd_bench_fuzz)

    duplicates = bench.add_parser("near-duplicates", help="an image model's near-duplicate threshold, measured on real "
                                                          "photos and edited copies (for `facegrid similar`)")
    _add_data_options(duplicates, model=False, workers=False)
    duplicates.add_argument("--model", required=True, help="a folder model with an image tower")
    duplicates.add_argument("--models-dir", default=None, help="its models directory (default: FACEGRID_MODELS_DIR or <data>/models)")
    duplicates.add_argument("--photos", type=int, default=1000, help="distinct photos, one per LFW person (default 1000)")
    duplicates.add_argument("--edited", type=int, default=200, help="of them, how many are edited 4 ways (default 200)")
    duplicates.add_argument("--false-merge-rate", type=float, default=1e-5,
                            help="share of distinct-photo pairs allowed at or above the threshold (default 1e-5)")
    duplicates.add_argument("--write", action="store_true", help="store the threshold beside the model's card")
    duplicates.set_defaults(run=cmd_bench_near_duplicates)

    kill = bench.add_parser("sigkill", help="enroll and bulk-index while the server is SIGKILLed and restarted: nothing lost")
    _add_data_options(kill, model=False, workers=False)
    kill.add_argument("--kills", type=int, default=20, help="how many times to SIGKILL the server (default 20)")
    kill.set_defaults(run=cmd_bench_sigkill)
    add_bench_door(bench)
    return parser


# Errors of the libraries that end a command with one clear line: an unknown model, a broken folder, no calibration
# table, Milvus down at start or holding a collection that does not fit. Named, not imported: a command that raised
# one has loaded its module, and the thin install has none of them.
_ONE_LINE_ERRORS = {"facegrid.encoder.errors": ("EncoderError",), "facegrid.index.calibration": ("CalibrationMissing",),
                    "facegrid.index.errors": ("EngineError", "EngineMismatch")}

# Modules of an extra other than the server stack; any other missing module comes with `cpu` (or `gpu`).
_MODULE_EXTRAS = {"torch": "import", "torchvision": "import", "open_clip": "import", "hypothesis": "bench",
                  "pymilvus": "milvus", "milvus_lite": "milvus"}


def _one_line_error(error: Exception) -> bool:
    """Whether `error` is one of the library errors that is said in one line, without a traceback."""
    for module, names in _ONE_LINE_ERRORS.items():
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(error, tuple(getattr(loaded, name) for name in names)):
            return True
    return False


# The dests of the subcommands' own subcommands (`keys create`, `bench gate`, ...), in the order they are typed.
_SUBCOMMANDS = ("protocol", "target", "keys_command", "doors_command", "models_command", "family", "subjects_command", "action")


def _command_name(args: argparse.Namespace) -> str:
    """`facegrid keys create`, `facegrid bench gate`, ...: the command as typed, for messages."""
    words = [args.command] + [getattr(args, dest) for dest in _SUBCOMMANDS if isinstance(getattr(args, dest, None), str)]
    return " ".join(["facegrid", *words])


def _missing_extra(args: argparse.Namespace, error: ImportError) -> str:
    """What to install, for a command that needs a module this install lacks; empty when it is not that (a bug)."""
    if "pip install 'facegrid[" in str(error):  # said already (encoder/extras.py, encoder/runtime.py)
        return f"{_command_name(args)}: {error}"
    top = (error.name or "").split(".")[0]
    if not isinstance(error, ModuleNotFoundError) or not top or top == "facegrid":
        return ""
    from facegrid.encoder.extras import missing  # the message of every missing extra, in one place

    extra = _MODULE_EXTRAS.get(top, "cpu")
    if extra == "cpu":
        return f"{_command_name(args)} needs the server stack: {missing(top, extra)} (or 'facegrid[gpu]' on an NVIDIA GPU)"
    return f"{_command_name(args)}: {missing(top, extra)}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `facegrid` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "folds_text", None):
        try:
            args.folds = _folds(args.folds_text)
        except (ValueError, argparse.ArgumentTypeError) as error:
            parser.error(f"--folds: {error}")
    try:
        return args.run(args)
    except FileNotFoundError as error:
        print(f"facegrid: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # a command of an extra this install lacks (the thin install has no server stack)
        message = _missing_extra(args, error)
        if not message:
            raise
        print(message, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if not _one_line_error(error):
            raise
        print(f"facegrid: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
