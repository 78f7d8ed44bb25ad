"""Quartz 2.3.2 cron expressions: parse exactly as ``org.quartz.CronExpression`` does, find fire times.

Parsing mirrors Quartz's ``buildExpression``/``storeExpressionVals``/``checkNext``/``addToSet`` rule
for rule, quirks included (trailing characters after a value are ignored, a step after a name
is ignored, ``98`` means ``?`` and ``99`` means ``*``, ...). Anything Quartz rejects, or on which
Quartz's ``getTimeAfter`` would fail or never terminate, raises :class:`InvalidCronExpression`.

``n#k`` needs a day-of-week ``n`` of 1-7 (and ``k`` of 1-5), as Quartz 2.3.2 answers when run:
``0#1`` and ``8#1`` are refused (older ``checkNext`` sources store ``n`` unchecked, so ``0#1``
would fire on Saturdays and ``8#1`` never).

Time zones are IANA names (``load_zone``): the list the tzdata package ships, the same on
every machine, never a file that only exists on this one (``localtime``, ``posixrules``).

Fire times follow Quartz's ``getTimeAfter`` walk on the zone's wall clock, field by field.
Daylight saving follows SPEC §5, not Quartz: a matching wall time inside a spring-forward gap
fires once, at the first instant after the gap; a wall time that occurs twice fires once, at
its first (fold=0) occurrence. No Django here.
"""

from __future__ import annotations

import bisect
import functools
import unicodedata
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from baton.errors import Invalid
from baton.text import _, message_of

__all__ = ["InvalidCronExpression", "QuartzCron", "load_zone", "parse_start"]

SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR = range(7)
FIELD_NAMES = (_("seconds"), _("minutes"), _("hours"), _("day-of-month"), _("month"), _("day-of-week"), _("year"))
ALL_SPEC = 99  # Quartz's marker for '*'
NO_SPEC = 98  # Quartz's marker for '?'
# Quartz 2.3.2: MAX_YEAR = Calendar.getInstance().get(Calendar.YEAR) + 100 (end of '*' and 'a/n' years).
QUARTZ_MAX_YEAR = date.today().year + 100
LAST_YEAR = 2999  # getTimeAfter gives up beyond this year
HORIZON_YEARS = 100  # next_after searches at most this many years past the start's year
MAX_STEPS = 200_000  # guard against Quartz's own non-terminating walks

MONTHS = {
    n: i + 1 for i, n in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
}
DAYS = {n: i + 1 for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_SUN, _SAT = 1, 7
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))
_INT_MAX = 2**31 - 1
_RANGES = {SECOND: (0, 59), MINUTE: (0, 59), HOUR: (0, 23), DAY_OF_MONTH: (1, 31), MONTH: (1, 12), DAY_OF_WEEK: (1, 7)}
_MAX_INCREMENT = {SECOND: 59, MINUTE: 59, HOUR: 23, DAY_OF_MONTH: 31, MONTH: 12, DAY_OF_WEEK: 7}
_WRAP = {SECOND: 60, MINUTE: 60, HOUR: 24, MONTH: 12, DAY_OF_WEEK: 7, DAY_OF_MONTH: 31}
_ONE_SECOND = timedelta(seconds=1)


class InvalidCronExpression(Invalid):
    """Signal an expression (or time zone) that Quartz 2.3.2 would not accept."""

    def field_errors(self) -> list[dict[str, Any]]:
        return [{"field": "expression", "message": self.message}]


class _Malformed(Exception):
    """Stand in for the Java runtime exceptions Quartz turns into a ParseException."""


def _is_digit(c: str) -> bool:
    """Tell whether c is an ASCII digit, the only kind Quartz's character tests accept."""
    return "0" <= c <= "9"


def _char_at(s: str, i: int) -> str:
    """Return s[i] like Java's charAt, failing past the end."""
    if i < 0 or i >= len(s):
        raise _Malformed(_("unexpected end of %(s)r", s=s))
    return s[i]


