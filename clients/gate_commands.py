"""CLI commands that talk to a running server: enroll, verify, identify, forget, subjects [update] (and serve)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from .door_results import SubjectInfo
from .sdk import Facegrid, FacegridError
from .settings import ClientSettings
from .transport import DEFAULT_ADDRESS, TLS


def add_server_option(parser: argparse.ArgumentParser, json_option: bool = True) -> None:
    """Add the options every command that talks to a server takes (address, key, TLS, --json)."""
    parser.add_argument("--server", default=None, help=f"server address (default: FACEGRID_SERVER or {DEFAULT_ADDRESS})")
    parser.add_argument("--api-key", default=None, help="API key, sent as `authorization: Bearer KEY` (default: FACEGRID_API_KEY)")
    parser.add_argument("--ca", default=None, help="TLS: the CA certificate (PEM) to trust; connects with TLS")
    parser.add_argument("--cert", default=None, help="mutual TLS: this client's certificate (PEM)")
    parser.add_argument("--key", default=None, help="mutual TLS: this client's private key (PEM)")
    parser.add_argument("--tls", action="store_true", help="TLS checked against the system's CA certificates")
    if json_option:
        parser.add_argument("--json", action="store_true", help="one JSON object on the last line")


def client_settings(args) -> ClientSettings:
    """The environment's client settings with the --server, key and TLS options the command was given over them."""
    tls = TLS(args.ca, args.cert, args.key) if (args.ca or args.cert or args.key) else bool(args.tls)
    return ClientSettings.from_environment().with_overrides(server=args.server or None, api_key=args.api_key or None, tls=tls)


def connect(args) -> Facegrid:
    """An SDK client for the --server, key and TLS options the command was given (the one place reading them)."""
    return Facegrid.from_settings(client_settings(args))


def report_error(args, error: FacegridError) -> int:
    """Print a refused call (JSON with --json) and return the exit code 2."""
    if args.json:
        print(json.dumps({"error": error.code.name, "message": error.message, "reason": error.reason or None}))
    else:
        print(f"facegrid: {error.code.name}: {error.message}", file=sys.stderr)
    return 2


def _outcome(outcome, path: str) -> dict:
    return {"photo": path, "accepted": outcome.accepted, "template_id": outcome.template_id or None,
            "duplicate": outcome.duplicate, "reason": outcome.reason or None, "issue": outcome.issue,
            "warnings": list(outcome.warnings)}


def cmd_serve(args) -> int:
    """`facegrid serve`: run the server with the settings and flags given."""
    from facegrid.server.config import Settings
    from facegrid.server.main import serve

    settings = Settings().with_overrides(
        address=args.address, data_dir=args.data_dir, redis_url=args.redis_url, model=args.model, target_far=args.target_far,
        metrics_address=args.metrics_address, http_address=args.http,
        tls_cert=args.tls_cert, tls_key=args.tls_key, client_ca=args.client_ca, insecure=args.insecure or None, reflection=args.reflection or None,
        audit_retention_days=args.audit_retention_days, models_dir=args.models_dir,
        role=args.role, encoders=args.encoder, liveness=args.liveness,
    )
    return serve(settings)


def cmd_enroll(args) -> int:
    """`facegrid enroll`: enroll a subject from photos (or a whole roster with --roster)."""
    if args.roster:
        if args.subject or args.photos:
            print("facegrid: enroll takes SUBJECT PHOTO... or --roster FILE --photos DIR, not both", file=sys.stderr)
            return 2
        return cmd_enroll_roster(args)
    if not args.subject or not args.photos:
        print("facegrid: enroll needs SUBJECT PHOTO... (or --roster FILE --photos DIR)", file=sys.stderr)
        return 2
    try:
        with connect(args) as client:
            reply = client.enroll(args.subject, args.photos, args.name or "", group_list(args.groups) if args.groups else ())
    except FacegridError as error:
        if not error.outcomes:
            return report_error(args, error)
        # No photo accepted: each photo's outcome came with the error.
        if args.json:
            print(json.dumps({"error": error.code.name, "message": error.message, "reason": error.reason or None,
                              "photos": [_outcome(o, path) for o, path in zip(error.outcomes, args.photos)]}))
        else:
            for outcome, path in zip(error.outcomes, args.photos):
                print(f"{path}: refused ({outcome.issue}): {outcome.reason}", file=sys.stderr)
            print(f"facegrid: {error.code.name}: no photo was accepted", file=sys.stderr)
        return 2
    outcomes = []
    for outcome, path in zip(reply.photos, args.photos):
        outcomes.append(_outcome(outcome, path))
        if not args.json:
            state = "duplicate (already enrolled)" if outcome.duplicate else "accepted" if outcome.accepted else f"refused: {outcome.reason}"
            print(f"{path}: {state}" + "".join(f"\n  warning: {w}" for w in outcome.warnings))
    if args.json:
        print(json.dumps({"subject": reply.subject_id, "templates": reply.templates, "photos": outcomes}))
    else:
        print(f"{reply.subject_id}: {reply.templates} template{'s' if reply.templates != 1 else ''}")
    return 0


