"""Dates and numbers as the systems of the domain write them, for declarative mappings.

Vietnamese systems exchange dates in Java-style patterns (``yyyyMMddHHmmss`` at the national portal,
``dd-MM-yyyy`` in tax notices, ``yyyy/MM/dd HH:mm:ss`` in edXML trace headers) and amounts the way
people write them (``1.000.000``). A mapping names the pattern on each side; :class:`DatePattern`
compiles it once into a regular expression (reading) and a list of pieces (writing), so a message
pays for a match and a join, not for interpreting the pattern again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ISO_8601", "DatePattern", "NumberFormat", "time_zone"]

#: The name ``iso`` stands for this pattern: xs:dateTime with an explicit offset.
ISO_8601: Final = "yyyy-MM-dd'T'HH:mm:ssXXX"
#: Vietnam has kept UTC+07:00 without daylight saving time since 1975, so when the system has no
#: time zone database (Windows without the tzdata package) this fixed offset is exact.
_VIETNAM: Final = timezone(timedelta(hours=7), "ICT")
_VIETNAM_NAMES: Final = frozenset({"Asia/Ho_Chi_Minh", "Asia/Saigon", "+07:00"})

#: Pattern letters: (regex group, width for writing). Other ASCII letters are errors, as in Java.
_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "yyyy": ("year", r"\d{4}"),
    "yy": ("year2", r"\d{2}"),
    "MM": ("month", r"\d{2}"),
    "M": ("month", r"\d{1,2}"),
    "dd": ("day", r"\d{2}"),
    "d": ("day", r"\d{1,2}"),
    "HH": ("hour", r"\d{2}"),
    "H": ("hour", r"\d{1,2}"),
    "mm": ("minute", r"\d{2}"),
    "m": ("minute", r"\d{1,2}"),
    "ss": ("second", r"\d{2}"),
    "s": ("second", r"\d{1,2}"),
    "SSS": ("millis", r"\d{3}"),
    "XXX": ("offset", r"Z|[+-]\d{2}:\d{2}"),
    "XX": ("offset", r"Z|[+-]\d{4}"),
    "X": ("offset", r"Z|[+-]\d{2}(?:\d{2})?"),
    "Z": ("offset", r"[+-]\d{4}"),
}
_TOKEN: Final = re.compile(
    r"'([^']*)'|(yyyy|yy|MM|M|dd|d|HH|H|mm|m|ss|s|SSS|XXX|XX|X|Z)|([A-Za-z])|(.)", re.S
)


def time_zone(name: str) -> tzinfo:
    """The zone ``name`` (IANA), with Vietnam's fixed +07:00 when the system has no zone database.

    Raises ValueError for a zone that does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        if name in _VIETNAM_NAMES:
            return _VIETNAM
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Ho_Chi_Minh)") from exc


class DatePattern:
    """One Java-style date pattern (``dd/MM/yyyy HH:mm:ss``), for reading and for writing.

    Raises ValueError at construction for a letter that is not a known pattern field."""

    def __init__(self, pattern: str) -> None:
        self.pattern = ISO_8601 if pattern == "iso" else pattern
        regex: list[str] = []
        self._pieces: list[tuple[str, str]] = []  # (kind, text): kind "" for literal text
        seen: set[str] = set()
        for match in _TOKEN.finditer(self.pattern):
            quoted, field, letter, other = match.groups()
            if letter is not None:
                raise ValueError(f"date pattern {pattern!r}: unknown pattern letter {letter!r}")
            if field is not None:
                group, body = _FIELDS[field]
                regex.append(f"(?P<{group}>{body})" if group not in seen else f"(?:{body})")
                seen.add(group)
                self._pieces.append((field, ""))
            else:
                text = (quoted if quoted is not None else other) or ("'" if quoted == "" else "")
                regex.append(re.escape(text))
                self._pieces.append(("", text))
        if not seen & {"year", "year2"} or "month" not in seen or "day" not in seen:
            raise ValueError(f"date pattern {pattern!r} needs a year (yyyy), a month (MM) and a day (dd)")
        self._regex = re.compile("".join(regex))
        self.has_offset = "offset" in seen

    def parse(self, text: str, zone: tzinfo) -> datetime:
        """The moment ``text`` names; without an offset in the pattern it is read in ``zone``.

        Raises ValueError saying what was expected."""
        found = self._regex.fullmatch(text)
        if found is None:
            raise ValueError(f"{text!r} does not match the date pattern {self.pattern!r}")
        parts = found.groupdict()
        year = int(parts["year"]) if parts.get("year") else 2000 + int(parts["year2"])
        offset = parts.get("offset")
        tz = zone if offset is None else _offset(offset)
        try:
            return datetime(
                year,
                int(parts["month"]),
                int(parts["day"]),
                int(parts.get("hour") or 0),
                int(parts.get("minute") or 0),
                int(parts.get("second") or 0),
                int(parts.get("millis") or 0) * 1000,
                tzinfo=tz,
            )
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a real date ({exc})") from exc

    def format(self, moment: datetime, zone: tzinfo) -> str:
        """``moment`` in ``zone``, written as the pattern says."""
        local = moment.astimezone(zone)
        out: list[str] = []
        for kind, text in self._pieces:
            out.append(text if not kind else _write(kind, local))
        return "".join(out)


