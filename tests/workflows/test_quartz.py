"""Tests for the Quartz cron evaluator (SPEC §5): grammar, fire times, DST rule, Quartz oracle."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.quartz import InvalidCronExpression, QuartzCron, load_zone, parse_start

# Fire times computed by real Quartz 2.3.2 (with SPEC §5's DST rule applied where a DST change is involved).
ORACLE = Path(__file__).resolve().parent / "data" / "quartz_sample.jsonl"


def iso_list(cron: QuartzCron, after: str, count: int) -> list[str]:
    """Return the next count fire times after an ISO instant, as ISO strings."""
    return [t.isoformat() for t in cron.next_fire_times(datetime.fromisoformat(after), count)]


# --------------------------------------------------------------------------- valid expressions

VALID = [
    # (expression, zone, after, expected fire times)
    ("0 0 12 * * ?", "UTC", "2031-05-17T09:00:00+00:00", ["2031-05-17T12:00:00+00:00", "2031-05-18T12:00:00+00:00"]),
    ("*/20 * * * * ?", "UTC", "2031-05-17T09:59:50+00:00", ["2031-05-17T10:00:00+00:00", "2031-05-17T10:00:20+00:00"]),
    ("0 0 0 29 2 ?", "UTC", "2031-01-01T00:00:00+00:00", ["2032-02-29T00:00:00+00:00", "2036-02-29T00:00:00+00:00"]),
    ("0 15 10 L * ?", "UTC", "2031-01-31T10:15:00+00:00", ["2031-02-28T10:15:00+00:00", "2031-03-31T10:15:00+00:00"]),
    ("0 0 12 L-3 * ?", "UTC", "2032-02-01T00:00:00+00:00", ["2032-02-26T12:00:00+00:00", "2032-03-28T12:00:00+00:00"]),
    ("0 0 12 L-3 * ?", "UTC", "2031-02-01T00:00:00+00:00", ["2031-02-25T12:00:00+00:00"]),
    # 15 Nov 2031 is a Saturday -> Friday 14th; 15 Dec 2031 is a Monday
    ("0 0 12 15W * ?", "UTC", "2031-11-01T00:00:00+00:00", ["2031-11-14T12:00:00+00:00", "2031-12-15T12:00:00+00:00"]),
    # 1 Mar 2031 is a Saturday -> Monday 3rd (never back into February); 1 Jun 2031 a Sunday -> 2nd
    ("0 0 12 1W * ?", "UTC", "2031-02-15T00:00:00+00:00", ["2031-03-03T12:00:00+00:00", "2031-04-01T12:00:00+00:00"]),
    ("0 0 12 1W 6 ?", "UTC", "2031-01-01T00:00:00+00:00", ["2031-06-02T12:00:00+00:00"]),
    # 31 Aug 2031 is a Sunday and the month's last day -> Friday 29th
    ("0 0 12 31W 8 ?", "UTC", "2031-01-01T00:00:00+00:00", ["2031-08-29T12:00:00+00:00"]),
    # last weekday: 31 May 2031 is a Saturday -> 30th
    ("0 0 12 LW * ?", "UTC", "2031-05-01T00:00:00+00:00", ["2031-05-30T12:00:00+00:00", "2031-06-30T12:00:00+00:00"]),
    ("0 0 12 ? * 6L", "UTC", "2031-08-01T00:00:00+00:00", ["2031-08-29T12:00:00+00:00", "2031-09-26T12:00:00+00:00"]),
    # fifth Monday: 2031 has one in March and June only (first half)
    ("0 0 12 ? * 2#5", "UTC", "2031-01-01T00:00:00+00:00", ["2031-03-31T12:00:00+00:00", "2031-06-30T12:00:00+00:00"]),
    (
        "0 0 12 ? * MON#5",
        "UTC",
        "2031-01-01T00:00:00+00:00",
        ["2031-03-31T12:00:00+00:00", "2031-06-30T12:00:00+00:00"],
    ),
    ("0 0 12 ? * 1#1", "UTC", "2031-05-05T00:00:00+00:00", ["2031-06-01T12:00:00+00:00", "2031-07-06T12:00:00+00:00"]),
    ("0 0 12 ? * L", "UTC", "2031-05-15T00:00:00+00:00", ["2031-05-17T12:00:00+00:00", "2031-05-24T12:00:00+00:00"]),
    # year field, ranges with steps, exhaustion
    ("0 0 0 1 1 ? 2033", "UTC", "2031-05-17T00:00:00+00:00", ["2033-01-01T00:00:00+00:00"]),
    (
        "0 0 0 1 1 ? 2031-2037/3",
        "UTC",
        "2030-05-17T00:00:00+00:00",
        ["2031-01-01T00:00:00+00:00", "2034-01-01T00:00:00+00:00", "2037-01-01T00:00:00+00:00"],
    ),
    ("0 0 0 1 1 ? 2020", "UTC", "2031-05-17T00:00:00+00:00", []),
    ("0 0 12 30 2 ?", "UTC", "2031-05-17T00:00:00+00:00", []),
    # wrapping ranges
    (
        "0 0 22-1 * * ?",
        "UTC",
        "2031-05-17T21:30:00+00:00",
        [
            "2031-05-17T22:00:00+00:00",
            "2031-05-17T23:00:00+00:00",
            "2031-05-18T00:00:00+00:00",
            "2031-05-18T01:00:00+00:00",
            "2031-05-18T22:00:00+00:00",
        ],
    ),
    (
        "0 58-1 9 * * ?",
        "UTC",
        "2031-05-17T09:00:30+00:00",
        [
            "2031-05-17T09:01:00+00:00",
            "2031-05-17T09:58:00+00:00",
            "2031-05-17T09:59:00+00:00",
            "2031-05-18T09:00:00+00:00",
        ],
    ),
    (
        "0 0 12 1 NOV-FEB ?",
        "UTC",
        "2031-12-15T00:00:00+00:00",
        ["2032-01-01T12:00:00+00:00", "2032-02-01T12:00:00+00:00", "2032-11-01T12:00:00+00:00"],
    ),
    (
        "0 0 12 ? * SAT-MON",
        "UTC",
        "2031-05-14T00:00:00+00:00",
        [
            "2031-05-17T12:00:00+00:00",
            "2031-05-18T12:00:00+00:00",
            "2031-05-19T12:00:00+00:00",
            "2031-05-24T12:00:00+00:00",
        ],
    ),
    (
        "0 0 12 30-2 * ?",
        "UTC",
        "2031-04-15T00:00:00+00:00",
        [
            "2031-04-30T12:00:00+00:00",
            "2031-05-01T12:00:00+00:00",
            "2031-05-02T12:00:00+00:00",
            "2031-05-30T12:00:00+00:00",
        ],
    ),
    # names in any case
    (
        "0 0 8 ? jAn,JuL sAt",
        "UTC",
        "2031-07-20T00:00:00+00:00",
        ["2031-07-26T08:00:00+00:00", "2032-01-03T08:00:00+00:00"],
    ),
    (
        "0 0 8 ? * mon-wed",
        "UTC",
        "2031-05-17T00:00:00+00:00",
        [
            "2031-05-19T08:00:00+00:00",
            "2031-05-20T08:00:00+00:00",
            "2031-05-21T08:00:00+00:00",
            "2031-05-26T08:00:00+00:00",
        ],
    ),
    # lists, steps, tabs
    (
        "0 0 6 1,15,20-21 * ?",
        "UTC",
        "2031-01-02T00:00:00+00:00",
        [
            "2031-01-15T06:00:00+00:00",
            "2031-01-20T06:00:00+00:00",
            "2031-01-21T06:00:00+00:00",
            "2031-02-01T06:00:00+00:00",
        ],
    ),
    ("0 0/7 * * * ?", "UTC", "2031-05-17T09:50:00+00:00", ["2031-05-17T09:56:00+00:00", "2031-05-17T10:00:00+00:00"]),
    (
        "0\t0\t12\t?\t*\tWED",
        "UTC",
        "2031-01-01T00:00:00+00:00",
        ["2031-01-01T12:00:00+00:00", "2031-01-08T12:00:00+00:00"],
    ),
    # start given in another offset; answers carry the zone's offset
    ("0 0 12 ? * TUE", "Australia/Lord_Howe", "2031-06-30T23:30:00+00:00", ["2031-07-01T12:00:00+10:30"]),
    # Quartz quirks kept on purpose: a step after a name is ignored, trailing characters are ignored
    (
        "0 0 12 ? * MON-FRI/2",
        "UTC",
        "2031-01-01T00:00:00+00:00",
        ["2031-01-01T12:00:00+00:00", "2031-01-02T12:00:00+00:00"],
    ),
    ("0 0 12 ? * MONDAY", "UTC", "2031-01-01T00:00:00+00:00", ["2031-01-06T12:00:00+00:00"]),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), VALID)
def test_valid_expressions(expression: str, zone: str, after: str, expected: list[str]) -> None:
    assert iso_list(QuartzCron(expression, zone), after, len(expected)) == expected


@pytest.mark.parametrize(
    "expression",
    ["0 0 0 1 1 ? 2020", "0 0 12 30 2 ?", "0 0 12 31 4,6,9,11 ?", "0 0 0 1 1 ? 2030"],
)
def test_no_fire_time_is_none(expression: str) -> None:
    assert QuartzCron(expression).next_after(datetime(2031, 1, 1, tzinfo=UTC)) is None


# --------------------------------------------------------------------------- invalid expressions

INVALID = [
    ("60 * * * * ?", "seconds"),
    ("0/60 * * * * ?", "seconds"),
    ("? * * * * ?", "seconds"),
    ("٣ 0 12 ? * 1", "seconds"),  # Arabic-Indic three: not a digit for Quartz
    ("0 60 * * * ?", "minutes"),
    ("0 ０ 12 ? * 1", "minutes"),  # fullwidth zero
    ("0 0 24 * * ?", "hours"),
    ("0 0 JAN * * ?", "hours"),
    ("0 0 ² * * ?", "hours"),  # superscript two
    ("0 0 12 32 * ?", "day-of-month"),
    ("0 0 12 0 * ?", "day-of-month"),
    ("0 0 12 L-31 * ?", "day-of-month"),
    ("0 0 12 32W * ?", "day-of-month"),
    ("0 0 12 5L * ?", "day-of-month"),
    ("0 0 12 L,5 * ?", "day-of-month"),
    ("0 0 12 L- * ?", "day-of-month"),
    ("0 0 12 MON * ?", "day-of-month"),
    ("0 0 12 ? 13 *", "month"),
    ("0 0 12 ? 0 *", "month"),
    ("0 0 12 ? FOO *", "month"),
    ("0 0 12 ? */13 *", "month"),
    ("0 12 * * ?", "month"),  # five fields: '?' lands in the month
    ("0 0 12 ? * 8", "day-of-week"),
    ("0 0 12 ? * 0", "day-of-week"),
    ("0 0 12 ? * FOO", "day-of-week"),
    ("0 0 12 ? * MON-FR", "day-of-week"),
    ("0 0 12 ? * 6#6", "day-of-week"),
    ("0 0 12 ? * 6#0", "day-of-week"),
    ("0 0 12 ? * 6#5,2#1", "day-of-week"),
    ("0 0 0 ? * 0#1", "day-of-week"),  # Quartz stores 0 unchecked and fires on Saturdays; see the module docstring
    ("0 0 0 ? * 8#1", "day-of-week"),  # Quartz stores 8 unchecked and never fires
    ("0 0 12 ? * 5L,6", "day-of-week"),
    ("0 0 12 ? * 8L", "day-of-week"),
    ("0 0 12 ? * 5W", "day-of-week"),
    ("0 0 12 ? * ٣", "day-of-week"),
    ("0 0 12 ? *", "day-of-week"),  # unexpected end of expression
    ("0 0 12 * * MON", "day-of-week"),  # both day fields
    ("0 0 12 * * *", "day-of-week"),
    ("0 0 12 ? * ?", "day-of-week"),
    ("0 0 0 1 1 ? 2030-2020", "year"),
    ("", "seconds"),
    ("0 0", "hours"),
]


@pytest.mark.parametrize(("expression", "field"), INVALID)
def test_invalid_expressions_name_the_field(expression: str, field: str) -> None:
    with pytest.raises(InvalidCronExpression) as info:
        QuartzCron(expression)
    assert str(info.value).startswith(f"{field}:"), str(info.value)
    assert isinstance(info.value, ValueError)


def test_out_of_range_message() -> None:
    with pytest.raises(InvalidCronExpression, match=r"^day-of-week: 8 is out of range 1-7$"):
        QuartzCron("0 0 12 ? * 8")


def test_unknown_time_zone() -> None:
    with pytest.raises(InvalidCronExpression, match=r"^timezone: "):
        QuartzCron("0 0 12 * * ?", "Mars/Olympus_Mons")


def test_a_day_of_week_before_hash_outside_1_to_7_is_refused() -> None:
    with pytest.raises(
        InvalidCronExpression, match=r"^day-of-week: 0 is out of range 1-7 \(the day before '#' in '0#1'\)$"
    ):
        QuartzCron("0 0 0 ? * 0#1")
    assert QuartzCron("0 0 0 ? * 7#1").next_after(datetime(2031, 1, 1, tzinfo=UTC)) == datetime(2031, 1, 4, tzinfo=UTC)


@pytest.mark.parametrize("name", ["localtime", "posixrules", "right/UTC", "posix/Europe/Berlin", "/etc/localtime"])
def test_a_file_that_is_not_an_iana_zone_is_refused(name: str) -> None:
    with pytest.raises(
        InvalidCronExpression, match=r"^timezone: unknown time zone .* \(an IANA name such as Europe/Berlin\)$"
    ):
        load_zone(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2031-01-01T12:00:00", "2031-01-01T12:00:00-05:00"),  # naive: wall time in the zone
        ("2031-01-01T12:00:00+00:00", "2031-01-01T07:00:00-05:00"),
    ],
)
def test_a_start_is_read_in_the_zone(text: str, expected: str) -> None:
    assert parse_start(text, ZoneInfo("America/New_York")).isoformat() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("next tuesday", "must be an ISO-8601 date-time, not 'next tuesday'"),
        (
            "9999-12-31T23:59:59-05:00",
            "must lie between the years 1 and 9999 in UTC, not '9999-12-31T23:59:59-05:00'",
        ),
        (
            "0001-01-01T00:00:00+05:00",
            "must lie between the years 1 and 9999 in UTC, not '0001-01-01T00:00:00+05:00'",
        ),
    ],
)
def test_a_start_outside_what_a_datetime_holds_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_start(text, ZoneInfo("UTC"))
    assert str(info.value) == message


def test_a_start_that_leaves_the_range_only_in_its_zone_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^must lie between the years 1 and 9999 in UTC and in Asia/Tokyo, not"):
        parse_start("9999-12-31T23:00:00+00:00", ZoneInfo("Asia/Tokyo"))


def test_naive_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        QuartzCron("0 0 12 * * ?").next_after(datetime(2031, 1, 1))


def test_attributes_and_exclusive_start() -> None:
    cron = QuartzCron("0 0 12 * * ?", "Europe/Berlin")
    assert (cron.expression, cron.timezone) == ("0 0 12 * * ?", "Europe/Berlin")
    noon = datetime(2031, 5, 17, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    assert cron.next_after(noon) == noon + timedelta(days=1)
    assert cron.next_after(noon - timedelta(microseconds=1)) == noon
    assert QuartzCron("* * * * * ?").next_after(noon + timedelta(microseconds=500)) == noon + timedelta(seconds=1)


QUIRKS = [
    # (expression, same-as expression): Quartz 2.3.2 parser quirks, checked against a compiled copy of its source
    ("5X * * * * ?", "5 * * * * ?"),  # trailing characters after a number are ignored
    ("99 0 12 * * ?", "* 0 12 * * ?"),  # 99 is Quartz's internal marker for '*'
    ("0 0 12 5 * 98", "0 0 12 5 * ?"),  # 98 is its marker for '?'
    ("0 0 12 5,? * MON", "0 0 12 ? * MON"),  # '?' in a list still counts as '?'
    ("*/0 0 12 * * ?", "* 0 12 * * ?"),
    ("/15 0 12 * * ?", "*/15 0 12 * * ?"),
    ("0 0 12 1W,15 * ?", "0 0 12 1W * ?"),  # W uses the smallest day of the list
    ("0 0 12 ? * 3,2#1", "0 0 12 ? * 2#1"),  # '#' uses the smallest day of the list
    ("0 0 12 ? * LW", "0 0 12 ? * 7"),  # L alone (whatever follows) in day-of-week is Saturday
    ("0 0 12 ? JAN-MAR/2 *", "0 0 12 ? 1-3 *"),  # a step after a name is ignored
    ("0 0 12 * * ? 2031 extra fields", "0 0 12 * * ? 2031"),  # fields past the seventh are ignored
]


@pytest.mark.parametrize(("expression", "same_as"), QUIRKS)
def test_quartz_parser_quirks(expression: str, same_as: str) -> None:
    start = datetime(2031, 1, 1, tzinfo=UTC)
    assert QuartzCron(expression).next_fire_times(start, 4) == QuartzCron(same_as).next_fire_times(start, 4)


@pytest.mark.parametrize("expression", ["0 0 12 0W * ?", "0 0 12 L-30W * ?"])
def test_expressions_quartz_never_finishes_are_rejected(expression: str) -> None:
    with pytest.raises(InvalidCronExpression, match=r"^day-of-month: "):
        QuartzCron(expression)


# --------------------------------------------------------------------------- daylight saving (SPEC §5)

DST = [
    # New York spring forward 2031-03-09 02:00 -05:00 -> 03:00 -04:00: 02:30 fires once at 03:00 -04:00
    (
        "0 30 2 * * ?",
        "America/New_York",
        "2031-03-08T12:00:00-05:00",
        ["2031-03-09T03:00:00-04:00", "2031-03-10T02:30:00-04:00"],
    ),
    # several matching wall times inside the gap are one fire; 03:00 itself is that same fire
    (
        "0 */20 * * * ?",
        "America/New_York",
        "2031-03-09T01:30:00-05:00",
        ["2031-03-09T01:40:00-05:00", "2031-03-09T03:00:00-04:00", "2031-03-09T03:20:00-04:00"],
    ),
    # New York fall back 2031-11-02 02:00 -04:00 -> 01:00 -05:00: 01:30 fires once, first occurrence
    (
        "0 30 1 * * ?",
        "America/New_York",
        "2031-11-01T12:00:00-04:00",
        ["2031-11-02T01:30:00-04:00", "2031-11-03T01:30:00-05:00"],
    ),
    (
        "0 */30 * * * ?",
        "America/New_York",
        "2031-11-02T00:45:00-04:00",
        ["2031-11-02T01:00:00-04:00", "2031-11-02T01:30:00-04:00", "2031-11-02T02:00:00-05:00"],
    ),
    # starting inside the second pass: its wall times already fired
    ("0 * * * * ?", "America/New_York", "2031-11-02T01:10:00-05:00", ["2031-11-02T02:00:00-05:00"]),
    # Berlin spring forward 2031-03-30 02:00 +01:00 -> 03:00 +02:00
    (
        "0 30 2 * * ?",
        "Europe/Berlin",
        "2031-03-29T12:00:00+01:00",
        ["2031-03-30T03:00:00+02:00", "2031-03-31T02:30:00+02:00"],
    ),
    (
        "* * * * * ?",
        "Europe/Berlin",
        "2031-03-30T01:59:59+01:00",
        ["2031-03-30T03:00:00+02:00", "2031-03-30T03:00:01+02:00"],
    ),
    # Berlin fall back 2031-10-26 03:00 +02:00 -> 02:00 +01:00
    (
        "0 30 2 * * ?",
        "Europe/Berlin",
        "2031-10-25T12:00:00+02:00",
        ["2031-10-26T02:30:00+02:00", "2031-10-27T02:30:00+01:00"],
    ),
    (
        "0 0 * * * ?",
        "Europe/Berlin",
        "2031-10-26T01:30:00+02:00",
        ["2031-10-26T02:00:00+02:00", "2031-10-26T03:00:00+01:00"],
    ),
    ("59 59 2 * * ?", "Europe/Berlin", "2031-10-26T02:59:59+02:00", ["2031-10-27T02:59:59+01:00"]),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), DST)
def test_dst_rule(expression: str, zone: str, after: str, expected: list[str]) -> None:
    assert iso_list(QuartzCron(expression, zone), after, len(expected)) == expected


def test_gap_fire_carries_the_right_offset() -> None:
    fire = QuartzCron("0 30 2 * * ?", "Europe/Berlin").next_after(datetime(2031, 3, 29, 12, tzinfo=UTC))
    assert fire is not None
    assert fire.isoformat() == "2031-03-30T03:00:00+02:00"
    assert fire.astimezone(UTC) == datetime(2031, 3, 30, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- the Quartz oracle sample


def test_oracle_sample_agrees() -> None:
    cases = [json.loads(line) for line in ORACLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert cases, f"{ORACLE} is empty"
    problems = [problem for case in cases if case.get("strict", True) and (problem := oracle_problem(case))]
    assert not problems, "\n".join(problems)


def oracle_problem(case: dict) -> str:
    """Return why the module disagrees with one oracle case, or ''."""
    label = f"{case['id']} {case['expr']!r} {case['tz']}"
    try:
        cron = QuartzCron(case["expr"], case["tz"])
    except InvalidCronExpression as exc:
        return "" if case.get("invalid") or "quartz_failure" in case else f"{label}: rejected ({exc})"
    if case.get("invalid") or "quartz_failure" in case:
        return f"{label}: accepted, Quartz rejects it"
    want = case["expected"]
    current = datetime.fromisoformat(case["after"])
    for i in range(len(want) + (1 if case.get("exhausted") else 0)):
        got = cron.next_after(current)
        if i == len(want):
            return "" if got is None else f"{label}: extra fire {got.isoformat()}"
        if got is None or got.isoformat() != datetime.fromisoformat(want[i]).isoformat():
            return f"{label}: fire #{i + 1} got {got and got.isoformat()}, want {want[i]}"
        current = got
    return ""


# --------------------------------------------------------------------------- properties against brute force

LIMITS = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (1, 7)]


@st.composite
def field_spec(draw: st.DrawFn, lo: int, hi: int) -> str:
    """Draw a simple field: *, a value, a range (maybe wrapping), a step, or a short list."""

    def part() -> str:
        kind = draw(st.sampled_from(["value", "range", "step", "range-step", "all-step"]))
        a = draw(st.integers(lo, hi))
        b = draw(st.integers(lo, hi))
        n = draw(st.integers(1, hi - lo))
        if kind == "value":
            return str(a)
        if kind == "range":
            return f"{a}-{b}"
        if kind == "step":
            return f"{a}/{n}"
        if kind == "range-step":
            return f"{min(a, b)}-{max(a, b)}/{n}"
        return f"*/{n}"

    if draw(st.booleans()):
        return "*" if draw(st.booleans()) else part()
    return ",".join(part() for _ in range(draw(st.integers(1, 3))))


def expand(spec: str, lo: int, hi: int) -> set[int]:
    """Return the values a simple field spec selects (independent of the module)."""
    values: set[int] = set()
    for part in spec.split(","):
        if part in ("*", "?"):
            values |= set(range(lo, hi + 1))
        elif "/" in part:
            base, step = part.split("/")
            a, b = (lo, hi) if base == "*" else (tuple(map(int, base.split("-"))) if "-" in base else (int(base), hi))
            values |= set(range(a, b + 1, int(step)))
        elif "-" in part:
            a, b = map(int, part.split("-"))
            values |= set(range(a, b + 1)) if a <= b else set(range(a, hi + 1)) | set(range(lo, b + 1))
        else:
            values.add(int(part))
    return values


@st.composite
def simple_expression(draw: st.DrawFn) -> tuple[str, list[set[int]]]:
    """Draw a Quartz expression without L, W or # plus the value sets it means."""
    specs = [draw(field_spec(lo, hi)) for lo, hi in LIMITS]
    if draw(st.booleans()):
        specs[3] = "?"
    else:
        specs[5] = "?"
    sets = [expand(spec, lo, hi) for spec, (lo, hi) in zip(specs, LIMITS, strict=True)]
    return " ".join(specs), sets