def _java_int(text: str) -> int:
    """Parse text the way java.lang.Integer.parseInt does (sign, any Unicode decimal digit)."""
    body, sign = text, 1
    if len(text) > 1 and text[0] in "+-":
        body, sign = text[1:], (-1 if text[0] == "-" else 1)
    if not body:
        raise _Malformed(_("not a number: %(text)r", text=text))
    value = 0
    for ch in body:
        digit = unicodedata.decimal(ch, None)
        if digit is None:
            raise _Malformed(_("not a number: %(text)r", text=text))
        value = value * 10 + digit
    value *= sign
    if not -(2**31) <= value <= _INT_MAX:
        raise _Malformed(_("number out of range: %(text)r", text=text))
    return value


def _get_value(v: int, s: str, i: int) -> tuple[int, int]:
    """Append the ASCII digits of s from i to v; return (value, position) like Quartz's getValue."""
    digits = str(v)
    n = len(s)
    while i < n and _is_digit(s[i]):
        digits += s[i]
        i += 1
    value = int(digits)
    if value > _INT_MAX:
        raise _Malformed(_("number out of range: %(digits)s", digits=digits))
    return value, (i if i < n else i + 1)


def _is_leap(year: int) -> bool:
    """Tell whether year is a Gregorian leap year."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _last_day(month: int, year: int) -> int:
    """Return the number of days of month (1-12) in year."""
    return 29 if month == 2 and _is_leap(year) else _MONTH_DAYS[month - 1]


def _norm(y: int, mo: int, d: int, h: int, mi: int, s: int) -> tuple[int, int, int, int, int, int]:
    """Normalise out-of-range calendar fields the way a lenient java.util.Calendar does."""
    if 0 <= s < 60 and 0 <= mi < 60 and 0 <= h < 24 and 1 <= mo <= 12 and 1 <= d <= 28:
        return y, mo, d, h, mi, s
    mi += s // 60
    s %= 60
    h += mi // 60
    mi %= 60
    d += h // 24
    h %= 24
    y += (mo - 1) // 12
    mo = (mo - 1) % 12 + 1
    if 1 <= d <= 28 or (1 <= d <= _last_day(mo, y)):
        return y, mo, d, h, mi, s
    day = date.fromordinal(date(y, mo, 1).toordinal() + d - 1)
    return day.year, day.month, day.day, h, mi, s


def _set_hour(y: int, mo: int, d: int, hour: int, mi: int, s: int) -> tuple[int, int, int, int, int, int]:
    """Set the hour like Quartz's setCalendarHour (which adds an hour when the result is not that hour)."""
    state = _norm(y, mo, d, hour, mi, s)
    if state[3] != hour and hour != 24:
        state = _norm(state[0], state[1], state[2], hour + 1, state[4], state[5])
    return state


def _java_dow(y: int, mo: int, d: int) -> int:
    """Return Calendar.DAY_OF_WEEK (1 = Sunday ... 7 = Saturday) of a possibly lenient date."""
    y, mo, d = _norm(y, mo, d, 0, 0, 0)[:3]
    return date(y, mo, d).isoweekday() % 7 + 1


