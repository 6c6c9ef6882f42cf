"""The raw XML intake's metadata: read without the model where the model could only accept it, and
then exactly what the model would have made of it; everything else still goes through the model."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lienthong.intake.raw_xml import RawMetadata, _metadata
from lienthong.intake.rest_models import MessageMetadata

AGENCY = "000.00.00.H49"
BASE = {
    "x-hub-sender-message-id": "m-1",
    "x-hub-kind": "dossier",
    "x-hub-procedure-code": "1.004227",
    "x-hub-dossier-code": "000.00.00.H49-241201-0001",
}
CASES: list[dict[str, str]] = [
    BASE,
    {**BASE, "x-hub-sender": AGENCY, "x-hub-recipient": "G09", "x-hub-document-type": "t"},
    {**BASE, "x-hub-sender-message-id": "x" * 200, "x-hub-document-id": "Đ" * 256},
    {**BASE, "x-hub-sender-message-id": "x" * 201},
    {**BASE, "x-hub-sender-message-id": ""},
    {**BASE, "x-hub-sender": ""},
    {**BASE, "x-hub-recipient": "r" * 65},
    {**BASE, "x-hub-kind": "Dossier"},
    {**BASE, "x-hub-kind": "document"},
    {k: v for k, v in BASE.items() if k != "x-hub-kind"},
    {k: v for k, v in BASE.items() if k != "x-hub-sender-message-id"},
    {**BASE, "x-hub-correlation-id": "8c4d3a9e-3b9f-4a53-9d52-0d3f0c0c2b11"},
    {**BASE, "x-hub-correlation-id": "not-a-uuid"},
    {**BASE, "x-hub-created-at": "2026-12-01T08:00:00+07:00"},
    {**BASE, "x-hub-document-id": "UTF-8''%C4%90-1"},
    {**BASE, **{f"x-hub-header-h{i}": str(i) for i in range(64)}},
    {**BASE, **{f"x-hub-header-h{i}": str(i) for i in range(65)}},
]


def _scope(headers: dict[str, str]) -> dict[str, Any]:
    return {"headers": [(k.encode("latin-1"), v.encode("utf-8")) for k, v in headers.items()]}


def _model(headers: dict[str, str]) -> MessageMetadata | list[Any]:
    """What the model alone makes of these headers (no header error among them)."""
    fields: dict[str, Any] = {"sender": AGENCY}
    entries = {}
    for name, value in _metadata_text(headers).items():
        if name.startswith("x-hub-header-"):
            entries[name.removeprefix("x-hub-header-")] = value
        else:
            fields[name.removeprefix("x-hub-").replace("-", "_")] = value
    if entries:
        fields["headers"] = entries
    try:
        return MessageMetadata.model_validate(fields)
    except ValidationError as exc:
        return [tuple(e["loc"]) for e in exc.errors()]


def _metadata_text(headers: dict[str, str]) -> dict[str, str]:
    """The values as text (the one RFC 8187 value above decoded)."""
    return {k: ("Đ-1" if v.startswith("UTF-8''") else v) for k, v in headers.items()}


@pytest.mark.parametrize("headers", CASES)
def test_metadata_is_what_the_model_accepts(headers: dict[str, str]) -> None:
    expected = _model(headers)
    try:
        got = _metadata(_scope(headers), AGENCY)
    except RequestValidationError as exc:
        assert isinstance(expected, list), exc.errors()
        assert len(exc.errors()) == len(expected)
        return
    assert isinstance(got, RawMetadata)
    assert isinstance(expected, MessageMetadata), expected
    assert {name: getattr(got, name) for name in MessageMetadata.model_fields} == dict(expected)
