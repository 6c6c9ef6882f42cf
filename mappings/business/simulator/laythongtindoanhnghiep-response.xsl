<?xml version="1.0" encoding="UTF-8"?>
<!--
  Business registry simulator: LayThongTinDoanhNghiep request body → LayThongTinDoanhNghiepResponse.

  The simulated registry holds the small register below (fictional enterprises of Quảng Ninh, with
  codes whose check digits are right) and answers from it: KetQua 00 with the EntCert of a code it
  holds, KetQua 01 ("not found") for any other code. Self-contained XSLT 1.0 (exsl:node-set only), so
  it runs with XSLTAccessControl.DENY_ALL. Parameters from the engine (message_id, received_at,
  sequence) are not needed: a lookup answers the same for the same code.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:exsl="http://exslt.org/common"
                xmlns:dn="urn:lienthong:dkkd:doanhnghiep:1"
                xmlns="urn:lienthong:dkkd:doanhnghiep:1"
                exclude-result-prefixes="dn exsl">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:variable name="so-dang-ky">
    <EntCert>
      <MaSoDoanhNghiep>5700100256</MaSoDoanhNghiep>
      <SoGCNDKKD>2203001187</SoGCNDKKD>
      <LoaiHinhDN>Công ty cổ phần</LoaiHinhDN>
      <TenTiengViet>CÔNG TY CỔ PHẦN DU LỊCH VỊNH HẠ LONG XANH</TenTiengViet>
      <TenNuocNgoai>HA LONG GREEN BAY TOURISM JOINT STOCK COMPANY</TenNuocNgoai>
      <TenVietTat>HLGB TOURISM., JSC</TenVietTat>
      <NgayDangKyLanDau>2008-03-14</NgayDangKyLanDau>
      <NgayDangKyThayDoi>2023-09-05</NgayDangKyThayDoi>
      <TinhTrangPhapLy>Đang hoạt động</TinhTrangPhapLy>
      <DaiDienPhapLuat>
        <HoTen>Nguyễn Thị Thu Hằng</HoTen>
        <ChucDanh>Tổng giám đốc</ChucDanh>
      </DaiDienPhapLuat>
      <DaiDienPhapLuat>
        <HoTen>Phạm Quốc Việt</HoTen>
        <ChucDanh>Chủ tịch Hội đồng quản trị</ChucDanh>
      </DaiDienPhapLuat>
      <DiaChiTruSo>Số 18 đường Hạ Long, phường Bãi Cháy, thành phố Hạ Long, tỉnh Quảng Ninh, Việt Nam</DiaChiTruSo>
      <NganhNgheKinhDoanh>
        <MaNganh>7911</MaNganh>
        <TenNganh>Đại lý du lịch</TenNganh>
        <LaNganhChinh>true</LaNganhChinh>
      </NganhNgheKinhDoanh>
      <NganhNgheKinhDoanh>
        <MaNganh>5510</MaNganh>
        <TenNganh>Dịch vụ lưu trú ngắn ngày</TenNganh>
        <LaNganhChinh>false</LaNganhChinh>
      </NganhNgheKinhDoanh>
      <NganhNgheKinhDoanh>
        <MaNganh>5011</MaNganh>
        <TenNganh>Vận tải hành khách ven biển và viễn dương</TenNganh>
        <LaNganhChinh>false</LaNganhChinh>
      </NganhNgheKinhDoanh>
    </EntCert>
    <EntCert>
      <MaSoDoanhNghiep>5700100256-001</MaSoDoanhNghiep>
      <SoGCNDKKD>5700100256-001</SoGCNDKKD>
      <LoaiHinhDN>Chi nhánh</LoaiHinhDN>
      <TenTiengViet>CHI NHÁNH CÔNG TY CỔ PHẦN DU LỊCH VỊNH HẠ LONG XANH TẠI CẨM PHẢ</TenTiengViet>
      <NgayDangKyLanDau>2016-05-23</NgayDangKyLanDau>
      <TinhTrangPhapLy>Đang hoạt động</TinhTrangPhapLy>
      <DaiDienPhapLuat>
        <HoTen>Đỗ Minh Tuấn</HoTen>
        <ChucDanh>Giám đốc chi nhánh</ChucDanh>
      </DaiDienPhapLuat>
      <DiaChiTruSo>Số 212 đường Trần Phú, phường Cẩm Tây, thành phố Cẩm Phả, tỉnh Quảng Ninh, Việt Nam</DiaChiTruSo>
      <NganhNgheKinhDoanh>
        <MaNganh>7911</MaNganh>
        <TenNganh>Đại lý du lịch</TenNganh>
        <LaNganhChinh>true</LaNganhChinh>
      </NganhNgheKinhDoanh>
    </EntCert>
    <EntCert>
      <MaSoDoanhNghiep>5701456784</MaSoDoanhNghiep>
      <SoGCNDKKD>5701456784</SoGCNDKKD>
      <LoaiHinhDN>Công ty trách nhiệm hữu hạn một thành viên</LoaiHinhDN>
      <TenTiengViet>CÔNG TY TNHH MỘT THÀNH VIÊN THỦY SẢN VÂN ĐỒN</TenTiengViet>
      <TenNuocNgoai>VAN DON SEAFOOD ONE MEMBER COMPANY LIMITED</TenNuocNgoai>
      <NgayDangKyLanDau>2012-06-20</NgayDangKyLanDau>
      <TinhTrangPhapLy>Đang hoạt động</TinhTrangPhapLy>
      <DaiDienPhapLuat>
        <HoTen>Trần Văn Đức</HoTen>
        <ChucDanh>Giám đốc</ChucDanh>
      </DaiDienPhapLuat>
      <DiaChiTruSo>Thôn 5, xã Hạ Long, huyện Vân Đồn, tỉnh Quảng Ninh, Việt Nam</DiaChiTruSo>
      <NganhNgheKinhDoanh>
        <MaNganh>0321</MaNganh>
        <TenNganh>Nuôi trồng thủy sản biển</TenNganh>
        <LaNganhChinh>true</LaNganhChinh>
      </NganhNgheKinhDoanh>
      <NganhNgheKinhDoanh>
        <MaNganh>1020</MaNganh>
        <TenNganh>Chế biến, bảo quản thủy sản và các sản phẩm từ thủy sản</TenNganh>
        <LaNganhChinh>false</LaNganhChinh>
      </NganhNgheKinhDoanh>
    </EntCert>
    <EntCert>
      <MaSoDoanhNghiep>5702301198</MaSoDoanhNghiep>
      <SoGCNDKKD>5702301198</SoGCNDKKD>
      <LoaiHinhDN>Doanh nghiệp tư nhân</LoaiHinhDN>
      <TenTiengViet>DOANH NGHIỆP TƯ NHÂN VẬN TẢI HOÀNG NAM MÓNG CÁI</TenTiengViet>
      <TenVietTat>DNTN HOÀNG NAM</TenVietTat>
      <NgayDangKyLanDau>2015-11-02</NgayDangKyLanDau>
      <NgayDangKyThayDoi>2021-04-12</NgayDangKyThayDoi>
      <TinhTrangPhapLy>Tạm ngừng kinh doanh có thời hạn</TinhTrangPhapLy>
      <DaiDienPhapLuat>
        <HoTen>Lê Hoàng Nam</HoTen>
        <ChucDanh>Chủ doanh nghiệp</ChucDanh>
      </DaiDienPhapLuat>
      <DiaChiTruSo>Số 5 phố Hùng Vương, phường Ka Long, thành phố Móng Cái, tỉnh Quảng Ninh, Việt Nam</DiaChiTruSo>
      <NganhNgheKinhDoanh>
        <MaNganh>4933</MaNganh>
        <TenNganh>Vận tải hàng hóa bằng đường bộ</TenNganh>
        <LaNganhChinh>true</LaNganhChinh>
      </NganhNgheKinhDoanh>
    </EntCert>
  </xsl:variable>

  <xsl:variable name="register" select="exsl:node-set($so-dang-ky)/dn:EntCert"/>

  <xsl:template match="/dn:LayThongTinDoanhNghiep">
    <xsl:variable name="ma" select="normalize-space(dn:MaSoDoanhNghiep)"/>
    <xsl:variable name="hit" select="$register[dn:MaSoDoanhNghiep = $ma]"/>
    <LayThongTinDoanhNghiepResponse>
      <xsl:choose>
        <xsl:when test="$hit">
          <KetQua>
            <MaKetQua>00</MaKetQua>
            <MoTa>Tìm thấy doanh nghiệp / enterprise found</MoTa>
          </KetQua>
          <xsl:copy-of select="$hit[1]"/>
        </xsl:when>
        <xsl:otherwise>
          <KetQua>
            <MaKetQua>01</MaKetQua>
            <MoTa><xsl:value-of select="concat('Không tìm thấy doanh nghiệp có mã số ', $ma,
                                               ' / no enterprise with code ', $ma)"/></MoTa>
          </KetQua>
        </xsl:otherwise>
      </xsl:choose>
    </LayThongTinDoanhNghiepResponse>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