def cmd_enroll_roster(args) -> int:
    """`facegrid enroll --roster FILE --photos DIR`: clients/roster*.py do the work; this reads the options and prints."""
    from .roster import RosterOptions, run_roster
    from facegrid.server.domain.roster_file import RosterColumns, RosterError, read_roster

    if args.photos_dir is None:
        print("facegrid: --roster needs --photos DIR (the folder the roster's photo paths are relative to)", file=sys.stderr)
        return 2
    if args.forget_missing and not args.sync:
        print("facegrid: --forget-missing goes with --sync", file=sys.stderr)
        return 2
    given = {kind for kind in ("name", "groups") if getattr(args, f"{kind}_column") is not None}
    columns = RosterColumns(args.id_column, args.name_column or "name", args.photo_column, args.groups_column or "groups")
    options = RosterOptions(args.workers, args.dry_run, args.sync, args.forget_missing, args.replace)
    try:
        roster = read_roster(Path(args.roster), Path(args.photos_dir), columns, frozenset({"id", "photo"} | given))
        with connect(args) as client:
            summary = run_roster(client, roster, options)
    except RosterError as error:
        print(json.dumps({"error": "ROSTER", "message": str(error)}) if args.json else f"facegrid: {error}",
              file=sys.stdout if args.json else sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.as_json()))
    else:
        print("\n".join(summary.lines()))
    return summary.exit_code


def cmd_verify(args) -> int:
    """`facegrid verify`: whether a photo shows the subject; exit 0 on a match, 1 otherwise."""
    try:
        with connect(args) as client:
            result = client.verify(args.subject, args.photo)
    except FacegridError as error:
        return report_error(args, error)
    if args.json:
        print(json.dumps({"subject": args.subject, "match": result.match, "band": result.band,
                          "score": _rounded(result.score), "threshold": _rounded(result.threshold),
                          "estimated_far": result.estimated_far, "other_faces": result.other_faces,
                          "quality_issue": result.quality_issue, "quality_warning": result.quality_warning or None}))
    else:
        verdict = "MATCH" if result.match else "NO MATCH"
        if result.score is None:  # a gate key is told the band, not the numbers
            print(f"{verdict}: {args.subject} (score band {result.band or 'not given'})")
        else:
            print(f"{verdict}: {args.subject} score {result.score:.3f} (threshold {result.threshold:.3f}, "
                  f"impostors score this high {result.estimated_far:.2g} of the time)")
        if result.other_faces:
            print(f"  note: {result.other_faces} other face{'s' if result.other_faces != 1 else ''} in the photo; "
                  f"the largest was compared")
        if result.quality_warning:
            print(f"  warning: {result.quality_warning}")
    return 0 if result.match else 1


