"""``OneShotEncoder``: the C encoder kept per thread instead of json's one per call writes what
``json.dumps`` writes with the same options, refuses what it refuses with the same words, and a
refusal midway (its containers left in the circular check) spoils no later call. Its users:
``jsonxml.dumps`` (every JSON the hub sends) and the auditor's ``canonical`` (every log entry, whose
bytes tests/unit/test_audit_entry_bytes.py pins)."""

from __future__ import annotations

import json
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from lienthong.audit.entries import canonical
from lienthong.jsonxml import OneShotEncoder, _number, dumps


def _values(*, circular: bool = True) -> list[Any]:
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
    if circular:  # refused with check_circular; without, the recursion limit is the only stop
        loop: dict[str, Any] = {"x": 1}
        loop["self"] = [loop]
        values.append({"outer": loop})
    return values


def _outcome(encode: Any, value: Any) -> tuple[str, Any]:
    try:
        return "bytes", encode(value)
    except Exception as exc:
        return type(exc).__name__, str(exc)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_number).encode("utf-8")


def _canonical(value: Any) -> bytes:
    options: dict[str, Any] = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
    return json.dumps(value, allow_nan=False, **options).encode("utf-8")


#: Each user of the encoder, with what json.dumps writes for its options.
USERS = [pytest.param(dumps, _dumps, id="jsonxml.dumps"), pytest.param(canonical, _canonical, id="canonical")]


@pytest.mark.parametrize(("encode", "reference"), USERS)
def test_it_writes_and_refuses_what_json_dumps_does(encode: Any, reference: Any) -> None:
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


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ensure_ascii": False},
        {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False, "allow_nan": False},
        {"check_circular": False, "skipkeys": True, "sort_keys": True},
        {"indent": 2, "ensure_ascii": False},  # no C encoder for indented JSON: encode() itself
    ],
)
def test_a_one_shot_encoder_is_its_encoder(options: dict[str, Any]) -> None:
    encoder = json.JSONEncoder(**options, default=_number)
    one_shot = OneShotEncoder(encoder)
    for value in _values(circular=options.get("check_circular", True)):
        assert _outcome(one_shot, value) == _outcome(encoder.encode, value), (options, value)


@pytest.mark.parametrize(("encode", "reference"), USERS)
def test_each_thread_has_its_own(encode: Any, reference: Any) -> None:
    values = [v for v in _values() if _outcome(reference, v)[0] == "bytes"] * 20
    expected = [reference(v) for v in values]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(encode, values)) == expected
