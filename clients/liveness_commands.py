"""CLI: `facegrid eval liveness` — the imported liveness model on labelled live and attack recordings, in-process.

Registered from cli.py's eval parser. The model is the one `facegrid models import minifasnet` put in the models
directory; nothing here loads it until the command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _data_dir() -> Path:
    from facegrid.server.config import Settings

    return Settings().data_dir


def _models_dir(args) -> Path:
    if args.models_dir:
        return Path(args.models_dir).expanduser()
    from facegrid.server.config import Settings

    return Path(Settings().encoder().models_dir)


def _percent(value) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _print_figures(name: str, f: dict) -> None:
    print(f"  {name}: {f['live']} live / {f['attack']} attack frames; APCER {_percent(f['apcer'])}, BPCER {_percent(f['bpcer'])}; "
          f"APCER at BPCER 5% {_percent(f['apcer_at_bpcer_5'])}, at 1% {_percent(f['apcer_at_bpcer_1'])}; AUC {f['auc']}")
    print(f"    left out: no face {f['frames_without_face']}, not confident {f['frames_not_confident']}")
    if f["live_videos"] or f["attack_videos"]:
        print(f"    videos: live accepted on the first burst {_percent(f['live_videos_accepted_first_burst'])} of {f['live_videos']}, "
              f"attack accepted on any burst {_percent(f['attack_videos_accepted_any_burst'])} of {f['attack_videos']}; "
              f"bursts: BPCER {_percent(f['burst_bpcer'])} of {f['live_bursts']}, APCER {_percent(f['burst_apcer'])} of {f['attack_bursts']}")


def cmd_eval_liveness(args) -> int:
    """`facegrid eval liveness`: APCER/BPCER of the liveness model on labelled live and attack recordings."""
    from facegrid.encoder.errors import EncoderError
    from facegrid.encoder.runtime import EncoderSettings
    from facegrid.evaluation.datasets import DatasetMissing
    from facegrid.evaluation.liveness import evaluate_liveness

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total:
            print(f"\rscoring recordings: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        report = evaluate_liveness(args.data, _models_dir(args), closeup=args.closeup, cues=args.cues,
                                   settings=EncoderSettings.under(_data_dir(), threads=args.threads), progress=progress)
    except (EncoderError, DatasetMissing) as error:
        print(f"facegrid eval liveness: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report))
        return 0
    mode = f", close-up development set (attack frames cut to {report['closeup_window']}x the face box)" if report["closeup"] else ""
    print(f"liveness ({report['model']}), threshold {report['threshold']} fixed on {report['thresholds_fixed_on']}{mode}")
    _print_figures("all", report)
    for setup, figures in report["setups"].items():
        _print_figures(setup, figures)
    replay = report["challenge"]["replay"]
    if replay["bursts"]:
        print(f"  challenge: a replay burst follows a random challenge {_percent(replay['follows_random_challenge'])} of the time "
              f"({_percent(replay['follows_random_challenge_pose_only'])} by head pose alone), over {replay['bursts']} bursts")
    if "cues" in report:
        print("  candidate cues, AUC (live above attack) per set-up:")
        for setup, row in report["cues"]["auc_per_setup"].items():
            print(f"    {setup:26} " + " ".join(f"{k}={'-' if v is None else f'{v:.2f}'}" for k, v in row.items()))
    return 0


def add_eval_liveness(evaluate) -> None:
    """`facegrid eval liveness` on cli.py's eval parser."""
    parser = evaluate.add_parser("liveness", help="presentation-attack detection on live/ and spoof/ recordings: APCER, BPCER",
                                 description="Score labelled recordings with the imported liveness model (no server): each "
                                             "--data folder holds live/ and spoof/ with images and videos at any depth.")
    parser.add_argument("--data", required=True, action="append", metavar="DIR",
                        help="a folder with live/ and spoof/ (one recording set-up); repeat for several")
    parser.add_argument("--closeup", action="store_true",
                        help="cut every attack frame to the inside of its screen around the face first (a close-up development set)")
    parser.add_argument("--cues", action="store_true", help="also measure the candidate cues (AUC per set-up and face-size band)")
    parser.add_argument("--models-dir", help="where model folders live (default FACEGRID_MODELS_DIR, else <data_dir>/models)")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (default: every core)")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    parser.set_defaults(run=cmd_eval_liveness)
