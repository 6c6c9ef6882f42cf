"""``jsonxml.loads`` refuses JSON nested deeper than the limit, counting brackets outside strings
only; the scan a character at a time runs only when the text holds more brackets than the limit."""

from __future__ import annotations

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
