"""``hub edxml inspect`` as an auditor runs it: on a file alone, from a folder with no hub configuration,
reading what it prints and its exit code (0 readable, warnings allowed; 2 refused)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from edxml_trust_support import edxml_document, sign_unprefixed

Cli = Callable[..., subprocess.CompletedProcess[str]]
VPCP_DOC = "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
THE_DOCUMENT = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> Path:
    return shared_dir / "testdata" / "edxml"


def inspect(hub_cli: Cli, cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run from ``cwd``, an empty folder: no config/, no hub.yaml, no database."""
    return hub_cli("edxml", "inspect", *args, cwd=cwd)


def self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_the_government_office_document_reads_as_a_person_reads_it(
    hub_cli: Cli, samples: Path, tmp_path: Path
) -> None:
    result = inspect(hub_cli, tmp_path, samples / VPCP_DOC)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"{VPCP_DOC}: văn bản / document")
    rows = {line[:39].strip(): line[39:] for line in lines[1:] if line.startswith("  ") and line[2] != " "}
    assert rows["Nơi gửi / From"] == "000.00.00.G22  Văn phòng Chính phủ"
    assert rows["Nơi nhận / To"] == "000.00.00.H41  UBND Tỉnh Nghệ An"
    assert " " * 39 + "000.00.00.H14  UBND Tỉnh Cao Bằng" in lines
    assert " " * 39 + "000.00.00.G17  Sở Thông tin truyền thông Hải Phòng" in lines
    assert rows["Mã văn bản / Document id"] == THE_DOCUMENT
    assert rows["Số, ký hiệu / Code"] == "7816/VPCP-TTĐT"
    assert rows["Trích yếu / Subject"] == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert rows["Loại văn bản / Type"] == "Công văn (Type 1, TypeDetail 0)"
    assert rows["Nghiệp vụ / Business doc type"] == "0 Văn bản mới / new"
    assert rows["Tệp đính kèm / Attachments"] == "1"
    assert (
        "      cid:209  1896_QD-TTg_m_294779.doc  application/zip  4.1 KiB (4,151 bytes)  sha256 "
        "913d275321151c3408eda5544d2f15c5919666636d57701bd57852f1b34a7c6d"
    ) in lines
    assert rows["Chữ ký số / Signature"].startswith(
        "unverifiable: không kiểm tra được / unverifiable — certificate-unreadable: "
    )
    assert rows["Cảnh báo / Warnings"] == "4"
    assert any(line.startswith("      line 103  signature-unprefixed: ") for line in lines)
    assert any(line.startswith("      line 120  certificate-unreadable: ") for line in lines)
    assert result.stderr == ""


def test_a_status_package_shows_its_code_meaning_and_document(
    hub_cli: Cli, samples: Path, tmp_path: Path
) -> None:
    result = inspect(hub_cli, tmp_path, samples / "status_change-rejection_16.edxml")

    assert result.returncode == 0, result.stderr
    assert "gói tin trạng thái / status package" in result.stdout
    assert (
        "Trạng thái / Status                  16 Từ chối thu hồi/cập nhật/thay thế / refuses" in result.stdout
    )
    assert "Thời điểm / Time                     2015-09-20 11:08:36+07:00" in result.stdout
    assert f"Liên quan / Related                  answers {THE_DOCUMENT}" in result.stdout
    assert "Chữ ký số / Signature                unsigned" in result.stdout
    assert "line 28  status-under-message-header: " in result.stdout


