"""Vietnamese text: the legacy decoders, detection, and NFC of XML and JSON payloads at intake.

Legacy samples are hand-built byte strings, written from each encoding's table, then read the way the
hub meets them: as Windows-1252 characters (what an old system produced when it read the bytes as such).
"""

from __future__ import annotations

import json
import textwrap
import unicodedata
from pathlib import Path

import pytest
from lxml import etree

from lienthong.config.files import load_configuration
from lienthong.errors import ConfigError, InvalidMessageError, LegacyTextError
from lienthong.intake.text import LEGACY_HEADER, NFC_HEADER, TextIntake
from lienthong.vncodecs import decode, legacy_bytes
from lienthong.vndetect import detect, is_vietnamese
from lienthong.xml import parse_xml

NAMES = ("Quảng Ninh", "Nguyễn Thị Hường", "Đặng Văn Lâm")

#: The three names, byte by byte from each encoding's table.
LEGACY: dict[str, tuple[bytes, bytes, bytes]] = {
    # TCVN3: ả B6, ễ D4, ị DE, ư AD, ờ EA, Đ A7, ặ C6, ă A8, â A9.
    "tcvn3": (b"Qu\xb6ng Ninh", b"Nguy\xd4n Th\xde H\xad\xeang", b"\xa7\xc6ng V\xa8n L\xa9m"),
    # VNI: a+FB ả, e+E3 ễ, F2 ị, F6 ư, F4+F8 ờ, D1 Đ, a+EB ặ, a+EA ă, a+E2 â.
    "vni": (
        b"Qua\xfbng Ninh",
        b"Nguye\xe3n Th\xf2 H\xf6\xf4\xf8ng",
        b"\xd1a\xebng Va\xean La\xe2m",
    ),
    # VISCII (RFC 1456): ả E4, ễ AD, ị B8, ư DF, ờ B6, Đ D0, ặ A3, ă E5, â E2.
    "viscii": (b"Qu\xe4ng Ninh", b"Nguy\xadn Th\xb8 H\xdf\xb6ng", b"\xd0\xa3ng V\xe5n L\xe2m"),
    # Windows-1258: letters (ă E3, â E2, ê EA, ư FD, ơ F5, Đ D0) and tones: hook D2, tilde DE, dot F2.
    "cp1258": (
        b"Qua\xd2ng Ninh",
        b"Nguy\xea\xden Thi\xf2 H\xfd\xf5\xccng",
        b"\xd0\xe3\xf2ng V\xe3n L\xe2m",
    ),
}


def as_windows_1252(data: bytes) -> str:
    """What an old system made of the bytes: Windows-1252, its five holes read as Latin-1."""
    return "".join(
        chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("cp1252") for b in data
    )


# ---------------------------------------------------------------- decoders and detection


@pytest.mark.parametrize("encoding", sorted(LEGACY))
def test_each_legacy_encoding_decodes_to_nfc(encoding: str) -> None:
    for name, data in zip(NAMES, LEGACY[encoding], strict=True):
        text = decode(data, encoding)  # type: ignore[arg-type]
        assert text == name
        assert unicodedata.is_normalized("NFC", text)
        assert legacy_bytes(as_windows_1252(data)) == data


@pytest.mark.parametrize("encoding", sorted(LEGACY))
def test_detection_finds_the_encoding_of_mojibake(encoding: str) -> None:
    for name, data in zip(NAMES, LEGACY[encoding], strict=True):
        found = detect(as_windows_1252(data))
        assert (found.verdict, found.text) == (encoding, name)


@pytest.mark.parametrize("name", NAMES)
def test_unicode_text_composed_or_not_is_left_as_unicode(name: str) -> None:
    for form in ("NFC", "NFD"):
        found = detect(unicodedata.normalize(form, name))
        assert (found.verdict, found.text) == ("unicode", name)
    assert detect("000.00.00.H49-261121-0001").verdict == "unicode"


def test_text_that_reads_as_vietnamese_in_no_encoding_is_undecodable() -> None:
    assert detect("Nguyen ×÷").verdict == "undecodable"


def test_unicode_that_a_legacy_table_could_also_read_is_not_rewritten_on_a_guess() -> None:
    # "Cà Mau" is Latin-1 only: TCVN3 would read it as "CỔ Mau", a plausible but less familiar text.
    assert detect("Cà Mau") == detect("Cà Mau", ("tcvn3",), named=True)
    assert detect("Cà Mau").verdict == "unicode"