class _Parser:
    """Build Quartz's value sets and flags from an expression, rule for rule."""

    def __init__(self) -> None:
        """Start with empty sets and cleared flags."""
        self.sets: list[set[int]] = [set() for _ in range(7)]
        self.lastday_of_week = False
        self.nthday_of_week = 0
        self.lastday_of_month = False
        self.nearest_weekday = False
        self.lastday_offset = 0
        self.field = SECOND

    def fail(self, problem: str, field: int | None = None) -> InvalidCronExpression:
        """Return an error naming the field being parsed and the problem."""
        name = FIELD_NAMES[self.field if field is None else field]
        return InvalidCronExpression(_("%(field)s: %(problem)s", field=name, problem=problem))

    def build(self, expression: str) -> None:
        """Parse the whole expression like CronExpression.buildExpression."""
        text = expression.upper()
        tokens = [t for t in text.replace("\t", " ").split(" ") if t]
        for kind, token in zip(range(7), tokens, strict=False):
            self.field = kind
            self.parse_field(token.strip(_JAVA_TRIM), kind)
        if len(tokens) <= DAY_OF_WEEK:
            self.field = len(tokens)
            raise self.fail(_("missing (unexpected end of expression; 6 or 7 fields are required)"))
        if len(tokens) == DAY_OF_WEEK + 1:
            self.field = YEAR
            self.store("*", YEAR)
        self.check_day_fields()

    def parse_field(self, expr: str, kind: int) -> None:
        """Check the list-level rules of one field, then store each comma-separated item."""
        if kind in (DAY_OF_MONTH, DAY_OF_WEEK) and "L" in expr and len(expr) > 1 and "," in expr:
            raise self.fail(_("'L' cannot be used in a list (%(expr)r)", expr=expr))
        if kind == DAY_OF_WEEK and expr.count("#") > 1:
            raise self.fail(_("only one '#' (nth day) is supported (%(expr)r)", expr=expr))
        for item in expr.split(","):
            if not item:
                continue
            try:
                self.store(item, kind)
            except InvalidCronExpression:
                raise
            except Exception as exc:  # Quartz turns any runtime error into a ParseException
                raise self.fail(_("malformed value %(item)r (%(exc)s)", item=item, exc=message_of(exc))) from None

    def check_day_fields(self) -> None:
        """Require exactly one of day-of-month and day-of-week to be '?'."""
        dom_spec = NO_SPEC not in self.sets[DAY_OF_MONTH]
        dow_spec = NO_SPEC not in self.sets[DAY_OF_WEEK]
        if dom_spec == dow_spec:
            raise self.fail(
                _("day-of-month and day-of-week cannot both be given (or both be '?'); exactly one must be '?'"),
                DAY_OF_WEEK,
            )

    def store(self, s: str, kind: int) -> None:
        """Store one list item like CronExpression.storeExpressionVals."""
        c = s[0]
        if "A" <= c <= "Z" and s not in ("L", "LW") and not _is_l_offset(s):
            self.store_name(s, kind)
        elif c == "?":
            self.store_no_spec(s, kind)
        elif c in "*/":
            self.store_all(s, kind)
        elif c == "L":
            self.store_last(s, kind)
        elif _is_digit(c):
            if len(s) == 1:
                self.add(int(c), -1, -1, kind)
                return
            val, i = int(c), 1
            if _is_digit(s[1]):
                val, i = _get_value(val, s, 1)
            self.check_next(i, s, val, kind)
        else:
            raise self.fail(_("unexpected character %(c)r in %(s)r", c=c, s=s))

    def store_name(self, s: str, kind: int) -> None:
        """Store a month or day name, a name range, NAME#n or NAMEL (the rest is ignored, as in Quartz)."""
        if len(s) < 3:
            raise _Malformed(_("%(s)r is not a name", s=s))
        names = MONTHS if kind == MONTH else DAYS if kind == DAY_OF_WEEK else None
        if names is None:
            raise self.fail(_("names are not allowed here (%(value)r)", value=s[:3]))
        label = _("month") if kind == MONTH else _("day-of-week")
        sval = names.get(s[:3], -1)
        if sval < 0:
            raise self.fail(_("invalid %(label)s name %(value)r", label=label, value=s[:3]))
        eval_ = -1
        if len(s) > 3:
            c = s[3]
            if c == "-":
                if len(s) < 7:
                    raise _Malformed(_("incomplete range %(s)r", s=s))
                eval_ = names.get(s[4:7], -1)
                if eval_ < 0:
                    raise self.fail(_("invalid %(label)s name %(value)r", label=label, value=s[4:7]))
            elif kind == DAY_OF_WEEK and c == "#":
                self.nthday_of_week = self.parse_nth(s[4:])
            elif kind == DAY_OF_WEEK and c == "L":
                self.lastday_of_week = True
        self.add(sval, eval_, 1 if eval_ != -1 else 0, kind)

    def parse_nth(self, text: str) -> int:
        """Parse the number after '#', which must be 1-5."""
        try:
            nth = _java_int(text)
        except _Malformed:
            nth = 0
        if not 1 <= nth <= 5:
            raise self.fail(_("a number between 1 and 5 must follow '#', got %(text)r", text=text))
        return nth

    def store_no_spec(self, s: str, kind: int) -> None:
        """Store '?' (one trailing character is tolerated, as in Quartz)."""
        if len(s) > 2 and s[1] != " " and s[2] != "\t":
            raise self.fail(_("illegal character after '?': %(value)r", value=s[1]))
        if kind not in (DAY_OF_MONTH, DAY_OF_WEEK):
            raise self.fail(_("'?' can only be used in day-of-month or day-of-week"))
        if kind == DAY_OF_WEEK and not self.lastday_of_month:
            dom = self.sets[DAY_OF_MONTH]
            if not dom:
                raise self.fail(_("day-of-month has no value"), DAY_OF_MONTH)
            if max(dom) == NO_SPEC:
                raise self.fail(_("'?' can only be used in day-of-month -OR- day-of-week, not both"))
        self.add(NO_SPEC, -1, 0, kind)

    def store_all(self, s: str, kind: int) -> None:
        """Store '*', '*/n' or '/n' (anything else after '*' is ignored, as in Quartz)."""
        if s == "*":
            self.add(ALL_SPEC, -1, 0, kind)
            return
        if s[0] == "/" and len(s) == 1:
            raise self.fail(_("'/' must be followed by an integer"))
        i = 1 if s[0] == "*" else 0
        incr = 1
        if s[i] == "/":
            if i + 1 >= len(s):
                raise self.fail(_("'/' must be followed by an integer in %(s)r", s=s))
            try:
                incr = _java_int(s[i + 1 :])
            except _Malformed:
                raise self.fail(_("invalid increment %(value)r", value=s[i + 1 :])) from None
            self.check_increment(incr, kind)
        self.add(ALL_SPEC, -1, incr, kind)

    def store_last(self, s: str, kind: int) -> None:
        """Store 'L', 'LW', 'L-n' or 'L-nW'."""
        if kind == DAY_OF_WEEK:
            self.add(7, 7, 0, kind)  # 'L' alone in day-of-week is 7 = SAT; the rest is ignored
            return
        if kind != DAY_OF_MONTH:
            return  # Quartz silently stores nothing
        self.lastday_of_month = True
        i = 1
        if len(s) > 1 and s[1] == "-":
            _char_at(s, 2)
            self.lastday_offset, i = _get_value(0, s, 2)
            if self.lastday_offset > 30:
                raise self.fail(
                    _("offset from last day must be <= 30, got %(lastday_offset)s", lastday_offset=self.lastday_offset)
                )
        if i < len(s) and s[i] == "W":
            if self.lastday_offset == 30:  # Quartz walks back and forth forever around 30-day months
                raise self.fail(_("'L-30W' never terminates in Quartz"))
            self.nearest_weekday = True

    def check_increment(self, incr: int, kind: int) -> None:
        """Reject an increment larger than the field allows, like checkIncrementRange."""
        limit = _MAX_INCREMENT.get(kind)
        if limit is not None and incr > limit:
            raise self.fail(_("increment %(incr)s is out of range (at most %(limit)s)", incr=incr, limit=limit))

    def check_next(self, i: int, s: str, val: int, kind: int) -> None:
        """Handle what follows a leading number, like CronExpression.checkNext."""
        if i >= len(s):
            self.add(val, -1, -1, kind)
            return
        c = s[i]
        if c == "L":
            if kind != DAY_OF_WEEK:
                raise self.fail(_("'L' is not valid after a number here (%(s)r)", s=s))
            if not 1 <= val <= 7:
                raise self.fail(_("%(val)s is out of range 1-7", val=val))
            self.lastday_of_week = True
            self.sets[kind].add(val)
        elif c == "W":
            if kind != DAY_OF_MONTH:
                raise self.fail(_("'W' is not valid here (%(s)r)", s=s))
            if val > 31:
                raise self.fail(_("'W' needs a day of at most 31, got %(val)s", val=val))
            if val == 0:  # Quartz accepts 0W, then loops forever in getTimeAfter
                raise self.fail(_("0 is out of range 1-31 ('0W' never terminates in Quartz)"))
            self.nearest_weekday = True
            self.sets[kind].add(val)
        elif c == "#":
            if kind != DAY_OF_WEEK:
                raise self.fail(_("'#' is not valid here (%(s)r)", s=s))
            if not 1 <= val <= 7:  # Quartz does not check; see the module's docstring
                raise self.fail(_("%(val)s is out of range 1-7 (the day before '#' in %(s)r)", val=val, s=s))
            self.nthday_of_week = self.parse_nth(s[i + 1 :])
            self.sets[kind].add(val)
        elif c == "-":
            self.store_range(i, s, val, kind)
        elif c == "/":
            self.store_step(i, s, val, kind)
        else:
            self.add(val, -1, 0, kind)  # trailing characters are ignored, as in Quartz

    def store_range(self, i: int, s: str, val: int, kind: int) -> None:
        """Store 'a-b' or 'a-b/n' (no increment check and trailing characters ignored, as in Quartz)."""
        i += 1
        end = _java_int(_char_at(s, i))
        i += 1
        if i >= len(s):
            self.add(val, end, 1, kind)
            return
        if _is_digit(s[i]):
            end, i = _get_value(end, s, i)
        if i < len(s) and s[i] == "/":
            i += 1
            step = _java_int(_char_at(s, i))
            i += 1
            if i < len(s) and _is_digit(s[i]):
                step, i = _get_value(step, s, i)
            self.add(val, end, step, kind)
        else:
            self.add(val, end, 1, kind)

    def store_step(self, i: int, s: str, val: int, kind: int) -> None:
        """Store 'a/n'."""
        if i + 1 >= len(s):
            raise self.fail(_("'/' must be followed by an integer in %(s)r", s=s))
        i += 1
        step = _java_int(s[i])
        i += 1
        if i < len(s):
            if not _is_digit(s[i]):
                raise self.fail(_("unexpected character %(value)r after '/' in %(s)r", value=s[i], s=s))
            step, i = _get_value(step, s, i)
        self.check_increment(step, kind)
        self.add(val, -1, step, kind)

    def add(self, val: int, end: int, incr: int, kind: int) -> None:
        """Validate and add values to a field's set, like CronExpression.addToSet."""
        self.validate(val, end, kind)
        target = self.sets[kind]
        if incr in (0, -1) and val != ALL_SPEC:
            target.add(val if val != -1 else NO_SPEC)
            return
        start, stop = val, end
        if val == ALL_SPEC and incr <= 0:
            incr = 1
            target.add(ALL_SPEC)
        low, high = _RANGES.get(kind, (1970, QUARTZ_MAX_YEAR))
        if stop == -1:
            stop = high
        if start in (-1, ALL_SPEC):
            start = low
        wrap = -1
        if stop < start:
            if kind == YEAR:
                raise self.fail(_("start year %(start)s is after stop year %(stop)s", start=start, stop=stop))
            wrap = _WRAP[kind]
            stop += wrap
        if kind == YEAR:
            stop = min(stop, LAST_YEAR + 1)  # later years can never fire
        if wrap == -1:
            target.update(range(start, stop + 1, incr))
            return
        one_based = kind in (MONTH, DAY_OF_WEEK, DAY_OF_MONTH)
        for v in range(start, stop + 1, incr):
            v2 = v % wrap
            target.add(wrap if v2 == 0 and one_based else v2)

    def validate(self, val: int, end: int, kind: int) -> None:
        """Reject out-of-range values with Quartz's exact tests (98 and 99 slip through, as in Quartz)."""
        if kind == YEAR or val == ALL_SPEC:
            return
        low, high = _RANGES[kind]
        if kind in (DAY_OF_MONTH, DAY_OF_WEEK) and val == NO_SPEC:
            return
        too_low = val == 0 if kind == DAY_OF_WEEK else val < low
        if too_low or val > high:
            raise self.fail(_("%(val)s is out of range %(low)s-%(high)s", val=val, low=low, high=high))
        if end > high:
            raise self.fail(_("%(end)s is out of range %(low)s-%(high)s", end=end, low=low, high=high))