def test_json_is_one_stable_object(hub_cli: Cli, samples: Path, tmp_path: Path) -> None:
    result = inspect(hub_cli, tmp_path, samples / "edoc_revocation.edxml", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "edxml-inspect/1"
    assert report["readable"] is True
    assert report["message_type"] == "edoc"
    assert report["from"]["organ_id"] == "000.00.00.G22"
    assert [o["organ_id"] for o in report["to"]] == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert report["document_id"] == THE_DOCUMENT
    assert report["subject_document_id"] == "000.00.04.G14,2012/08/06,267/VPCP-TTĐT"
    assert report["code"] == {"number": "7816", "notation": "VPCP-TTĐT"}
    assert report["promulgation"] == {"place": "Hà Nội", "date": "2018-09-28"}
    assert (report["business"]["doc_type"], report["business"]["name_en"]) == ("1", "revoke")
    assert report["related"] == [
        {"relation": "answers", "document_id": "000.00.04.G14,2012/08/06,267/VPCP-TTĐT", "organ_ids": []}
    ]
    (attachment,) = report["attachments"]
    assert (attachment["size"], attachment["size_human"]) == (270823, "264.5 KiB (270,823 bytes)")
    assert attachment["referenced"] is True
    assert report["signature"]["namespace"] == "http://www.mic.gov.vn/TBT/QCVN_102_2016"
    assert report["signature"]["verdict"]["state"] == "unverifiable"
    assert report["signature"]["verdict"]["reason"] == "certificate-unreadable"
    assert report["status"] is None
    assert {q["code"] for q in report["quirks"]} == {
        "element-order",
        "signature-unprefixed",
        "legacy-signature-algorithm",
        "certificate-unreadable",
    }
    assert all(isinstance(q["line"], int) for q in report["quirks"])


def test_json_of_a_status_package_names_code_and_meaning(hub_cli: Cli, samples: Path, tmp_path: Path) -> None:
    report = json.loads(inspect(hub_cli, tmp_path, samples / "status_inbox_01.edxml", "--json").stdout)

    assert report["message_type"] == "status"
    assert report["status"]["code"] == "01"
    assert (report["status"]["meaning_vi"], report["status"]["meaning_en"]) == ("Đã đến", "arrived")
    assert report["status"]["timestamp"] == "2015-09-20T11:08:36+07:00"
    assert report["response_for"][0]["document_id"] == THE_DOCUMENT
    assert report["signature"]["verdict"]["state"] == "unsigned"


def test_the_malformed_sample_is_refused_with_line_and_column(
    hub_cli: Cli, samples: Path, tmp_path: Path
) -> None:
    result = inspect(hub_cli, tmp_path, samples / "edoc.edxml")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "refused / bị từ chối: edoc.edxml is not well-formed XML at line 74, column 29: "
        "Opening and ending tag mismatch: From line 7 and MessageHeader"
    )

    as_json = inspect(hub_cli, tmp_path, samples / "edoc.edxml", "--json")
    assert as_json.returncode == 2
    report = json.loads(as_json.stdout)
    assert report["readable"] is False
    assert report["error"]["code"] == "edxml-invalid"
    assert report["error"]["title"] == {"vi": "Văn bản edXML không hợp lệ", "en": "Invalid edXML document"}
    assert (report["error"]["line"], report["error"]["column"]) == (74, 29)


def test_a_document_without_sender_is_refused_naming_the_element(hub_cli: Cli, tmp_path: Path) -> None:
    data = edxml_document().replace(b"<edXML:OrganId>000.00.00.G22</edXML:OrganId>", b"", 1)
    path = tmp_path / "no-sender.edxml"
    path.write_bytes(data)

    result = inspect(hub_cli, tmp_path, path, "--json")

    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["element"] == "MessageHeader/From/OrganId"
    assert error["message"] == "no-sender.edxml: MessageHeader/From/OrganId is missing or empty (line 6)"


def test_a_signature_is_checked_against_its_own_certificate(hub_cli: Cli, tmp_path: Path) -> None:
    key, cert = self_signed("Van phong Chinh phu (test)")
    signed = sign_unprefixed(edxml_document(), key, [cert])
    good, tampered = tmp_path / "signed.edxml", tmp_path / "tampered.edxml"
    good.write_bytes(signed)
    tampered.write_bytes(signed.replace(b"<edXML:CodeNumber>123<", b"<edXML:CodeNumber>124<", 1))

    valid = json.loads(inspect(hub_cli, tmp_path, good, "--json").stdout)["signature"]
    assert valid["verdict"]["state"] == "valid-untrusted"
    assert valid["verdict"]["signer_subject"] == "CN=Van phong Chinh phu (test)"
    assert valid["certificate_subject"] == "CN=Van phong Chinh phu (test)"

    text = inspect(hub_cli, tmp_path, good).stdout
    assert (
        "not checked against any trust anchor; signed by CN=Van phong Chinh phu (test) (rsa-sha256)" in text
    )

    result = inspect(hub_cli, tmp_path, tampered)
    assert result.returncode == 0  # readable: the verdict is reported, the file is not refused
    assert "Chữ ký số / Signature                invalid: không hợp lệ / invalid — digest-mismatch: " in (
        result.stdout
    )
