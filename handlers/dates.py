"""Dates people type ("until Friday", "on 2026-03-01", "last month"), read with dateparser, in UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dateparser

_PERIOD = re.compile(
    r"^(?:(?P<named>today|yesterday|this week|last week|this month|last month|this year|last year)"
    r"|(?:on|at) (?P<on>.+)|in (?P<month>.+)|(?:since|from) (?P<since>.+))$",
    re.IGNORECASE,
)


def _parse(text: str, now: datetime, prefer: str) -> datetime | None:
    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": prefer,
        "RELATIVE_BASE": now.astimezone(UTC).replace(tzinfo=None),
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": "DMY",
    }
    return dateparser.parse(text.strip(), languages=["en"], settings=settings)


def parse_day(text: str, now: datetime, *, prefer: str = "future") -> date | None:
    parsed = _parse(text, now, prefer)
    return parsed.date() if parsed else None


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def end_of(day: date) -> datetime:
    """Covers run through the day named: "until Friday" lapses when Friday is over (UTC)."""
    if day >= date.max:
        return datetime.max.replace(tzinfo=UTC)  # "until 9999-12-31": no day after it to start
    return start_of(day + timedelta(days=1))


def period(text: str, now: datetime) -> tuple[datetime, datetime, str] | None:
    """A span of time named in a question: (start, end, how to say it)."""
    match = _PERIOD.match(text.strip())
    if match is None:
        return None
    today = now.astimezone(UTC).date()
    named = (match["named"] or "").lower()
    if named == "today":
        return start_of(today), end_of(today), "today"
    if named == "yesterday":
        day = today - timedelta(days=1)
        return start_of(day), end_of(day), "yesterday"
    if named in ("this week", "last week"):
        monday = today - timedelta(days=today.weekday())
        if named == "last week":
            monday -= timedelta(days=7)
        return start_of(monday), start_of(monday + timedelta(days=7)), named
    if named in ("this month", "last month"):
        first = today.replace(day=1)
        if named == "last month":
            first = (first - timedelta(days=1)).replace(day=1)
        return start_of(first), _month_after(first), named
    if named in ("this year", "last year"):
        year = today.year - (named == "last year")
        return start_of(date(year, 1, 1)), end_of(date(year, 12, 31)), named
    if match["on"]:
        on = parse_day(match["on"], now, prefer="past")
        return (start_of(on), end_of(on), f"on {on:%d %b %Y}") if on else None
    if match["since"]:
        since = parse_day(match["since"], now, prefer="past")
        return (start_of(since), now, f"since {since:%d %b %Y}") if since else None
    month = parse_day(match["month"], now, prefer="past")
    if month is None:
        return None
    first = month.replace(day=1)
    return start_of(first), _month_after(first), f"in {first:%B %Y}"


def _month_after(first: date) -> datetime:
    if first.year == date.max.year and first.month == 12:
        return datetime.max.replace(tzinfo=UTC)
    return start_of((first + timedelta(days=32)).replace(day=1))