def _offset(text: str) -> tzinfo:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return timezone(sign * timedelta(minutes=minutes))


_WRITERS: Final[dict[str, Callable[[datetime], str]]] = {
    "yyyy": lambda t: f"{t.year:04d}",
    "yy": lambda t: f"{t.year % 100:02d}",
    "MM": lambda t: f"{t.month:02d}",
    "M": lambda t: str(t.month),
    "dd": lambda t: f"{t.day:02d}",
    "d": lambda t: str(t.day),
    "HH": lambda t: f"{t.hour:02d}",
    "H": lambda t: str(t.hour),
    "mm": lambda t: f"{t.minute:02d}",
    "m": lambda t: str(t.minute),
    "ss": lambda t: f"{t.second:02d}",
    "s": lambda t: str(t.second),
    "SSS": lambda t: f"{t.microsecond // 1000:03d}",
}


def _write(field: str, t: datetime) -> str:
    writer = _WRITERS.get(field)
    if writer is not None:
        return writer(t)
    delta = t.utcoffset() or timedelta(0)
    if not delta and field != "Z":
        return "Z"
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    if field == "XXX":
        return f"{sign}{hours:02d}:{rest:02d}"
    if field == "X" and not rest:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}{rest:02d}"


#: How numbers are written: ``plain`` as machines do (1000000.5), ``vi`` as Vietnamese people do
#: (1.000.000,5), ``en`` with English grouping (1,000,000.5).
NumberStyle = Literal["plain", "vi", "en"]
_SEPARATORS: Final[dict[str, tuple[str, str]]] = {"plain": ("", "."), "vi": (".", ","), "en": (",", ".")}


@dataclass(frozen=True)
class NumberFormat:
    """Read a number written in one style and write it in another, rounded to ``decimals`` places."""

    source: NumberStyle = "plain"
    target: NumberStyle = "plain"
    decimals: int | None = None

    def convert(self, text: str) -> str:
        """Raises ValueError naming the text and the style expected."""
        group, point = _SEPARATORS[self.source]
        compact = text.replace(" ", "").replace("\u00a0", "")
        g, p = re.escape(group), re.escape(point)
        grouped = rf"[+-]?\d{{1,3}}(?:{g}\d{{3}})*(?:{p}\d+)?|[+-]?\d+(?:{p}\d+)?"
        if group and not re.fullmatch(grouped, compact):
            raise ValueError(f"{text!r} is not a number written as {_example(self.source)}")
        normal = compact.replace(group, "") if group else compact
        try:
            number = Decimal(normal.replace(point, "."))
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or (not group and not re.fullmatch(r"[+-]?\d+(?:\.\d+)?", normal)):
            raise ValueError(f"{text!r} is not a number written as {_example(self.source)}")
        if self.decimals is not None:
            number = number.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP)
        return _written(number, self.target)


def _example(style: str) -> str:
    return {"plain": "1000000.5", "vi": "1.000.000,5", "en": "1,000,000.5"}[style]


def _written(number: Decimal, style: str) -> str:
    text = format(number, "f")
    if style == "plain":
        return text
    group, point = _SEPARATORS[style]
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}".replace(",", group)
    return sign + grouped + (point + fraction if fraction else "")