def matches(sets: list[set[int]], wall: datetime) -> bool:
    """Tell whether a wall time satisfies every field."""
    return wall.second in sets[0] and wall.minute in sets[1] and day_matches(sets, wall.date()) and wall.hour in sets[2]


def day_matches(sets: list[set[int]], day: date) -> bool:
    """Tell whether a date satisfies day-of-month, month and day-of-week."""
    return day.day in sets[3] and day.month in sets[4] and day.isoweekday() % 7 + 1 in sets[5]


def brute_next(sets: list[set[int]], start: datetime, days: int) -> datetime | None:
    """Return the first matching wall time after start within days, scanning every day and time."""
    for offset in range(days):
        day = start.date() + timedelta(days=offset)
        if not day_matches(sets, day):
            continue
        for h in sorted(sets[2]):
            for m in sorted(sets[1]):
                for s in sorted(sets[0]):
                    wall = datetime(day.year, day.month, day.day, h, m, s)
                    if wall > start:
                        return wall
    return None


starts = st.datetimes(min_value=datetime(2030, 1, 1), max_value=datetime(2034, 12, 31))
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(simple_expression(), starts)
def test_next_after_equals_brute_force(drawn: tuple[str, list[set[int]]], start: datetime) -> None:
    expression, sets = drawn
    start = start.replace(microsecond=0)
    got = QuartzCron(expression).next_after(start.replace(tzinfo=UTC))
    want = brute_next(sets, start, 800)
    if want is None:
        assert got is None or got.replace(tzinfo=None) >= start + timedelta(days=799), expression
    else:
        assert got is not None and got.replace(tzinfo=None) == want, expression