def _is_l_offset(s: str) -> bool:
    """Tell whether s matches Quartz's ``^L-[0-9]*[W]?`` (ASCII digits, whole string)."""
    if not s.startswith("L-"):
        return False
    rest = s[2:]
    if rest.endswith("W"):
        rest = rest[:-1]
    return all(_is_digit(ch) for ch in rest)


def _check_runnable(parser: _Parser) -> None:
    """Reject what Quartz parses but cannot evaluate (getTimeAfter would throw)."""
    sets = parser.sets
    for kind in (SECOND, MINUTE, HOUR, MONTH):
        if not sets[kind]:
            raise parser.fail(_("no value (Quartz fails at run time)"), kind)
    if NO_SPEC in sets[DAY_OF_WEEK] and not sets[DAY_OF_MONTH] and not parser.lastday_of_month:
        raise parser.fail(_("no value (Quartz fails at run time)"), DAY_OF_MONTH)
    if NO_SPEC in sets[DAY_OF_MONTH] and not sets[DAY_OF_WEEK]:
        raise parser.fail(_("no value (Quartz fails at run time)"), DAY_OF_WEEK)


@functools.cache
def _iana_zone_names() -> frozenset[str]:
    """Return the IANA time zone names: the tzdata package's list (a dependency), the same on every machine."""
    try:
        names = set(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())
    except ModuleNotFoundError:  # this module runs outside Baton's environment too: the system's, less its own link
        names = available_timezones() - {"localtime"}
    return frozenset(names | {"UTC"})


