"""``jsonxml.loads``: JSON nested deeper than the limit is refused, counting brackets outside strings
only (the scan a character at a time runs only when the text holds more brackets than the limit);
one BOM is read past, text that is not UTF-8 or JSON is refused with the same words as ever."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lienthong.errors import InvalidMessageError
from lienthong.jsonxml import loads
from lienthong.xml import XmlLimits

LIMITS = XmlLimits(max_depth=4)


def test_nesting_up_to_the_limit_is_read() -> None:
    assert loads(b'{"a":[[{"b":1}]]}', limits=LIMITS) == {"a": [[{"b": 1}]]}


@pytest.mark.parametrize("text", [b'{"a":[[{"b":[1]}]]}', b"[" * 5 + b"]" * 5, b"[[[[[" * 2])
def test_nesting_past_the_limit_is_refused_before_parsing(text: bytes) -> None:
    with pytest.raises(InvalidMessageError, match="nested deeper than 4 levels"):
        loads(text, limits=LIMITS)


def test_brackets_inside_strings_do_not_count() -> None:
    text = b'{"a":"[[[[[{{{{{","b":["\\"[[[["]}'
    assert loads(text, limits=LIMITS) == {"a": "[[[[[{{{{{", "b": ['"[[[[']}


def test_many_brackets_side_by_side_are_not_deep() -> None:
    assert loads(b"[" + b",".join([b"[]"] * 10) + b"]", limits=LIMITS) == [[]] * 10


def test_broken_json_with_few_brackets_is_still_refused_as_broken() -> None:
    with pytest.raises(InvalidMessageError, match="not valid JSON"):
        loads(b'{"a": [1, }', limits=LIMITS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xef\xbb\xbf\xef\xbb\xbf{}", "not valid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig)"),
        (b"{\xff}", "JSON must be UTF-8 ('utf-8' codec can't decode byte 0xff in position 1"),
        (b"\xef\xbb\xbf{\xff}", "JSON must be UTF-8 ('utf-8' codec can't decode byte 0xff in position 1"),
        (b'{"a":1,"a":2}', "not valid JSON: the key 'a' appears twice in one object"),
        (b"[NaN]", "not valid JSON: NaN is not JSON"),
        (b'{"a":1} x', "not valid JSON: Extra data: line 1 column 9 (char 8)"),
    ],
)
def test_what_is_not_utf8_json_is_refused_in_the_same_words(data: bytes, message: str) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        loads(data)
    assert caught.value.message.startswith(f"payload: {message}")


def test_one_bom_is_read_past_and_numbers_stay_exact() -> None:
    assert loads(b'\xef\xbb\xbf{"a":1.10,"b":[2]}') == {"a": Decimal("1.10"), "b": [2]}


@pytest.mark.parametrize(
    ("data", "repeated"),
    [
        (b'{"a":1,"b":2,"b":3,"a":4}', "b"),
        (b'{"a":1,"b":2,"a":3,"b":4}', "a"),
        (b'{"x":{"k":1,"k":2},"x":3}', "k"),  # the inner object is built (and refused) first
        (b'[{"a":1},{"b":1,"c":2,"c":3}]', "c"),
    ],
)
def test_the_first_repeated_key_is_the_one_named(data: bytes, repeated: str) -> None:
    with pytest.raises(InvalidMessageError, match=f"the key '{repeated}' appears twice"):
        loads(data)


def test_objects_keep_their_members_in_order() -> None:
    assert list(loads(b'{"z":1,"a":{"y":2,"b":3},"m":4}')) == ["z", "a", "m"]
    assert list(loads(b'{"z":1,"a":{"y":2,"b":3}}')["a"]) == ["y", "b"]