def test_a_named_encoding_settles_what_auto_detection_leaves_open() -> None:
    text = as_windows_1252(b"H\xd5 Long")  # VISCII "Hạ Long" reads as "HÕ Long", itself plausible
    assert detect(text).verdict == "ambiguous"
    assert detect(text, ("viscii",), named=True).text == "Hạ Long"


def test_syllable_rules_tell_vietnamese_from_accidents() -> None:
    assert is_vietnamese("Chuyển nhượng quyền sử dụng đất, Hoà hay Hòa, khuya, giường")
    assert not is_vietnamese("Nghóa")  # ngh only before e, ê, i
    assert not is_vietnamese("Haò")  # the tone belongs on the a
    assert not is_vietnamese("Tõy")  # no rhyme "oy"
    assert not is_vietnamese("mặt̀")  # two tones


# ---------------------------------------------------------------- XML payloads

HOSO = "urn:lienthong:province:hoso:1"


def xml_payload(name: str, *, address: str = "Quảng Ninh") -> bytes:
    return (
        f"<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<HoSo xmlns="{HOSO}" ghiChu="{address}"><ChuHoSo>{name}</ChuHoSo><DiaChi>{address}</DiaChi></HoSo>'
    ).encode()


def test_an_nfc_payload_is_kept_byte_for_byte() -> None:
    payload = xml_payload("Nguyễn Thị Hường")
    outcome = TextIntake().xml(payload, parse_xml(payload), "000.00.00.H49", signed=False)
    assert outcome.payload is payload
    assert outcome.headers == {}


def test_an_unsigned_nfd_payload_is_stored_in_nfc() -> None:
    nfd = unicodedata.normalize("NFD", xml_payload("Nguyễn Thị Hường").decode()).encode()
    tree = parse_xml(nfd)
    outcome = TextIntake().xml(nfd, tree, "000.00.00.H49", signed=False)
    assert outcome.payload == xml_payload("Nguyễn Thị Hường")
    assert outcome.headers == {NFC_HEADER: "normalised"}
    assert tree.get("ghiChu") == "Quảng Ninh"  # attribute values too


def test_a_signed_nfd_payload_keeps_its_bytes_and_the_hub_acts_on_nfc() -> None:
    nfd = unicodedata.normalize("NFD", xml_payload("Đặng Văn Lâm").decode()).encode()
    acted = parse_xml(nfd)
    outcome = TextIntake().xml(nfd, acted, "000.00.00.H49", signed=True)
    assert outcome.payload is nfd
    assert outcome.headers == {NFC_HEADER: "signed-not-nfc"}
    assert acted.findtext(f"{{{HOSO}}}ChuHoSo") == "Đặng Văn Lâm"


def test_nfc_works_on_nodes_never_on_the_markup() -> None:
    # NFC of the raw text would join '>' and U+0338 into '≯' and break the tag.
    payload = '<a xmlns="urn:x" b="1">\u0338 e&#x301; <![CDATA[e]]>\u0301</a>'.encode()
    tree = parse_xml(payload)
    outcome = TextIntake().xml(payload, tree, "000.00.00.H49", signed=False)
    assert parse_xml(outcome.payload).text == "\u0338 é é"


# ---------------------------------------------------------------- JSON payloads


def test_json_strings_and_keys_are_nfc_and_the_rest_of_the_bytes_stays() -> None:
    nfd = unicodedata.normalize("NFD", "Hường")
    payload = ('{ "Họ' + "\u0300" * 0 + '": "' + nfd + '", "SoTien": 1.50, "Ten": "Lâm"}').encode()
    payload = payload.replace("Họ".encode(), unicodedata.normalize("NFD", "Họ").encode())
    outcome = TextIntake().json(payload, "000.00.00.H49")
    assert outcome.payload == '{ "Họ": "Hường", "SoTien": 1.50, "Ten": "Lâm"}'.encode()
    assert outcome.headers == {NFC_HEADER: "normalised"}
    escaped = b'{"Ten": "Lie\\u0302m"}'
    assert json.loads(TextIntake().json(escaped, "x").payload) == {"Ten": "Liêm"}


def test_a_json_payload_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InvalidMessageError, match="UTF-8"):
        TextIntake().json('{"Ten": "Lâm"}'.encode("cp1258"), "000.00.00.H49")


