"""Generated reference material in the repository must match what the code generates today."""

from __future__ import annotations

from pathlib import Path

from lienthong.config.reference import configuration_reference

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "reference" / "configuration.md").read_text(encoding="utf-8")
    assert committed == configuration_reference(), "run: hub config reference"


def test_reference_documents_every_adapter_key() -> None:
    text = configuration_reference()
    for key in ("endpoint", "input_schema", "`schema`", "mapping", "max_attempts", "failure_threshold"):
        assert key in text