def _rounded(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def cmd_identify(args) -> int:
    """`facegrid identify`: who is in a photo, or unknown; exit 0 when named, 1 otherwise."""
    try:
        with connect(args) as client:
            result = client.identify(args.photo, args.candidates)
    except FacegridError as error:
        return report_error(args, error)
    if args.json:
        print(json.dumps({"subject": result.subject, "band": result.band, "score": result.score, "threshold": result.threshold,
                          "estimated_far": result.estimated_far, "margin": result.margin, "reason": result.reason or None,
                          "unknown_reason": result.unknown_reason, "quality_issue": result.quality_issue,
                          "other_faces": result.other_faces,
                          "candidates": [{"subject": s, "score": round(v, 4)} for s, v in result.candidates]}))
    else:
        if result.subject and result.score is None:  # a gate key is told the band, not the numbers
            print(f"{result.subject} (score band {result.band or 'not given'})")
        elif result.subject:
            print(f"{result.subject}: score {result.score:.3f} (threshold {result.threshold:.3f}, margin {result.margin:.3f})")
        else:
            print(f"unknown: {result.reason}")
        if result.quality_warning:
            print(f"  warning: {result.quality_warning}")
        for subject, score in result.candidates:
            print(f"  {score:.3f}  {subject}")
    return 0 if result.subject else 1


def cmd_forget(args) -> int:
    """`facegrid forget`: delete a subject and all its templates."""
    try:
        with connect(args) as client:
            removed = client.forget(args.subject)
    except FacegridError as error:
        return report_error(args, error)
    print(json.dumps({"subject": args.subject, "templates_removed": removed}) if args.json
          else f"{args.subject}: forgotten ({removed} templates removed)")
    return 0


def group_list(text: str) -> list[str]:
    """'students,athletes' -> ['students', 'athletes'] ('' -> [], no groups)."""
    return [g.strip() for g in text.split(",") if g.strip()]


def _expires(text: str) -> float:
    """'never' -> 0; an ISO date or date/time (local time unless it says otherwise) or a Unix time -> Unix time."""
    if text.strip().lower() == "never":
        return 0.0
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (try 2027-07-01, 2027-07-01T18:00 or never)") from None


def _subject_json(s: SubjectInfo) -> dict:
    return {"subject": s.subject_id, "name": s.display_name or None, "groups": s.groups, "status": s.status,
            "expires_at": s.expires_at}


def _subject_line(s: SubjectInfo) -> str:
    expires = f", expires {datetime.fromtimestamp(s.expires_at).isoformat(timespec='minutes')}" if s.expires_at else ""
    return (s.subject_id + (f"  ({s.display_name})" if s.display_name else "")
            + f"  [{','.join(s.groups) or 'no groups'}; {s.status}{expires}]")


def cmd_subjects(args) -> int:
    """`facegrid subjects`: list the enrolled subjects."""
    try:
        with connect(args) as client:
            subjects = list(client.subjects())
    except FacegridError as error:
        return report_error(args, error)
    if args.json:
        print(json.dumps({"subjects": [_subject_json(s) for s in subjects], "total": len(subjects)}))
    else:
        for subject in subjects:
            print(_subject_line(subject))
        print(f"{len(subjects)} subjects")
    return 0


def cmd_subjects_update(args) -> int:
    """`facegrid subjects update`: set a subject's groups, suspend or reactivate it, or set its expiry."""
    suspended = True if args.suspend else False if args.activate else None
    groups = group_list(args.groups) if args.groups is not None else None
    try:
        with connect(args) as client:
            subject = client.update_subject(args.subject, groups, suspended, args.expires)
    except FacegridError as error:
        return report_error(args, error)
    print(json.dumps(_subject_json(subject)) if args.json else _subject_line(subject))
    return 0


def add_commands(commands) -> None:
    """The server and client subcommands of `facegrid`."""
    serve = commands.add_parser("serve", help="run the encoder and gate services (embedded Redis unless FACEGRID_REDIS_URL)")
    serve.add_argument("--address", help="host:port to listen on (default: FACEGRID_ADDRESS or 127.0.0.1:50051; port 0 picks one)")
    serve.add_argument("--data-dir", help="where Redis files and caches live (default: FACEGRID_DATA_DIR or ~/.local/share/facegrid)")
    serve.add_argument("--redis-url", help="external Redis instead of the embedded one (default: FACEGRID_REDIS_URL)")
    serve.add_argument("--model", help="face model of the gate (default: FACEGRID_MODEL or fused)")
    serve.add_argument("--target-far", type=float, help="false-accept rate the thresholds are set for (default 0.001)")
    serve.add_argument("--metrics-address", help="host:port of a Prometheus /metrics endpoint, or a port alone on loopback "
                       "(default: FACEGRID_METRICS_ADDRESS; off when empty); FACEGRID_METRICS_KEY requires a bearer token")
    serve.add_argument("--http", metavar="HOST:PORT", help="serve the REST API and the web console here too, e.g. "
                       "127.0.0.1:8080 (default: FACEGRID_HTTP_ADDRESS; off when empty): same keys, scopes and TLS as gRPC")
    serve.add_argument("--tls-cert", help="TLS: the server's certificate chain, PEM (default: FACEGRID_TLS_CERT)")
    serve.add_argument("--tls-key", help="TLS: the server's private key, PEM (default: FACEGRID_TLS_KEY)")
    serve.add_argument("--client-ca", help="mutual TLS: require client certificates signed by this CA (default: FACEGRID_CLIENT_CA)")
    serve.add_argument("--insecure", action="store_true",
                       help="listen beyond loopback although no API key exists (calls need no key until one is made)")
    serve.add_argument("--reflection", action="store_true",
                       help="serve gRPC reflection (grpcurl without -proto); off by default (FACEGRID_REFLECTION)")
    serve.add_argument("--audit-retention-days", type=float, help="keep audit entries this long (default 30)")
    serve.add_argument("--models-dir", help="model folders to serve, one per model (default: FACEGRID_MODELS_DIR or <data-dir>/models)")
    serve.add_argument("--role", choices=("all", "encoder", "index"),
                       help="all: everything in one process (default, FACEGRID_ROLE); encoder: the models alone, stateless; "
                            "index: gate, libraries and Redis, embedding on --encoder servers")
    serve.add_argument("--encoder", metavar="ADDRESS[,ADDRESS...]",
                       help="the index role's encoder servers, host:port, round-robin with failover (default: FACEGRID_ENCODERS)")
    serve.add_argument("--liveness", choices=("require", "report", "off"),
                       help="a door's Pass: require (deny attacks; refused until a liveness model is imported), report "
                            "(score, never deny on it) or off (default: FACEGRID_LIVENESS or require)")
    serve.set_defaults(run=cmd_serve)

    enroll = commands.add_parser(
        "enroll", help="add photos of a person, or of everyone in a roster (--roster FILE --photos DIR)",
        description="facegrid enroll SUBJECT PHOTO... adds photos of one person; facegrid enroll --roster roster.csv "
                    "--photos DIR enrolls everyone in a roster export (resumable: photos the server has are skipped). "
                    "Exit 0: nothing refused; 1: a photo or row refused; 2: the server could not be reached or refused the key.")
    enroll.add_argument("subject", nargs="?")
    enroll.add_argument("photos", nargs="*", metavar="PHOTO")
    enroll.add_argument("--name", help="display name")
    enroll.add_argument("--groups", metavar="A,B", help="groups the subject joins (added to those it has), e.g. students,athletes")
    roster = enroll.add_argument_group("roster", "a CSV with a header row (UTF-8, with or without a BOM); several photos "
                                                 "or groups in a cell separated by ;")
    roster.add_argument("--roster", metavar="FILE", help="the roster CSV")
    roster.add_argument("--photos", dest="photos_dir", metavar="DIR", help="the folder the roster's photo paths are relative to")
    roster.add_argument("--id-column", default="id", help="column of subject ids (default: id)")
    roster.add_argument("--name-column", default=None, help="column of display names (default: name, where present)")
    roster.add_argument("--photo-column", default="photo", help="column of photo paths (default: photo)")
    roster.add_argument("--groups-column", default=None, help="column of groups (default: groups, where present)")
    roster.add_argument("--workers", type=int, default=4, help="subjects sent at once (default 4)")
    roster.add_argument("--dry-run", action="store_true",
                        help="read and check everything, say what would be sent or skipped, and send nothing")
    roster.add_argument("--sync", action="store_true",
                        help="the export is the whole campus: subjects absent from it are suspended (a later sync "
                             "reactivates them), each subject's groups become the export's")
    roster.add_argument("--forget-missing", action="store_true", help="with --sync: forget absent subjects instead")
    roster.add_argument("--replace", action="store_true",
                        help="photos refused as unlike the subject's enrolled ones replace those (an admin key)")
    add_server_option(enroll)
    enroll.set_defaults(run=cmd_enroll)

    verify = commands.add_parser("verify", help="1:1 - is the person in PHOTO this subject? (exit 0 match, 1 no match)")
    verify.add_argument("subject")
    verify.add_argument("photo")
    add_server_option(verify)
    verify.set_defaults(run=cmd_verify)

    identify = commands.add_parser("identify", help="1:N - who is in PHOTO, or unknown (exit 0 known, 1 unknown)")
    identify.add_argument("photo")
    identify.add_argument("--candidates", type=int, default=5, help="best subjects to list (1-100, default 5)")
    add_server_option(identify)
    identify.set_defaults(run=cmd_identify)

    forget = commands.add_parser("forget", help="delete a subject and all its templates")
    forget.add_argument("subject")
    add_server_option(forget)
    forget.set_defaults(run=cmd_forget)

    subjects = commands.add_parser("subjects", help="list enrolled subjects with their groups and status; `update` one")
    add_server_option(subjects)
    subjects.set_defaults(run=cmd_subjects)
    update = subjects.add_subparsers(dest="subjects_command").add_parser(
        "update", help="set a subject's groups, suspend or activate it, set when it expires (scope enroll)")
    update.add_argument("subject")
    update.add_argument("--groups", metavar="A,B", help="the subject's groups from now on (replacing its others; '' for none)")
    status = update.add_mutually_exclusive_group()
    status.add_argument("--suspend", action="store_true", help="deny it at every door (kept, not forgotten)")
    status.add_argument("--activate", action="store_true", help="let it pass again")
    update.add_argument("--expires", type=_expires, metavar="WHEN",
                        help="from when every door denies it: a date such as 2027-07-01 (local midnight), a date/time, or never")
    add_server_option(update)
    update.set_defaults(run=cmd_subjects_update)