@FAST
@given(simple_expression(), starts)
def test_fire_times_increase_and_match(drawn: tuple[str, list[set[int]]], start: datetime) -> None:
    expression, sets = drawn
    times = QuartzCron(expression).next_fire_times(start.replace(tzinfo=UTC), 6)
    for earlier, later in itertools.pairwise(times):
        assert earlier < later
    for fire in times:
        assert fire.utcoffset() == timedelta(0)
        assert matches(sets, fire.replace(tzinfo=None)), (expression, fire)


TRANSITIONS = [
    ("America/New_York", datetime(2031, 3, 9, 2)),
    ("America/New_York", datetime(2031, 11, 2, 1)),
    ("Europe/Berlin", datetime(2031, 3, 30, 2)),
    ("Europe/Berlin", datetime(2031, 10, 26, 2)),
    ("Australia/Lord_Howe", datetime(2031, 10, 5, 2)),
    ("Australia/Lord_Howe", datetime(2031, 4, 6, 1, 30)),
]


@FAST
@given(
    st.sampled_from(TRANSITIONS),
    st.integers(-180, 120),
    field_spec(0, 59),
    field_spec(0, 23),
)
def test_dst_never_loses_never_doubles(transition: tuple[str, datetime], shift: int, minutes: str, hours: str) -> None:
    zone_name, moment = transition
    zone = ZoneInfo(zone_name)
    sets = [{0}, expand(minutes, 0, 59), expand(hours, 0, 23), *(set(range(lo, hi + 1)) for lo, hi in LIMITS[3:])]
    start = (moment + timedelta(minutes=shift)).replace(tzinfo=zone).astimezone(UTC)
    times = QuartzCron(f"0 {minutes} {hours} * * ?", zone_name).next_fire_times(start, 8)
    assert times, "every-day expression must fire"
    walls = [t.replace(tzinfo=None) for t in times]
    assert walls == sorted(set(walls)), "a wall-clock fire was doubled"
    for earlier, later in itertools.pairwise(times):
        assert earlier.astimezone(UTC) < later.astimezone(UTC)
    expected = expected_fires(sets, start, times[-1], zone)
    assert [t.astimezone(UTC) for t in times] == expected


def expected_fires(sets: list[set[int]], start: datetime, last: datetime, zone: ZoneInfo) -> list[datetime]:
    """Map every matching wall minute to its SPEC §5 instant and keep those in (start, last]."""
    first_wall = start.astimezone(zone).replace(tzinfo=None, second=0) - timedelta(hours=3)
    instants: set[datetime] = set()
    wall = first_wall
    while wall <= last.replace(tzinfo=None) + timedelta(hours=3):
        if matches(sets, wall):
            instants.add(spec_instant(wall, zone))
        wall += timedelta(minutes=1)
    return sorted(t for t in instants if start < t <= last.astimezone(UTC))


def spec_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant at which a matching wall time fires under SPEC §5."""
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists (fold=0 is the first pass of a repeated time)
    moment = wall.replace(tzinfo=zone, fold=1).astimezone(UTC) - timedelta(hours=3)
    while moment.astimezone(zone).replace(tzinfo=None) <= wall:
        moment += timedelta(minutes=1)
    return moment  # first instant after the gap
