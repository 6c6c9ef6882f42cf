"""The tolerant reader's toolkit: elements by local name, values as text, dates in the formats real
senders write, and the log of quirks, each with its line. Private to :mod:`lienthong.edxml.read`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Final, TypeVar

from lxml import etree

from lienthong.edxml.model import Quirk
from lienthong.edxml.names import is_agency_code
from lienthong.errors import EdxmlError

_T = TypeVar("_T")


def _vietnam() -> tzinfo:
    """Asia/Ho_Chi_Minh (as in ``lienthong.trail``, without importing the store); without a time zone
    database, its offset: UTC+7, no daylight saving since 1975."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Asia/Ho_Chi_Minh")
    except (ImportError, LookupError, OSError, ValueError):
        return timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


#: The zone of every edXML timestamp written without an offset (all of them, in practice).
VIETNAM: Final = _vietnam()

# (format, is it the standard's?) — the standard's first; the others are accepted with a quirk.
DATE_FORMATS: Final = (("%Y/%m/%d", True), ("%d/%m/%Y", False), ("%Y-%m-%d", False), ("%d-%m-%Y", False))
TIMESTAMP_FORMATS: Final = (
    ("%Y/%m/%d %H:%M:%S", True),
    ("%d/%m/%Y %H:%M:%S", False),
    ("%Y-%m-%d %H:%M:%S", False),
    ("%Y/%m/%d %H:%M", False),
    ("%d/%m/%Y %H:%M", False),
    ("%Y/%m/%d", False),
    ("%d/%m/%Y", False),
)
# Local names real senders spell the other way, read as the standard's spelling.
SPELLINGS: Final = {
    "Business": "Bussiness",
    "BusinessDocType": "BussinessDocType",
    "BusinessDocReason": "BussinessDocReason",
    "BusinessDocumentInfo": "BussinessDocumentInfo",
}


def local(el: etree._Element) -> str:
    name = etree.QName(el).localname
    return SPELLINGS.get(name, name)


def elements(parent: etree._Element) -> Iterable[etree._Element]:
    return (c for c in parent if isinstance(c.tag, str))


def children(parent: etree._Element | None, name: str) -> list[etree._Element]:
    if parent is None:
        return []
    return [c for c in elements(parent) if local(c) == name]


def text_of(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def line_of(el: etree._Element | None) -> int | None:
    line = el.sourceline if el is not None else None
    return line if isinstance(line, int) else None  # None for a tree built in memory


class QuirkLog:
    """One reading's bookkeeping: the name of the input, the quirks found so far, and the tolerant
    ways of looking things up that report a quirk when they had to be tolerant."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.quirks: list[Quirk] = []

    def quirk(self, code: str, message: str, el: etree._Element | None = None) -> None:
        self.quirks.append(Quirk(code, message, line_of(el)))

    def refuse(self, message: str, *, element: str, at: etree._Element | None) -> EdxmlError:
        line = line_of(at)
        where = f" (line {line})" if line is not None else ""
        return EdxmlError(
            f"{self.source}: {message}{where}", detail={"element": element, "line": line, "column": None}
        )

    def one(self, parent: etree._Element | None, name: str, where: str) -> etree._Element | None:
        """The child called ``name``; the first of several, with a quirk (the writer keeps them all)."""
        found = children(parent, name)
        if len(found) > 1:
            self.quirk(
                "duplicate-element",
                f"{where} holds {len(found)} {name} elements where the standard has one; the first is read",
                found[1],
            )
        return found[0] if found else None

    def value(self, parent: etree._Element | None, name: str, where: str) -> str | None:
        return text_of(self.one(parent, name, where))

    def order(self, parent: etree._Element | None, standard: Sequence[str], where: str) -> None:
        """Report the first child out of the standard's order (names the standard does not list are
        ignored: the writer keeps them after the listed ones)."""
        if parent is None:
            return
        rank = {name: i for i, name in enumerate(standard)}
        best, previous = -1, ""
        for child in elements(parent):
            name = local(child)
            r = rank.get(name)
            if r is None:
                continue
            if r < best:
                self.quirk(
                    "element-order",
                    f"in {where}, {name} comes after {previous}; the standard's order is "
                    + ", ".join(standard),
                    child,
                )
                return
            best, previous = r, name

    def agency(self, code: str | None, where: str, el: etree._Element | None) -> None:
        if code and not is_agency_code(code):
            self.quirk(
                "nonconforming-agency-code",
                f"{where}: agency code {code!r} is not of the form ddd.dd.dd.Xnn; kept as written",
                el,
            )

    def when(
        self,
        el: etree._Element | None,
        where: str,
        formats: Sequence[tuple[str, bool]],
        convert: Callable[[datetime], _T],
    ) -> _T | None:
        text = text_of(el)
        if text is None:
            return None
        for fmt, standard in formats:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if not standard:
                self.quirk(
                    "date-format",
                    f"{where} {text!r} is not written {formats[0][0].replace('%', '')}; read as {fmt}",
                    el,
                )
            return convert(parsed)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.quirk("unreadable-date", f"{where} {text!r} is not a date the hub can read; ignored", el)
            return None
        self.quirk("date-format", f"{where} {text!r} is written in ISO 8601, not the standard's form", el)
        return convert(parsed)

    def date(self, el: etree._Element | None, where: str) -> date | None:
        return self.when(el, where, DATE_FORMATS, lambda d: d.date())

    def timestamp(self, el: etree._Element | None, where: str) -> datetime | None:
        return self.when(
            el, where, TIMESTAMP_FORMATS, lambda t: t if t.tzinfo is not None else t.replace(tzinfo=VIETNAM)
        )
