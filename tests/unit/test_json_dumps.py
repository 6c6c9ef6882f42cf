"""``jsonxml.dumps`` with its encoder built once, not per call as ``json.dumps`` builds it: the same
bytes as ``json.dumps`` with the same options for every value, hostile ones included, the same
refusals in the same words, before and after a refusal and from several threads at once."""

from __future__ import annotations

import json
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from lienthong.jsonxml import _number, dumps


def _values() -> list[Any]:
    nfd = unicodedata.normalize("NFD", "Sở Tài nguyên")
    texts = ["", "Hồ sơ", nfd, "\u2028", "\U0001d518", '"\\/\b\f\n\r\t', "\x00\x1f\x7f", "x" * 3000]
    values: list[Any] = [None, True, 0, -1, 10**40, 1.5, -0.0, "", "Hồ sơ", [], {}, [[]], {"b": 1, "a": 2}]
    values += [
        Decimal("1"),
        Decimal("1.50"),
        Decimal("-12345678901234567890"),
        Decimal("1E+3"),
        Decimal("0.1"),
    ]
    values += [Decimal("NaN"), float("inf"), {"n": [Decimal("2.5"), Decimal("7")]}]
    for number, text in enumerate(texts):
        values.append({text: text, "n": number, "d": Decimal(number) / 4, "l": [text, None, False]})
    values.append({"deep": [[[[[[[[{"x": Decimal("1.25")}]]]]]]]], "tuple": (1, "2")})
    values.append({"lone surrogate": "\ud800"})  # written, then not UTF-8
    values.append({"a": {"b": [{1, 2}]}})  # not JSON: _number refuses it
    values.append({1: "int key", None: "null key", 2.5: "float key"})  # as strings, unless sorted
    values.append({1: "int key", "1": "str key"})  # sort_keys cannot order them
    values.append({"a": {(1, 2): "tuple key"}})  # refused (skipkeys is off)
    loop: dict[str, Any] = {"x": 1}
    loop["self"] = [loop]
    values.append({"outer": loop})  # circular
    return values


def _outcome(encode: Any, value: Any) -> tuple[str, Any]:
    try:
        return "bytes", encode(value)
    except Exception as exc:
        return type(exc).__name__, str(exc)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_number).encode("utf-8")


def test_it_writes_and_refuses_what_json_dumps_does() -> None:
    encode, reference = dumps, _dumps
    values = _values()
    for _ in range(2):  # the second time round, after every refusal of the first
        for value in values:
            assert _outcome(encode, value) == _outcome(reference, value), value
    inner: dict[str, Any] = {"b": [{1}]}
    assert _outcome(encode, {"a": inner})[0] == "TypeError"
    inner["b"] = [float("nan")]
    assert _outcome(encode, {"a": inner})[0] == _outcome(reference, {"a": inner})[0]
    inner["b"] = [1]  # the same dict again, now fine: no stale circular mark
    assert encode({"a": inner, "c": [inner]}) == b'{"a":{"b":[1]},"c":[{"b":[1]}]}'


def test_one_encoder_serves_every_thread() -> None:
    values = [v for v in _values() if _outcome(_dumps, v)[0] == "bytes"] * 20
    expected = [_dumps(v) for v in values]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(dumps, values)) == expected
