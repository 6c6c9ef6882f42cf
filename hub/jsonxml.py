"""JSON inside the hub, as XML: the W3C "XML representation of JSON" (XPath Functions 3.1, §17.5).

Ministries and portals speak JSON (justice's civil status service, the national portal), yet routes,
dossier-code XPaths, XSD-free validation and XSLT mappings all work on XML trees. Rather than invent a
second set of tools, a JSON body is read into the standard XML vocabulary that XSLT 3.0's
``json-to-xml()`` produces::

    {"MaHoSo": "000.00.00.H49-261121-0001", "TaiLieuNop": [{"IsDeleted": false}]}

    <map xmlns="http://www.w3.org/2005/xpath-functions">
      <string key="MaHoSo">000.00.00.H49-261121-0001</string>
      <array key="TaiLieuNop"><map><boolean key="IsDeleted">false</boolean></map></array>
    </map>

and a mapping that produces that vocabulary produces JSON (``xml-to-json()``). The stored payload
stays the exact JSON bytes received or sent; the tree is only how the hub looks at them.

Reading is bounded like XML parsing: size, nesting depth, and duplicate keys (which JSON parsers
resolve differently, so a body with them means different things to different systems) are refused.
"""

from __future__ import annotations

import codecs
import json
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from lxml import etree

from lienthong.errors import InvalidMessageError, TranslationError
from lienthong.xml import DEFAULT_LIMITS, XmlLimits

__all__ = [
    "JSON_CONTENT_TYPE",
    "JSON_NS",
    "dumps",
    "is_json_content_type",
    "is_json_tree",
    "json_to_tree",
    "loads",
    "tree_to_json",
    "tree_to_value",
    "value_to_tree",
]

JSON_NS: Final = "http://www.w3.org/2005/xpath-functions"
JSON_CONTENT_TYPE: Final = "application/json"
_MAP: Final = f"{{{JSON_NS}}}map"
_ARRAY: Final = f"{{{JSON_NS}}}array"
_STRING: Final = f"{{{JSON_NS}}}string"
_NUMBER: Final = f"{{{JSON_NS}}}number"
_BOOLEAN: Final = f"{{{JSON_NS}}}boolean"
_NULL: Final = f"{{{JSON_NS}}}null"


class _DuplicateKeyError(ValueError):
    """A key twice in one object: JSON parsers disagree on which value wins, so neither does."""


