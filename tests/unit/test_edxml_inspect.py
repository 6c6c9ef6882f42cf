"""The inspect report, in process: every sample renders as text and as the documented JSON object;
sizes read as a person compares them; related documents say how they are related."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from lienthong.edxml.inspect import (
    FORMAT,
    Related,
    human_size,
    inspect_file,
    related,
    render_json,
    render_text,
)
from lienthong.edxml.read import read_edxml

SAMPLES = (
    "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml",
    "edoc_new.edxml",
    "edoc_revocation.edxml",
    "edoc_update.edxml",
    "edoc_replacement.edxml",
    "status.edxml",
    "status_inbox_01.edxml",
    "status_rejection_02.edxml",
    "status_acceptance_03.edxml",
    "status_assignment_04.edxml",
    "status_processing_05.edxml",
    "status_finish_06.edxml",
    "status_cancellation_13.edxml",
    "status_change-acceptance_15.edxml",
    "status_change-rejection_16.edxml",
)
#: The top-level keys of the JSON object of a readable file, as docs/edxml.md lists them.
KEYS = {
    "format", "file", "readable", "message_type", "from", "to", "document_id", "subject_document_id",
    "code", "promulgation", "document_type", "subject", "content", "signer", "due_date", "priority",
    "steering_type", "business", "related", "response_for", "status", "traces", "attachments",
    "signature", "quirks",
}  # fmt: skip


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> Path:
    return shared_dir / "testdata" / "edxml"


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_renders_as_text_and_as_the_documented_json(samples: Path, name: str) -> None:
    inspection = inspect_file(samples / name)

    assert inspection.readable
    report = json.loads(render_json(inspection))
    assert set(report) == KEYS
    assert report["format"] == FORMAT
    assert set(report["signature"]) == {"algorithm", "namespace", "certificate_subject", "verdict"}
    assert len(report["quirks"]) == len(inspection.message.quirks if inspection.message else ())
    text = render_text(inspection)
    kind = "gói tin trạng thái / status package" if name.startswith("status") else "văn bản / document"
    assert text.splitlines()[0] == f"{samples / name}: {kind}"
    assert f"Cảnh báo / Warnings                  {len(report['quirks'])}" in text


def test_a_refused_file_is_an_answer_not_an_exception(samples: Path) -> None:
    inspection = inspect_file(samples / "edoc.edxml")

    assert not inspection.readable
    report = json.loads(render_json(inspection))
    assert set(report) == {"format", "file", "readable", "error"}
    assert report["error"]["element"] is None
    assert render_text(inspection).startswith(
        "refused / bị từ chối: edoc.edxml is not well-formed XML at line 74"
    )


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (4151, "4.1 KiB (4,151 bytes)"),
        (52428800, "50.0 MiB (52,428,800 bytes)"),
    ],
)
def test_sizes_read_as_people_compare_them(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_related_documents_say_how(samples: Path) -> None:
    def of(name: str) -> tuple[Related, ...]:
        return related(read_edxml((samples / name).read_bytes()))

    assert of("edoc_update.edxml") == (Related("updates", "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"),)
    assert of("edoc_revocation.edxml") == (Related("answers", "000.00.04.G14,2012/08/06,267/VPCP-TTĐT"),)
    assert of("edoc_new.edxml") == ()
    assert of("status_cancellation_13.edxml") == (
        Related("answers", "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"),
    )


# ---------------------------------------------------------------- docs/edxml.md says what the code does

DOCS = Path(__file__).resolve().parents[2] / "docs" / "edxml.md"
HUB = Path(__file__).resolve().parents[2] / "hub"


def test_the_documented_sample_output_is_what_inspect_prints(samples: Path) -> None:
    name = "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
    shown = f"../shared/testdata/edxml/{name}"
    docs = DOCS.read_text(encoding="utf-8")
    start = docs.index(f"$ hub edxml inspect {shown}\n") + len(f"$ hub edxml inspect {shown}\n")
    documented = docs[start : docs.index("\n$ hub edxml inspect", start)]

    printed = render_text(replace(inspect_file(samples / name), file=shown))

    assert documented == printed


def test_every_json_key_and_every_quirk_code_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    json_section = docs[docs.index("### The JSON object") :]
    assert all(f"`{key}" in json_section for key in KEYS)
    emitted = {
        code
        for path in (HUB / "edxml").glob("*.py")
        for code in re.findall(r'[qQ]uirk\(\s*"([a-z0-9-]+)"', path.read_text(encoding="utf-8"))
    }
    assert {"element-order", "certificate-unreadable", "status-under-message-header"} <= emitted
    undocumented = {code for code in emitted if f"`{code}`" not in docs}
    assert not undocumented


def test_a_document_with_an_attachment_beyond_libxml2s_text_cap_is_inspected(tmp_path: Path) -> None:
    """An attachment of 12 MB is 16 MB of base64 in one text node, over libxml2's usual 10 MB cap:
    inspect reads it as intake takes an official document, not refused as too large."""
    from lienthong.edxml.build import build_document
    from lienthong.edxml.model import Organ
    from lienthong.xml import serialize

    content = b"%PDF-1.7\n" + bytes(12 * 1024 * 1024)
    root = build_document(
        sender=Organ("000.00.00.H49", name="UBND tỉnh Quảng Ninh"),
        recipients=[Organ("000.00.00.G06", name="Bộ Tài chính")],
        code_number="12",
        code_notation="UBND-VP",
        subject="Báo cáo kèm phụ lục lớn",
        attachments=[("phu-luc.pdf", "application/pdf", content)],
    )
    path = tmp_path / "large.edxml"
    path.write_bytes(serialize(root))
    inspection = inspect_file(path)
    assert inspection.error is None
    assert inspection.message is not None
    [attachment] = inspection.message.attachments
    assert attachment.size == len(content)
