"""Justice dossiers as the Quảng Ninh one-stop desk sends them: a birth registration, a death
registration and a criminal record certificate request, each an h:HoSo carrying its ht: element
(schemas/province/hotich.xsd). The demo sends them; the tests do too.

Names, ids and addresses are invented; procedure codes 1.001193 (khai sinh), 1.000656 (khai tử) and
2.000488 (lý lịch tư pháp) are those config/adapters/justice.yaml and routes.yaml use (unconfirmed).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BIRTH",
    "DEATH",
    "HOSO_NS",
    "HOTICH_NS",
    "LLTP",
    "LLTP_NS",
    "birth_dossier",
    "death_dossier",
    "lltp_dossier",
]

HOSO_NS: Final = "urn:lienthong:province:hoso:1"
HOTICH_NS: Final = "urn:lienthong:province:hotich:1"
LLTP_NS: Final = "urn:lienthong:btp:lltp:1"
BIRTH: Final = "1.001193"
DEATH: Final = "1.000656"
LLTP: Final = "2.000488"

_HEAD = """<HoSo xmlns="urn:lienthong:province:hoso:1" xmlns:ht="urn:lienthong:province:hotich:1">
  <MaHoSo>{code}</MaHoSo>
  <MaTTHC>{procedure}</MaTTHC>
  <TenTTHC>{name}</TenTTHC>
  <MaLinhVuc>HOTICH</MaLinhVuc>
  <KenhThucHien>1</KenhThucHien>
  <ChuHoSo>{owner}</ChuHoSo>
  <SoGiayToChuHoSo>{owner_id}</SoGiayToChuHoSo>
  <LoaiDoiTuong>1</LoaiDoiTuong>
  <DiaChiChuHoSo>Tổ 5, khu 3, phường Bãi Cháy, thành phố Hạ Long, tỉnh Quảng Ninh</DiaChiChuHoSo>
  <SoDienThoai>0912345678</SoDienThoai>
  <TrichYeuHoSo>{summary}</TrichYeuHoSo>
  <NgayTiepNhan>20261121091502</NgayTiepNhan>
  <NgayHenTra>20261124170000</NgayHenTra>
  <TrangThaiHoSo>2</TrangThaiHoSo>
  <DonViXuLy>UBND phường Bãi Cháy</DonViXuLy>
  <MaDonViXuLy>000.20.31.H49</MaDonViXuLy>
  <TaiLieuNop>
    <TenTaiLieu>{paper}</TenTaiLieu>
    <DuongDan>https://motcua.quangninh.gov.vn/tep/{code}/{paper_code}.pdf</DuongDan>
    <MaTaiLieu>{paper_code}</MaTaiLieu>
  </TaiLieuNop>
"""


def birth_dossier(code: str, *, child: str = "Nguyễn Ngọc Ánh", mother: str = "Trần Thị Hương") -> bytes:
    """A birth registration (khai sinh) for ``child``, mother ``mother``, father known."""
    return (
        _HEAD.format(
            code=code,
            procedure=BIRTH,
            name="Đăng ký khai sinh",
            owner=mother,
            owner_id="022190001234",
            summary=f"Đăng ký khai sinh cho cháu {child}",
            paper="Giấy chứng sinh",
            paper_code="GCS",
        )
        + f"""  <ht:KhaiSinh>
    <ht:NoiDangKy>UBND phường Bãi Cháy, thành phố Hạ Long</ht:NoiDangKy>
    <ht:TreEm>
      <ht:HoTen>{child}</ht:HoTen>
      <ht:GioiTinh>2</ht:GioiTinh>
      <ht:NgaySinh>2026-11-02</ht:NgaySinh>
      <ht:NoiSinh>Bệnh viện Sản Nhi Quảng Ninh, phường Hồng Hải, thành phố Hạ Long</ht:NoiSinh>
      <ht:QueQuan>xã Quảng Yên, thị xã Quảng Yên, tỉnh Quảng Ninh</ht:QueQuan>
      <ht:DanToc>Kinh</ht:DanToc>
      <ht:QuocTich>Việt Nam</ht:QuocTich>
    </ht:TreEm>
    <ht:Me>
      <ht:HoTen>{mother}</ht:HoTen>
      <ht:NgaySinh>1994-03-15</ht:NgaySinh>
      <ht:DanToc>Kinh</ht:DanToc>
      <ht:QuocTich>Việt Nam</ht:QuocTich>
      <ht:SoCCCD>022190001234</ht:SoCCCD>
      <ht:NoiCuTru>Tổ 5, khu 3, phường Bãi Cháy, thành phố Hạ Long</ht:NoiCuTru>
    </ht:Me>
    <ht:Cha>
      <ht:HoTen>Nguyễn Đức Thắng</ht:HoTen>
      <ht:NgaySinh>1991-07-20</ht:NgaySinh>
      <ht:DanToc>Kinh</ht:DanToc>
      <ht:QuocTich>Việt Nam</ht:QuocTich>
      <ht:SoCCCD>022091005678</ht:SoCCCD>
      <ht:NoiCuTru>Tổ 5, khu 3, phường Bãi Cháy, thành phố Hạ Long</ht:NoiCuTru>
    </ht:Cha>
    <ht:NguoiYeuCau>
      <ht:HoTen>{mother}</ht:HoTen>
      <ht:QuanHe>Mẹ</ht:QuanHe>
      <ht:SoCCCD>022190001234</ht:SoCCCD>
      <ht:SoDienThoai>0912345678</ht:SoDienThoai>
    </ht:NguoiYeuCau>
    <ht:SoBanSao>2</ht:SoBanSao>
  </ht:KhaiSinh>
