"""`facegrid doors set|list|delete`: who may pass which door when (scope admin).

While no door has a rule, every door admits every active subject; once one has, a door without a rule denies.
"""

from __future__ import annotations

import json
from datetime import datetime

from .door_results import DoorInfo
from .gate_commands import add_server_option, connect, group_list, report_error
from .sdk import FacegridError


def _door_json(door: DoorInfo) -> dict:
    return {"name": door.name, "groups": door.groups, "hours": door.hours, "timezone": door.timezone or "UTC",
            "fallback": door.fallback, "updated_at": door.updated_at, "last_seen_at": door.last_seen_at}


def _door_line(door: DoorInfo) -> str:
    seen = datetime.fromtimestamp(door.last_seen_at).isoformat(timespec="seconds") if door.last_seen_at else "never"
    return (f"{door.name:20s} groups {','.join(door.groups) or '(nobody)'}; hours {door.hours or 'always'} "
            f"({door.timezone or 'UTC'}); fallback {door.fallback or '-'}; last seen {seen}")


def cmd_doors_set(args) -> int:
    """`facegrid doors set`: create or replace a door's rule."""
    try:
        with connect(args) as client:
            door = client.set_door(args.name, group_list(args.groups or ""), args.hours or "", args.tz or "", args.fallback or "")
    except FacegridError as error:
        return report_error(args, error)
    print(json.dumps(_door_json(door)) if args.json else _door_line(door))
    return 0


def cmd_doors_list(args) -> int:
    """`facegrid doors list`: print every door's rule."""
    try:
        with connect(args) as client:
            doors = client.doors()
    except FacegridError as error:
        return report_error(args, error)
    if args.json:
        print(json.dumps({"doors": [_door_json(d) for d in doors]}))
        return 0
    for door in doors:
        print(_door_line(door))
    print(f"{len(doors)} doors" + ("" if doors else " (every door admits every active subject until one has a rule)"))
    return 0


def cmd_doors_delete(args) -> int:
    """`facegrid doors delete`: remove a door's rule."""
    try:
        with connect(args) as client:
            door = client.delete_door(args.name)
    except FacegridError as error:
        return report_error(args, error)
    print(json.dumps(_door_json(door)) if args.json else f"door {door.name!r} deleted")
    return 0


def add_commands(commands) -> None:
    """`doors set|list|delete`."""
    doors = commands.add_parser("doors", help="door rules: which groups may pass, at which hours (scope admin)")
    actions = doors.add_subparsers(dest="doors_command", required=True)

    setting = actions.add_parser("set", help="create or replace a door's rule (what is not given is not kept)")
    setting.add_argument("name", help="the door's name, as its client sends it (a-z 0-9 . _ -)")
    setting.add_argument("--groups", metavar="A,B", help="groups that may pass (none given: nobody)")
    setting.add_argument("--hours", help='weekly hours, e.g. "Mon-Fri 06:00-22:00; Sat 08:00-18:00" (default: always)')
    setting.add_argument("--tz", help="the door's IANA time zone, e.g. Europe/Berlin (default: UTC)")
    setting.add_argument("--fallback", help='what a denied person is told, e.g. "card + PIN" or "call the desk"')
    add_server_option(setting)
    setting.set_defaults(run=cmd_doors_set)

    listing = actions.add_parser("list", help="every door's rule and when it was last seen")
    add_server_option(listing)
    listing.set_defaults(run=cmd_doors_list)

    deleting = actions.add_parser("delete", help="remove a door's rule (it then denies: UNKNOWN_DOOR, while others have rules)")
    deleting.add_argument("name")
    add_server_option(deleting)
    deleting.set_defaults(run=cmd_doors_delete)
