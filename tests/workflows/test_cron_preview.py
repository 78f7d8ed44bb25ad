"""Tests for the cron_preview management command (SPEC §11)."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def preview(*args: str) -> list[str]:
    """Run cron_preview and return its output lines."""
    out = StringIO()
    call_command("cron_preview", *args, stdout=out)
    return out.getvalue().splitlines()


def test_prints_the_next_fire_times_in_the_zone() -> None:
    lines = preview("0 30 2 * * ?", "--tz", "Europe/Berlin", "--after", "2031-03-29T12:00:00+01:00", "--count", "3")
    assert lines == ["2031-03-30T03:00:00+02:00", "2031-03-31T02:30:00+02:00", "2031-04-01T02:30:00+02:00"]


def test_default_count_is_five_and_zone_utc() -> None:
    lines = preview("0 0 12 ? * MON-FRI", "--after", "2031-05-16T13:00:00+00:00")
    assert lines == [
        "2031-05-19T12:00:00+00:00",
        "2031-05-20T12:00:00+00:00",
        "2031-05-21T12:00:00+00:00",
        "2031-05-22T12:00:00+00:00",
        "2031-05-23T12:00:00+00:00",
    ]


def test_naive_after_is_read_in_the_zone() -> None:
    lines = preview("0 0 9 * * ?", "--tz", "America/New_York", "--after", "2031-07-01T08:59:59", "--count", "1")
    assert lines == ["2031-07-01T09:00:00-04:00"]


def test_after_defaults_to_now() -> None:
    before = datetime.now(UTC)
    lines = preview("*/10 * * * * ?", "--count", "2")
    assert len(lines) == 2
    first, second = (datetime.fromisoformat(line) for line in lines)
    assert before < first < second


def test_stops_when_the_expression_runs_out() -> None:
    lines = preview("0 0 0 1 1 ? 2032-2033", "--after", "2031-06-01T00:00:00+00:00", "--count", "5")
    assert lines == ["2032-01-01T00:00:00+00:00", "2033-01-01T00:00:00+00:00"]


def test_invalid_expression_is_a_command_error() -> None:
    with pytest.raises(CommandError, match=r"^day-of-week: 8 is out of range 1-7$"):
        preview("0 0 12 ? * 8")


def test_unknown_zone_is_a_command_error() -> None:
    with pytest.raises(CommandError, match=r"^timezone: "):
        preview("0 0 12 * * ?", "--tz", "Nowhere/Special")


def test_no_fire_time_is_a_command_error() -> None:
    with pytest.raises(CommandError, match=r"^no fire time after 2031-01-01T00:00:00\+00:00$"):
        preview("0 0 12 * * ? 2020", "--after", "2031-01-01T00:00:00+00:00")


def test_bad_after_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="--after"):
        preview("0 0 12 * * ?", "--after", "next tuesday")


@pytest.mark.parametrize(
    ("after", "message"),
    [
        (
            "9999-12-31T23:59:59-05:00",
            "--after: must lie between the years 1 and 9999 in UTC, not '9999-12-31T23:59:59-05:00'",
        ),
        (
            "0001-01-01T00:00:00+05:00",
            "--after: must lie between the years 1 and 9999 in UTC, not '0001-01-01T00:00:00+05:00'",
        ),
    ],
)
def test_an_after_outside_the_representable_years_is_a_command_error(after: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        preview("0 0 12 * * ?", "--after", after)
    assert str(caught.value) == message


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "right/UTC"])
def test_a_zone_that_is_not_an_iana_name_is_a_command_error(zone: str) -> None:
    with pytest.raises(CommandError, match=r"^timezone: unknown time zone"):
        preview("0 0 12 * * ?", "--tz", zone)