</HoSo>
"""
    ).encode("utf-8")


def death_dossier(code: str, *, deceased: str = "Phạm Văn Hùng") -> bytes:
    """A death registration (khai tử) of ``deceased``."""
    return (
        _HEAD.format(
            code=code,
            procedure=DEATH,
            name="Đăng ký khai tử",
            owner="Phạm Thị Lan",
            owner_id="022185004321",
            summary=f"Đăng ký khai tử cho ông {deceased}",
            paper="Giấy báo tử",
            paper_code="GBT",
        )
        + f"""  <ht:KhaiTu>
    <ht:NoiDangKy>UBND phường Cẩm Trung, thành phố Cẩm Phả</ht:NoiDangKy>
    <ht:NguoiChet>
      <ht:HoTen>{deceased}</ht:HoTen>
      <ht:GioiTinh>1</ht:GioiTinh>
      <ht:NgaySinh>1940-01-08</ht:NgaySinh>
      <ht:SoCCCD>022040000111</ht:SoCCCD>
      <ht:NgayChet>2026-11-18</ht:NgayChet>
      <ht:NoiChet>Tại nhà, phường Cẩm Trung, thành phố Cẩm Phả</ht:NoiChet>
    </ht:NguoiChet>
    <ht:NguoiYeuCau>
      <ht:HoTen>Phạm Thị Lan</ht:HoTen>
      <ht:QuanHe>Con</ht:QuanHe>
      <ht:SoCCCD>022185004321</ht:SoCCCD>
    </ht:NguoiYeuCau>
    <ht:SoBanSao>1</ht:SoBanSao>
  </ht:KhaiTu>
</HoSo>
"""
    ).encode("utf-8")


def lltp_dossier(code: str, *, person: str = "Đỗ Thị Quỳnh") -> bytes:
    """A request for a criminal record certificate no. 1 by ``person`` for herself."""
    return (
        _HEAD.format(
            code=code,
            procedure=LLTP,
            name="Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
            owner=person,
            owner_id="022195007777",
            summary="Yêu cầu cấp Phiếu lý lịch tư pháp số 1",
            paper="Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp",
            paper_code="TKLLTP",
        )
        + f"""  <ht:ToKhaiLLTP>
    <ht:LoaiToKhai>1</ht:LoaiToKhai>
    <ht:HoVaTen>{person}</ht:HoVaTen>
    <ht:GioiTinh>2</ht:GioiTinh>
    <ht:NgaySinh>1995-05-12</ht:NgaySinh>
    <ht:NoiSinh>Thành phố Uông Bí, tỉnh Quảng Ninh</ht:NoiSinh>
    <ht:QuocTich>Việt Nam</ht:QuocTich>
    <ht:DanToc>Kinh</ht:DanToc>
    <ht:NoiCuTru>Phường Quang Trung, thành phố Uông Bí, tỉnh Quảng Ninh</ht:NoiCuTru>
    <ht:GiayToTuyThan>
      <ht:Loai>CCCD</ht:Loai>
      <ht:So>022195007777</ht:So>
      <ht:NgayCap>2021-04-10</ht:NgayCap>
      <ht:NoiCap>Cục Cảnh sát quản lý hành chính về trật tự xã hội</ht:NoiCap>
    </ht:GiayToTuyThan>
    <ht:QuaTrinhCuTru>
      <ht:TuNgay>2009-05-12</ht:TuNgay>
      <ht:DenNgay>2017-08-31</ht:DenNgay>
      <ht:NoiCuTru>Phường Quang Trung, thành phố Uông Bí</ht:NoiCuTru>
      <ht:NgheNghiep>Học sinh</ht:NgheNghiep>
    </ht:QuaTrinhCuTru>
    <ht:QuaTrinhCuTru>
      <ht:TuNgay>2017-09-01</ht:TuNgay>
      <ht:NoiCuTru>Phường Bãi Cháy, thành phố Hạ Long</ht:NoiCuTru>
      <ht:NgheNghiep>Kế toán</ht:NgheNghiep>
    </ht:QuaTrinhCuTru>
    <ht:MucDichCapPhieu>Bổ sung hồ sơ xin việc</ht:MucDichCapPhieu>
    <ht:LoaiPhieuYeuCau>1</ht:LoaiPhieuYeuCau>
    <ht:SoLuongCapThem>1</ht:SoLuongCapThem>
  </ht:ToKhaiLLTP>
</HoSo>
"""
    ).encode("utf-8")
