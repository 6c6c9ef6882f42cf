"""Realistic land-transfer dossiers from Quảng Ninh, for tests, the demo and load runs.

The hub must prove it keeps Vietnamese text intact and meets the real identifier formats, so the
samples look like what a one-stop desk in Hạ Long, Cẩm Phả, Uông Bí or Móng Cái sends: names with
diacritics (NFC), 12-digit CCCD numbers whose prefix is the Quảng Ninh birth-place code, enterprise
codes with a valid check digit, parcels with map sheet numbers and areas, and dossier codes with a
daily counter (``000.00.00.H49-261121-0001``).

Everything here is invented. Procedure code 1.004227 is the national land-transfer registration
procedure; the procedure name, field code, processing-unit codes and document codes are SAMPLES
that only look plausible: real deployments load them from configuration (the national procedure
database), never from this module. Addresses use the city level that legacy land records carry,
even though the district level was dropped from administrative addresses in 2025.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final, cast

from lxml import etree

from lienthong.envelope import Envelope, MessageKind, new_envelope

HOSO_NS: Final = "urn:lienthong:province:hoso:1"
VN_TZ: Final = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
# The default namespace (key None); lxml-stubs only type str keys.
_NSMAP: Final = cast("dict[str, str]", {None: HOSO_NS})

# Sample only: 1.004227 is the national code; the name is abridged and the field code is invented.
PROCEDURE_CODE: Final = "1.004227"
PROCEDURE_NAME: Final = (
    "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất trong các trường hợp "
    "chuyển đổi, chuyển nhượng, cho thuê, cho thuê lại, thừa kế, tặng cho, góp vốn bằng quyền sử dụng "
    "đất, quyền sở hữu tài sản gắn liền với đất"
)
FIELD_CODE: Final = "DATDAI"  # sample field (lĩnh vực) code

_SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô", "Dương", "Lý")
_MALE = (("Văn", "Đức", "Minh", "Quang", "Hữu", "Tiến"), ("Hùng", "Dũng", "Tuấn", "Cường", "Hải", "Thắng"))
_FEMALE = (
    ("Thị", "Thu", "Ngọc", "Thanh", "Minh", "Hồng"),
    ("Lan", "Hương", "Thảo", "Phương", "Yến", "Quỳnh"),
)
_COMPANIES = (
    "Công ty TNHH Thương mại và Dịch vụ Bãi Cháy",
    "Công ty Cổ phần Đầu tư Xây dựng Hạ Long Xanh",
    "Công ty TNHH Một thành viên Vận tải biển Cẩm Phả",
)

# city → (sample processing-unit code, wards, streets). Unit codes are well-formed samples, not real.
_CITIES: Final[dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    "Hạ Long": (
        "000.20.31.H49",
        ("Bãi Cháy", "Hồng Gai", "Cao Xanh", "Hà Khẩu", "Hồng Hà", "Giếng Đáy", "Trần Hưng Đạo"),
        (
            "đường Hạ Long",
            "đường Trần Hưng Đạo",
            "đường Lê Thánh Tông",
            "đường Nguyễn Văn Cừ",
            "đường Cao Thắng",
        ),
    ),
    "Cẩm Phả": (
        "000.21.31.H49",
        ("Cẩm Trung", "Cẩm Thành", "Cẩm Bình", "Cẩm Sơn", "Cửa Ông", "Quang Hanh", "Mông Dương"),
        ("đường Trần Phú", "đường Lý Thường Kiệt", "đường Bái Tử Long", "đường Tô Hiệu"),
    ),
    "Uông Bí": (
        "000.22.31.H49",
        ("Quang Trung", "Thanh Sơn", "Yên Thanh", "Phương Đông", "Vàng Danh", "Trưng Vương"),
        ("đường Quang Trung", "đường Nguyễn Văn Cừ", "đường Trần Nhân Tông", "đường Hoàng Quốc Việt"),
    ),
    "Móng Cái": (
        "000.23.31.H49",
        ("Trần Phú", "Ka Long", "Hòa Lạc", "Ninh Dương", "Hải Yên", "Bình Ngọc"),
        ("đường Hùng Vương", "đường Trần Phú", "đường Tuệ Tĩnh", "đường Hữu Nghị"),
    ),
}

_USES = (
    "Đất ở tại đô thị (ODT)",
    "Đất ở tại đô thị (ODT)",
    "Đất trồng cây lâu năm (CLN)",
    "Đất thương mại, dịch vụ (TMD)",
)

# kind → (verb in the summary, contract paper). Sample document codes.
_KINDS = {
    "chuyển nhượng": "Hợp đồng chuyển nhượng quyền sử dụng đất đã được công chứng",
    "tặng cho": "Hợp đồng tặng cho quyền sử dụng đất đã được công chứng",
    "thừa kế": "Văn bản khai nhận di sản thừa kế đã được công chứng",
}
_COMMON_PAPERS = (
    ("Đơn đăng ký biến động đất đai, tài sản gắn liền với đất", "DON-DKBD"),
    ("Bản gốc Giấy chứng nhận quyền sử dụng đất đã cấp", "GCN-GOC"),
    ("Tờ khai lệ phí trước bạ nhà, đất", "TK-LPTB"),
    ("Tờ khai thuế thu nhập cá nhân đối với chuyển nhượng bất động sản", "TK-TNCN"),
)
_PHONE_PREFIXES = ("091", "094", "098", "097", "086", "088", "090", "093", "070", "035", "0203")
_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


@dataclass(frozen=True)
class SampleDossier:
    """One generated dossier: its code, its procedure and the ``HoSo`` XML bytes (UTF-8)."""

    dossier_code: str
    procedure_code: str
    xml: bytes

    def envelope(self, *, sender: str, message_id: str | None = None) -> Envelope:
        """The dossier as the one-stop system submits it (``message_id`` defaults to a fresh one)."""
        return new_envelope(
            kind=MessageKind.DOSSIER,
            sender=sender,
            sender_message_id=message_id or f"motcua-{uuid.uuid4()}",
            payload=self.xml,
            content_type="application/xml",
            procedure_code=self.procedure_code,
            dossier_code=self.dossier_code,
        )


@dataclass(frozen=True)
class _Person:
    name: str
    male: bool
    id_number: str
    is_business: bool = False

    @property
    def title(self) -> str:
        if self.is_business:
            return ""
        return "ông " if self.male else "bà "


def _person(rng: random.Random) -> _Person:
    male = rng.random() < 0.5
    middles, givens = _MALE if male else _FEMALE
    name = f"{rng.choice(_SURNAMES)} {rng.choice(middles)} {rng.choice(givens)}"
    # CCCD: 3-digit birth-place code (022 = Quảng Ninh), century/sex digit, 2-digit birth year, 6 random.
    born = rng.randint(1950, 2004)
    century_sex = (0 if born < 2000 else 2) + (0 if male else 1)
    cccd = f"022{century_sex}{born % 100:02d}{rng.randrange(10**6):06d}"
    return _Person(name, male, cccd)


def _enterprise_code(rng: random.Random) -> str:
    """A 10-digit tax code with a valid check digit (57 = Quảng Ninh tax prefix)."""
    while True:
        digits = [5, 7, *(rng.randrange(10) for _ in range(7))]
        check = 10 - sum(d * w for d, w in zip(digits, _WEIGHTS, strict=True)) % 11
        if check < 10:  # the "10" case is disputed between implementations: avoid it in samples
            return "".join(map(str, digits)) + str(check)


def _ascii(text: str) -> str:
    stripped = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return stripped.replace("đ", "d").replace("Đ", "D").lower()


def _address(rng: random.Random, city: str) -> tuple[str, str]:
    """A street address and the ward it is in."""
    _unit, wards, streets = _CITIES[city]
    ward = rng.choice(wards)
    if rng.random() < 0.5:
        head = f"Số {rng.randint(1, 420)} {rng.choice(streets)}"
    else:
        head = f"Tổ {rng.randint(1, 12)}, khu {rng.randint(1, 9)}"
    return f"{head}, phường {ward}, thành phố {city}, tỉnh Quảng Ninh", ward


def _add_working_days(start: date, days: int) -> date:
    current = start
    while days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def sample_dossiers(
    count: int, *, agency: str = "000.00.00.H49", day: date | None = None, seed: int = 7
) -> list[SampleDossier]:
    """Generate ``count`` valid ``HoSo`` dossiers received on ``day`` by ``agency``, deterministically.

    The same arguments always give the same bytes, so tests and benchmarks can compare runs.
    ``day`` defaults to today in Vietnam.
    """
    if not 0 <= count <= 9999:
        raise ValueError("the dossier code has a 4-digit daily counter: count must be 0..9999")
    day = day or datetime.now(UTC).astimezone(VN_TZ).date()
    rng = random.Random(f"{seed}:{agency}:{day.isoformat()}")
    window = 9.5 * 3600 / max(count, 1)  # desk hours 07:30-17:00, spread evenly
    return [_one(rng, agency, day, i, window) for i in range(1, count + 1)]


class _Maker:
    """``e.Name(text_or_children...)`` builds a HoSo element (lxml.builder has no type stubs)."""

    def __getattr__(self, name: str) -> Callable[..., etree._Element]:
        def make(*content: str | etree._Element) -> etree._Element:
            el = etree.Element(f"{{{HOSO_NS}}}{name}", nsmap=_NSMAP)
            for item in content:
                if isinstance(item, str):
                    el.text = unicodedata.normalize("NFC", item)
                else:
                    el.append(item)
            return el

        return make


def _one(rng: random.Random, agency: str, day: date, n: int, window: float) -> SampleDossier:
    e = _Maker()
    code = f"{agency}-{day:%y%m%d}-{n:04d}"
    received = datetime.combine(day, time(7, 30)) + timedelta(seconds=int((n - 1 + rng.random()) * window))
    due = datetime.combine(_add_working_days(day, 10), time(16, 30))
    kind = rng.choice(tuple(_KINDS))
    seller, applicant = _person(rng), _person(rng)
    if kind == "chuyển nhượng" and rng.random() < 0.3:  # firms buy land; they do not inherit it
        applicant = _Person(rng.choice(_COMPANIES), True, _enterprise_code(rng), is_business=True)
    home_city = rng.choice(tuple(_CITIES))
    land_city = home_city if rng.random() < 0.7 else rng.choice(tuple(_CITIES))
    home, _home_ward = _address(rng, home_city)

    parcels, wards = [], []
    for _ in range(1 if rng.random() < 0.8 else 2):
        address, ward = _address(rng, land_city)
        wards.append(ward)
        use = rng.choice(_USES)
        parcel = [e.SoThuTuThua(str(rng.randint(1, 999))), e.SoHieuBanDo(str(rng.randint(1, 120)))]
        parcel.append(e.DienTich(f"{rng.randint(450, 3000) / 10:.1f}"))
        if rng.random() < 0.9:
            parcel.append(e.MucDichSuDung(use))
        parcel.append(e.DiaChiChiTiet(address))
        parcels.append(e.ThongTinThuaDat(*parcel))
    first = parcels[0]
    summary = (
        f"Đăng ký biến động do nhận {kind} quyền sử dụng đất của {seller.title}{seller.name}: "
        f"thửa đất số {first[0].text}, tờ bản đồ số {first[1].text}, phường {wards[0]}, thành phố {land_city}"
    )

    fields = [
        e.MaHoSo(code),
        e.MaTTHC(PROCEDURE_CODE),
        e.TenTTHC(PROCEDURE_NAME),
        e.MaLinhVuc(FIELD_CODE),
        e.KenhThucHien(str(rng.choice((1, 1, 2, 2, 2, 3)))),
        e.ChuHoSo(applicant.name),
        e.SoGiayToChuHoSo(applicant.id_number),
        e.LoaiDoiTuong("2" if applicant.is_business else "1"),
        e.DiaChiChuHoSo(home),
    ]
    if rng.random() < 0.9:
        prefix = rng.choice(_PHONE_PREFIXES)
        length = 11 if prefix == "0203" else 10  # Quảng Ninh landlines are 0203 + 7 digits
        fields.append(
            e.SoDienThoai(prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix))))
        )
    if rng.random() < 0.3 and not applicant.is_business:
        fields.append(e.Email(f"{_ascii(applicant.name).replace(' ', '')}{rng.randint(60, 99)}@gmail.com"))
    fields += [
        e.TrichYeuHoSo(summary),
        e.NgayTiepNhan(f"{received:%Y%m%d%H%M%S}"),
        e.NgayHenTra(f"{due:%Y%m%d%H%M%S}"),
        e.TrangThaiHoSo("2"),
        e.DonViXuLy(f"Chi nhánh Văn phòng Đăng ký đất đai thành phố {land_city}"),
        e.MaDonViXuLy(_CITIES[land_city][0]),
        *parcels,
    ]
    papers = [
        *_COMMON_PAPERS[:2],
        (_KINDS[kind], "HD-" + _ascii(kind).replace(" ", "").upper()),
        *_COMMON_PAPERS[2:],
    ]
    for i, (title, doc_code) in enumerate(papers, start=1):
        paper = [e.TenTaiLieu(title)]
        if rng.random() < 0.8:
            paper.append(e.DuongDan(f"tailieu/{code}/{i:02d}.pdf"))
        paper.append(e.MaTaiLieu(doc_code))
        fields.append(e.TaiLieuNop(*paper))

    root = e.HoSo(*fields)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return SampleDossier(dossier_code=code, procedure_code=PROCEDURE_CODE, xml=xml)