# ---------------------------------------------------------------- legacy fields from hub.yaml

HUB = """\
hub:
  name: Quảng Ninh
  agency: 000.00.00.H49
intake:
  legacy_text:
    - senders: ["000.00.00.H49"]
      namespaces: {h: "urn:lienthong:province:hoso:1"}
      fields:
        - path: //h:ChuHoSo
        - path: /h:HoSo/@ghiChu
          encoding: vni
    - namespaces: {}
      fields:
        - path: //fn:string[@key='HoTen']
"""


def text_intake(tmp_path: Path, hub: str = HUB) -> TextIntake:
    (tmp_path / "config" / "adapters").mkdir(parents=True)
    (tmp_path / "config" / "hub.yaml").write_text(textwrap.dedent(hub), encoding="utf-8")
    (tmp_path / "config" / "routes.yaml").write_text("routes: []\n", encoding="utf-8")
    return TextIntake.from_config(load_configuration(tmp_path / "config", environ={}))


def test_marked_fields_are_converted_and_recorded(tmp_path: Path) -> None:
    intake = text_intake(tmp_path)
    name = as_windows_1252(LEGACY["tcvn3"][1])
    address = as_windows_1252(LEGACY["vni"][0])
    payload = xml_payload(name, address=address)
    tree = parse_xml(payload)
    outcome = intake.xml(payload, tree, "000.00.00.H49", signed=False)
    stored = parse_xml(outcome.payload)
    assert stored.findtext(f"{{{HOSO}}}ChuHoSo") == "Nguyễn Thị Hường"
    assert stored.get("ghiChu") == "Quảng Ninh"
    assert stored.findtext(f"{{{HOSO}}}DiaChi") == address  # not marked: left as it came
    assert outcome.headers[LEGACY_HEADER] == "/h:HoSo/h:ChuHoSo=tcvn3; /h:HoSo/@ghiChu=vni"
    # Another sender's payload: no rule, nothing converted.
    other = intake.xml(payload, parse_xml(payload), "000.00.00.G01", signed=False)
    assert LEGACY_HEADER not in other.headers


def test_an_undecodable_marked_field_is_refused_naming_it(tmp_path: Path) -> None:
    payload = xml_payload("Nguyen ×÷")
    with pytest.raises(LegacyTextError) as caught:
        text_intake(tmp_path).xml(payload, parse_xml(payload), "000.00.00.H49", signed=False)
    assert caught.value.detail["field"] == "/h:HoSo/h:ChuHoSo"
    assert caught.value.http_status == 422


def test_json_fields_are_marked_by_paths_over_their_xml_form(tmp_path: Path) -> None:
    name = as_windows_1252(LEGACY["viscii"][2])
    payload = json.dumps({"HoTen": name, "DiaChi": "Hạ Long"}, ensure_ascii=False).encode()
    outcome = text_intake(tmp_path).json(payload, "000.00.00.G12")
    assert json.loads(outcome.payload) == {"HoTen": "Đặng Văn Lâm", "DiaChi": "Hạ Long"}
    assert outcome.headers[LEGACY_HEADER] == "/fn:map/fn:string[@key='HoTen']=viscii"


def test_a_bad_path_is_a_configuration_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        text_intake(tmp_path, HUB.replace("//h:ChuHoSo", "//h:ChuHoSo["))
    [issue] = caught.value.issues
    assert (issue.file, issue.line) == ("config/hub.yaml", 9)
    assert "invalid XPath" in issue.message


def test_an_unknown_encoding_is_a_configuration_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        text_intake(tmp_path, HUB.replace("encoding: vni", "encoding: vps"))
    [issue] = caught.value.issues
    assert (issue.file, issue.line) == ("config/hub.yaml", 11)


def test_the_tree_of_a_signed_payload_is_converted_and_its_bytes_kept(tmp_path: Path) -> None:
    payload = xml_payload(as_windows_1252(LEGACY["cp1258"][1]))
    acted = etree.fromstring(payload)
    outcome = text_intake(tmp_path).xml(payload, acted, "000.00.00.H49", signed=True)
    assert outcome.payload is payload
    assert acted.findtext(f"{{{HOSO}}}ChuHoSo") == "Nguyễn Thị Hường"
    assert outcome.headers[LEGACY_HEADER] == "/h:HoSo/h:ChuHoSo=cp1258"