def load_zone(name: object) -> ZoneInfo:
    """Return the zone of an IANA name such as Europe/Berlin, or raise InvalidCronExpression."""
    if isinstance(name, str) and name in _iana_zone_names():
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise InvalidCronExpression(
        _("timezone: unknown time zone %(name)r (an IANA name such as Europe/Berlin)", name=name)
    )


def parse_start(text: str, zone: ZoneInfo) -> datetime:
    """Read an ISO-8601 date-time (a naive one is wall time in zone) as an aware time in zone, or raise ValueError."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_("must be an ISO-8601 date-time, not %(text)r", text=text)) from None
    try:
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
        aware.astimezone(UTC)
        return aware.astimezone(zone)
    except (OverflowError, ValueError):
        where = "UTC" if zone.key == "UTC" else _("UTC and in %(zone)s", zone=zone.key)
        raise ValueError(
            _("must lie between the years 1 and 9999 in %(where)s, not %(text)r", where=where, text=text)
        ) from None


def _weekday_near(y: int, mon: int, day: int) -> int:
    """Move day to the nearest weekday the way Quartz's 'W' does (lenient for odd days)."""
    dow = _java_dow(y, mon, day)
    if dow == _SAT:
        return day + 2 if day == 1 else day - 1
    if dow == _SUN:
        return day - 2 if day == _last_day(mon, y) else day + 1
    return day


