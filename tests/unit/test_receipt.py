"""The 202's JSON written without pydantic (``Receipt.json``, the lean submit's) is byte for byte
pydantic's JSON of the ``Accepted`` model the FastAPI route returns, whatever text it carries."""

from __future__ import annotations

import json
import uuid
from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.intake.rest_models import Accepted, Receipt, RouteView
from lienthong.store import RouteDecision, RouteStatus

#: Any Unicode text but lone surrogates (no header, configuration or route holds one: none is UTF-8).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
HOSTILE = [
    "",
    '"',
    "\\",
    "</script>",
    "\x00\x01\x1f\x7f\x80\x9f",
    "\b\f\n\r\t",
    "\u2028\u2029",
    "Đất đai — 土地 😀",
    "\ufeff\ufffe\uffff",
    "'; DROP TABLE messages; --",
    "a" * 1000,
]


def pydantic_json(receipt: Receipt) -> bytes:
    model = receipt.model()
    return model.__pydantic_serializer__.to_json(model)


def receipt(
    sender_id: str, rule: str | None, targets: tuple[str, ...], reason: str, url: str, *, duplicate: bool
) -> Receipt:
    status = RouteStatus.ROUTED if targets else RouteStatus.UNROUTABLE
    return Receipt(
        message_id=uuid.uuid4(),
        sender_message_id=sender_id,
        correlation_id=uuid.uuid5(uuid.NAMESPACE_URL, sender_id),
        status_url=url,
        duplicate=duplicate,
        route=RouteDecision(status=status, rule=rule, targets=targets, reason=reason),
    )


def test_the_fields_are_the_models_in_its_order() -> None:
    assert [f.name for f in fields(Receipt)] == list(Accepted.model_fields)
    sample = receipt("m-1", "land-transfer", ("land", "dvcqg"), "matched", "http://h/x", duplicate=False)
    assert list(json.loads(sample.json())) == list(Accepted.model_fields)
    assert list(json.loads(sample.json())["route"]) == list(RouteView.model_fields)


def test_hostile_text_is_written_as_pydantic_writes_it() -> None:
    for text in HOSTILE:
        for rule in (text, None):
            sample = receipt(text, rule, (text, "land"), text, f"https://hub.example/{text}", duplicate=True)
            assert sample.json() == pydantic_json(sample), repr(text)
        unroutable = receipt(text, None, (), text, "http://[::1]:8080", duplicate=False)
        assert unroutable.json() == pydantic_json(unroutable)


def test_every_code_point_is_escaped_as_pydantic_escapes_it() -> None:
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(points), 4096):
        text = "".join(points[start : start + 4096])
        sample = receipt(text, text, (text,), text, text, duplicate=False)
        assert sample.json() == pydantic_json(sample), start


@settings(max_examples=300, deadline=None)
@given(
    sender_id=TEXT,
    rule=st.none() | TEXT,
    targets=st.lists(TEXT, max_size=4).map(tuple),
    reason=TEXT,
    url=TEXT,
    duplicate=st.booleans(),
)
def test_any_receipt_is_written_as_pydantic_writes_it(
    sender_id: str, rule: str | None, targets: tuple[str, ...], reason: str, url: str, duplicate: bool
) -> None:
    sample = receipt(sender_id, rule, targets, reason, url, duplicate=duplicate)
    assert sample.json() == pydantic_json(sample)
