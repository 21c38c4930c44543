"""A door's weekly hours and rule as pure functions: parsing, time zones, past midnight, the order of the rule's checks."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from facegrid.server.domain.door_hours import BadHours, Interval, is_open, parse_hours, time_zone
from facegrid.server.domain.door_pass import PassReason, door_rule
from facegrid.server.store.doors import DoorRecord
from facegrid.server.store.subjects import SubjectRecord

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo = BERLIN) -> float:
    """Unix time of a wall-clock time in a zone, e.g. at('2026-01-05 07:30') (a Monday)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_parses_days_ranges_lists_and_several_ranges():
    assert parse_hours("") == [] and parse_hours("   ") == []  # always open
    with pytest.raises(BadHours):
        parse_hours(" ; ")  # something was meant
    weekdays = parse_hours("Mon-Fri 06:00-22:00; Sat 08:00-18:00")
    assert weekdays == [Interval(d, 360, 1320) for d in range(5)] + [Interval(5, 480, 1080)]
    assert parse_hours("sat,SUN 08:00-12:00 14:00-18:00") == [
        Interval(5, 480, 720), Interval(5, 840, 1080), Interval(6, 480, 720), Interval(6, 840, 1080)]
    assert [i.day for i in parse_hours("Sat-Mon 00:00-24:00")] == [5, 6, 0]  # a range of days may wrap


def test_a_range_past_midnight_runs_into_the_next_day():
    assert parse_hours("Fri 22:00-02:00") == [Interval(4, 1320, 1440), Interval(5, 0, 120)]
    assert parse_hours("Sun 23:00-01:00") == [Interval(6, 1380, 1440), Interval(0, 0, 60)]  # Sunday into Monday
    hours = parse_hours("Fri 22:00-02:00")
    assert is_open(hours, BERLIN, at("2026-01-09 23:30"))  # Friday night
    assert is_open(hours, BERLIN, at("2026-01-10 01:59"))  # Saturday, before two
    assert not is_open(hours, BERLIN, at("2026-01-10 02:00"))
    assert not is_open(hours, BERLIN, at("2026-01-09 21:59"))


@pytest.mark.parametrize("text, names", [
    ("Mon-Fro 06:00-22:00", "'Fro' is not a day"),
    ("Mon 25:00-26:00", "'25:00' is not a time"),
    ("Mon 06:00-06:61", "'06:61' is not a time"),
    ("Mon 24:00-06:00", "'24:00' is not a time"),  # 24:00 only ends a range
    ("Mon 0600-2200", "'0600' is not a time"),
    ("Mon 06:00", "'06:00' is not a time range"),
    ("Mon", "'Mon' needs days and a time range"),
    ("Mon 08:00-08:00", "is empty"),
    ("Mon-Fri 06:00-22:00, Sat 08:00-18:00", "'22:00,' is not a time"),  # parts are separated by ;
])
def test_bad_hours_name_the_part_at_fault(text, names):
    with pytest.raises(BadHours) as caught:
        parse_hours(text)
    assert names in str(caught.value)


def test_hours_hold_on_the_doors_wall_clock_in_summer_and_winter():
    hours = parse_hours("Mon-Fri 06:00-22:00; Sat 08:00-18:00")
    assert not is_open(hours, BERLIN, at("2026-01-05 05:59"))  # Monday, winter (UTC+1)
    assert is_open(hours, BERLIN, at("2026-01-05 06:00"))
    assert is_open(hours, BERLIN, at("2026-07-06 06:00"))  # Monday, summer (UTC+2): still 06:00 on the wall
    assert not is_open(hours, BERLIN, at("2026-07-06 22:00"))
    assert is_open(hours, BERLIN, at("2026-01-10 17:59")) and not is_open(hours, BERLIN, at("2026-01-10 18:00"))  # Saturday
    assert not is_open(hours, BERLIN, at("2026-01-11 12:00"))  # Sunday: closed
    # The same instant, another zone: 06:30 in Berlin is 00:30 in New York, when the door there is closed.
    assert not is_open(hours, ZoneInfo("America/New_York"), at("2026-01-05 06:30"))
    assert is_open([], BERLIN, at("2026-01-11 03:00"))  # no hours: always open


def test_time_zones_are_iana_names():
    assert time_zone("") == ZoneInfo("UTC") and time_zone("Europe/Berlin") == BERLIN
    for bad in ("Mars/Olympus", "../etc/passwd", "Europe/Berlin\x00", "Europe", "zone.tab", "a" * 5000, "/etc/localtime"):
        with pytest.raises(BadHours) as caught:
            time_zone(bad)
        assert "IANA" in str(caught.value)


def subject(groups=("athletes",), status="active", expires_at=0.0) -> SubjectRecord:
    return SubjectRecord("s1", 1, "S", 0.0, tuple(groups), status, expires_at)


def test_the_door_rule_in_its_order():
    gym = DoorRecord("gym", ("athletes", "staff"), "Mon-Fri 06:00-22:00", "Europe/Berlin", "card + PIN")
    monday_noon, sunday = at("2026-01-05 12:00"), at("2026-01-11 12:00")
    assert door_rule(subject(), gym, True, monday_noon)[0] is PassReason.ADMITTED
    assert door_rule(subject(("students",)), gym, True, monday_noon)[0] is PassReason.NOT_ALLOWED_HERE
    assert door_rule(subject(), gym, True, sunday)[0] is PassReason.OUTSIDE_HOURS
    assert door_rule(subject(), None, True, monday_noon)[0] is PassReason.UNKNOWN_DOOR
    assert door_rule(subject(()), None, False, sunday)[0] is PassReason.ADMITTED  # no door has a rule: all admit
    # The subject's own state comes first, at every door, configured or not.
    assert door_rule(subject(status="suspended"), gym, True, monday_noon)[0] is PassReason.SUSPENDED
    assert door_rule(subject(status="suspended"), None, False, monday_noon)[0] is PassReason.SUSPENDED
    assert door_rule(subject(status="frozen"), gym, True, monday_noon)[0] is PassReason.SUSPENDED  # unknown: fail closed
    assert door_rule(subject(expires_at=monday_noon), gym, True, monday_noon)[0] is PassReason.EXPIRED
    assert door_rule(subject(expires_at=monday_noon + 1), gym, True, monday_noon)[0] is PassReason.ADMITTED
    assert door_rule(subject(expires_at=monday_noon), None, False, sunday)[0] is PassReason.EXPIRED
    nobody = DoorRecord("closet", (), "", "")
    assert door_rule(subject(), nobody, True, monday_noon)[0] is PassReason.NOT_ALLOWED_HERE  # no groups: nobody