def _days_to(dow: int, cdow: int) -> int:
    """Return how many days ahead weekday dow is from weekday cdow (Quartz's arithmetic)."""
    if cdow < dow:
        return dow - cdow
    if cdow > dow:
        return dow + (7 - cdow)
    return 0


_Wall = tuple[int, int, int, int, int, int]


class QuartzCron:
    """A Quartz cron expression evaluated on the wall clock of one time zone."""

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        """Parse expression like Quartz 2.3.2, or raise InvalidCronExpression."""
        if not isinstance(expression, str):
            raise InvalidCronExpression(
                _("seconds: expression must be a string, not %(name)s", name=type(expression).__name__)
            )
        self.expression = expression
        self.timezone = timezone
        self.zone = load_zone(timezone)
        parser = _Parser()
        parser.build(expression)
        _check_runnable(parser)
        sets = parser.sets
        self._seconds, self._minutes, self._hours = (sorted(sets[k]) for k in (SECOND, MINUTE, HOUR))
        self._doms, self._months, self._dows = (sorted(sets[k]) for k in (DAY_OF_MONTH, MONTH, DAY_OF_WEEK))
        self._years = sorted(sets[YEAR])
        self._dom_rule = NO_SPEC not in sets[DAY_OF_MONTH]
        self._last_dow = parser.lastday_of_week
        self._nth_dow = parser.nthday_of_week
        self._last_dom = parser.lastday_of_month
        self._nearest = parser.nearest_weekday
        self._last_offset = parser.lastday_offset

    def __repr__(self) -> str:
        """Show the expression and its zone."""
        return f"QuartzCron({self.expression!r}, {self.timezone!r})"

    def next_after(self, dt: datetime) -> datetime | None:
        """Return the first fire instant strictly after aware dt, in the zone, or None."""
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError("next_after needs an aware datetime")
        local = dt.astimezone(self.zone)
        wall = local.replace(tzinfo=None, microsecond=0, fold=0)
        if local.fold and local.replace(fold=0).utcoffset() != local.utcoffset():
            wall = max(wall, self._overlap_end(local) - _ONE_SECOND)  # the first pass already fired
        limit = min(LAST_YEAR, local.year + HORIZON_YEARS)
        threshold = dt.timestamp()
        while wall.year <= limit:
            start = wall + _ONE_SECOND
            found = self._wall_after(
                (start.year, start.month, start.day, start.hour, start.minute, start.second), limit
            )
            if found is None:
                return None
            wall = datetime(*found)
            fire = self._resolve(wall)
            if fire.timestamp() > threshold:
                return fire
        return None

    def next_fire_times(self, after: datetime, count: int) -> list[datetime]:
        """Return up to count successive fire instants strictly after aware after."""
        times: list[datetime] = []
        current = after
        while len(times) < count:
            found = self.next_after(current)
            if found is None:
                break
            times.append(found)
            current = found
        return times

    def _wall_after(self, start: _Wall, limit: int) -> _Wall | None:
        """Walk fields like Quartz's getTimeAfter from start (inclusive) on a DST-free wall clock."""
        y, mo, d, h, mi, s = start
        for _step in range(MAX_STEPS):
            if y > limit:
                return None
            moved = self._time_step(y, mo, d, h, mi, s)
            if moved[0]:
                (y, mo, d, h, mi, s) = moved[1]
                continue
            (y, mo, d, h, mi, s) = moved[1]
            state = self._day_step(y, mo, d, h, mi, s, start)
            if state is not None:
                y, mo, d, h, mi, s = state
                continue
            if y > limit:
                return None
            state = self._month_year_step(y, mo)
            if state is None:
                return (y, mo, d, h, mi, s)
            y, mo, d, h, mi, s = state
        return None

    def _time_step(self, y: int, mo: int, d: int, h: int, mi: int, s: int) -> tuple[bool, _Wall]:
        """Settle seconds, minutes and hours; say whether the walk must restart."""
        secs = self._seconds
        i = bisect.bisect_left(secs, s)
        if i < len(secs):
            s = secs[i]
        else:
            s, mi = secs[0], mi + 1
        y, mo, d, h, mi, s = _norm(y, mo, d, h, mi, s)
        mins = self._minutes
        i = bisect.bisect_left(mins, mi)
        if i >= len(mins):
            return True, _set_hour(y, mo, d, h + 1, mins[0], 0)
        if mins[i] != mi:
            return True, _set_hour(y, mo, d, h, mins[i], 0)
        hours = self._hours
        i = bisect.bisect_left(hours, h)
        if i >= len(hours):
            return True, _set_hour(y, mo, d + 1, hours[0], 0, 0)
        if hours[i] != h:
            return True, _set_hour(y, mo, d, hours[i], 0, 0)
        return False, (y, mo, d, h, mi, s)

    def _day_step(self, y: int, mo: int, d: int, h: int, mi: int, s: int, start: _Wall) -> _Wall | None:
        """Settle the day; return the state to restart from, or None when the day fits."""
        if self._dom_rule:
            return self._dom_step(y, mo, d, h, mi, s, start)
        cdow = _java_dow(y, mo, d)
        dows = self._dows
        if self._last_dow:
            add = _days_to(dows[0], cdow)
            ldom = _last_day(mo, y)
            if d + add > ldom:
                return _norm(y, mo + 1, 1, 0, 0, 0)
            while d + add + 7 <= ldom:
                add += 7
            return _norm(y, mo, d + add, 0, 0, 0) if add > 0 else None
        if self._nth_dow:
            add = _days_to(dows[0], cdow)
            day = d + add
            week = day // 7 + (1 if day % 7 > 0 else 0)
            shift = (self._nth_dow - week) * 7
            day += shift
            if shift < 0 or day > _last_day(mo, y):
                return _norm(y, mo + 1, 1, 0, 0, 0)
            return _norm(y, mo, day, 0, 0, 0) if shift > 0 or add > 0 else None
        i = bisect.bisect_left(dows, cdow)
        add = _days_to(dows[i] if i < len(dows) else dows[0], cdow)
        if d + add > _last_day(mo, y):
            return _norm(y, mo + 1, 1, 0, 0, 0)
        return _norm(y, mo, d + add, 0, 0, 0) if add > 0 else None

    def _dom_step(self, y: int, mo: int, d: int, h: int, mi: int, s: int, start: _Wall) -> _Wall | None:
        """Settle the day by the day-of-month rule (L, L-n, W, LW, plain days)."""
        doms = self._doms
        day, mon, tmon, t = d, mo, mo, d
        if self._last_dom and not self._nearest:
            day = _last_day(mon, y) - self._last_offset
            if t > day:
                mon, day = mon + 1, 1
                if mon > 12:
                    mon, tmon, y = 1, 3333, y + 1
        elif self._nearest:
            target = _last_day(mon, y) - self._last_offset if self._last_dom else doms[0]
            day = _weekday_near(y, mon, target)
            if _norm(y, mon, day, h, mi, s) < start:
                day, mon = (1 if self._last_dom else doms[0]), mon + 1
        else:
            i = bisect.bisect_left(doms, d)
            if i < len(doms):
                day = doms[i]
                if day > _last_day(mon, y):
                    day, mon = doms[0], mon + 1
            else:
                day, mon, t = doms[0], mon + 1, -1
        if day != t or mon != tmon:
            return _norm(y, mon, day, 0, 0, 0)
        return None

    def _month_year_step(self, y: int, mo: int) -> _Wall | None:
        """Settle month and year; return the state to restart from, or None when both fit."""
        months = self._months
        i = bisect.bisect_left(months, mo)
        if i >= len(months):
            return _norm(y + 1, months[0], 1, 0, 0, 0)
        if months[i] != mo:
            return _norm(y, months[i], 1, 0, 0, 0)
        years = self._years
        i = bisect.bisect_left(years, y)
        if i >= len(years):
            return (LAST_YEAR + 1, 1, 1, 0, 0, 0)  # ran out of years: past every search limit
        if years[i] != y:
            return _norm(years[i], 1, 1, 0, 0, 0)
        return None

    def _resolve(self, wall: datetime) -> datetime:
        """Map a matching wall time to its fire instant under SPEC §5's DST rule."""
        fire = wall.replace(tzinfo=self.zone)
        before = fire.utcoffset()
        after = wall.replace(tzinfo=self.zone, fold=1).utcoffset()
        if before is None or after is None or before >= after:
            return fire  # an ordinary time, or the first pass of a repeated one
        lo = _epoch_seconds(wall - after)  # still before the transition
        hi = _epoch_seconds(wall - before)  # already after it
        return datetime.fromtimestamp(self._transition(lo, hi, after), self.zone)

    def _overlap_end(self, local: datetime) -> datetime:
        """Return the wall time at which the repeated hour containing local (second pass) ends."""
        first = local.replace(fold=0).utcoffset()
        second = local.utcoffset()
        assert first is not None and second is not None
        now = int(local.timestamp())
        lo = now - int((first - second).total_seconds())
        instant = self._transition(lo, now, second)
        return datetime.fromtimestamp(instant, UTC).replace(tzinfo=None) + first

    def _transition(self, lo: int, hi: int, offset: timedelta) -> int:
        """Return the first epoch second in (lo, hi] whose UTC offset is offset (hi has it, lo not)."""
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.zone).utcoffset() == offset:
                hi = mid
            else:
                lo = mid
        return hi


_EPOCH = datetime(1970, 1, 1)


def _epoch_seconds(naive_utc: datetime) -> int:
    """Return whole seconds since the epoch of a naive UTC datetime."""
    return int((naive_utc - _EPOCH).total_seconds())