def is_json_content_type(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base == JSON_CONTENT_TYPE or base.endswith("+json")


def is_json_tree(root: etree._Element) -> bool:
    """True for a tree in the JSON vocabulary (a mapping's output that is to be sent as JSON)."""
    return root.tag in (_MAP, _ARRAY)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict, refusing a key given twice (naming the first repeated).

    ``dict(pairs)`` (in C) builds the same dict as adding the pairs one by one; only when it came out
    shorter than the pairs was a key repeated, and the loop finds which, for the same message."""
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKeyError(f"the key {key!r} appears twice in one object")
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means a repeated key")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: What ``json.loads(text, object_pairs_hook=..., ...)`` builds on every call (~10 µs), built once: a
#: decoder keeps nothing between calls (json's own default one is shared by every thread).
_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_float=Decimal, parse_constant=_no_constants
)


def loads(data: bytes, *, limits: XmlLimits = DEFAULT_LIMITS, what: str = "payload") -> Any:
    """Parse JSON bytes, bounded; numbers stay exact (Decimal), duplicate keys and NaN are refused.

    Raises InvalidMessageError naming ``what``."""
    if len(data) > limits.max_bytes:
        raise InvalidMessageError(
            f"{what}: JSON of {len(data)} bytes exceeds the limit of {limits.max_bytes}"
        )
    try:
        # The same text as decoding with utf-8-sig, whose codec is Python, only where there is a BOM.
        text = data.decode("utf-8-sig") if data.startswith(codecs.BOM_UTF8) else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessageError(f"{what}: JSON must be UTF-8 ({exc})") from exc
    if text.count("[") + text.count("{") > limits.max_depth:  # else no nesting can be that deep
        _check_depth(text, limits.max_depth, what)
    try:
        if text.startswith("\ufeff"):  # a second BOM: refused as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidMessageError(f"{what}: not valid JSON: {exc}") from exc


def _check_depth(text: str, max_depth: int, what: str) -> None:
    """Refuse nesting deeper than ``max_depth`` before the recursive parser sees it.

    A character at a time in Python: ~60 µs a kilobyte, more than parsing the JSON, so it runs only
    for a text with more brackets than ``max_depth`` (the hub's own payloads have a handful)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                raise InvalidMessageError(f"{what}: JSON nested deeper than {max_depth} levels")
        elif ch in "]}":
            depth -= 1


#: The vocabulary as the default namespace; lxml-stubs type nsmap keys as str only.
_NSMAP: Final[Any] = {None: JSON_NS}


def _new(tag: str) -> etree._Element:
    return etree.Element(tag, nsmap=_NSMAP)


def value_to_tree(value: Any, key: str | None = None) -> etree._Element:
    """A Python JSON value (as :func:`loads` returns it) as the XML representation of JSON."""
    if isinstance(value, dict):
        el = _new(_MAP)
        for k, v in value.items():
            el.append(value_to_tree(v, k))
    elif isinstance(value, list):
        el = _new(_ARRAY)
        for v in value:
            el.append(value_to_tree(v))
    elif isinstance(value, bool):
        el = _new(_BOOLEAN)
        el.text = "true" if value else "false"
    elif value is None:
        el = _new(_NULL)
    elif isinstance(value, int | Decimal | float):
        el = _new(_NUMBER)
        el.text = str(value)
    elif isinstance(value, str):
        el = _new(_STRING)
        el.text = value
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")
    if key is not None:
        el.set("key", key)
    return el


def json_to_tree(data: bytes, *, limits: XmlLimits = DEFAULT_LIMITS, what: str = "payload") -> etree._Element:
    """JSON bytes as the XML representation of JSON. Raises InvalidMessageError."""
    try:
        return value_to_tree(loads(data, limits=limits, what=what))
    except ValueError as exc:  # lxml refuses control characters in text
        raise InvalidMessageError(f"{what}: JSON text cannot be represented: {exc}") from exc


def tree_to_value(el: etree._Element) -> Any:
    """The JSON value an XML representation of JSON stands for. Raises TranslationError for a tree
    outside the vocabulary (a mapping's mistake, reported with the element's name)."""
    tag = el.tag
    if tag == _MAP:
        out: dict[str, Any] = {}
        for child in _children(el):
            key = child.get("key")
            if key is None:
                raise TranslationError(f"JSON output: a member of an object has no 'key' ({child.tag})")
            if key in out:
                raise TranslationError(f"JSON output: the key {key!r} appears twice in one object")
            out[key] = tree_to_value(child)
        return out
    if tag == _ARRAY:
        return [tree_to_value(child) for child in _children(el)]
    text = el.text or ""
    if tag == _STRING:
        return text
    if tag == _NUMBER:
        try:
            number = Decimal(text.strip())
        except InvalidOperation as exc:
            raise TranslationError(f"JSON output: {text!r} is not a number") from exc
        if not number.is_finite():
            raise TranslationError(f"JSON output: {text!r} is not a JSON number")
        return number
    if tag == _BOOLEAN:
        if text.strip() not in ("true", "false", "1", "0"):
            raise TranslationError(f"JSON output: {text!r} is not a boolean")
        return text.strip() in ("true", "1")
    if tag == _NULL:
        return None
    raise TranslationError(f"JSON output: {tag} is not an element of the JSON vocabulary ({JSON_NS})")


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON with Vietnamese text as itself, not ``\\u`` escapes.

    An integral Decimal is written as an integer; any other as the shortest float that reads back
    as the same number (amounts in đồng are integers; nothing here needs more than 15 digits)."""
    # The encoder asks _number only for what JSON has no type for, so the value is not copied first.
    return _DUMPS(value).encode("utf-8")


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: What ``json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_number)`` builds on
#: every call (an encoder's constructor is Python: ~1 µs of a portal JSON's ~14), built once. The
#: same class with the same options, so the same bytes (tests/unit/test_json_dumps.py).
_DUMPS: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_number).encode


def tree_to_json(el: etree._Element) -> bytes:
    """A tree in the JSON vocabulary as JSON bytes. Raises TranslationError."""
    return dumps(tree_to_value(el))
