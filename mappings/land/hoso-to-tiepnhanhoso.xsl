<?xml version="1.0" encoding="UTF-8"?>
<!--
  Provincial dossier (urn:lienthong:province:hoso:1 HoSo) → land registry intake request
  (urn:lienthong:tnmt:dangkydatdai:1 TiepNhanHoSo).

  XSLT 1.0 only, self-contained: no document(), no includes, no extension functions, so it runs under
  lxml with XSLTAccessControl.DENY_ALL. Values are copied, never re-encoded, so NFC text stays NFC.

  - SoBienNhan and MaHoSoMotCua are both the one-stop dossier code: the desk's receipt number is that code.
  - yyyyMMddHHmmss (Asia/Ho_Chi_Minh, DVCQG style) becomes xs:dateTime with an explicit +07:00
    (Vietnam has no daylight saving time, so the offset is constant).
  - The applicant (người nộp đơn) is the dossier owner (chủ hồ sơ).
  - TrichYeuHoSo travels as GhiChu so the registry officer sees the one-stop summary.
  The output is validated against dangkydatdai.xsd by the hub; a HoSo without parcels fails there.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:h="urn:lienthong:province:hoso:1"
                xmlns="urn:lienthong:tnmt:dangkydatdai:1"
                exclude-result-prefixes="h">

  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:strip-space elements="*"/>

  <xsl:template match="/h:HoSo">
    <TiepNhanHoSo>
      <SoBienNhan><xsl:value-of select="normalize-space(h:MaHoSo)"/></SoBienNhan>
      <MaHoSoMotCua><xsl:value-of select="normalize-space(h:MaHoSo)"/></MaHoSoMotCua>
      <MaTTHC><xsl:value-of select="normalize-space(h:MaTTHC)"/></MaTTHC>
      <NgayTiepNhan><xsl:call-template name="thoi-diem"><xsl:with-param name="v" select="h:NgayTiepNhan"/></xsl:call-template></NgayTiepNhan>
      <NgayHenTra><xsl:call-template name="thoi-diem"><xsl:with-param name="v" select="h:NgayHenTra"/></xsl:call-template></NgayHenTra>
      <ThongTinNguoiNopDon>
        <HoTen><xsl:value-of select="normalize-space(h:ChuHoSo)"/></HoTen>
        <SoGiayTo><xsl:value-of select="normalize-space(h:SoGiayToChuHoSo)"/></SoGiayTo>
        <DiaChi><xsl:value-of select="normalize-space(h:DiaChiChuHoSo)"/></DiaChi>
        <xsl:if test="h:SoDienThoai">
          <SoDienThoai><xsl:value-of select="normalize-space(h:SoDienThoai)"/></SoDienThoai>
        </xsl:if>
      </ThongTinNguoiNopDon>
      <xsl:apply-templates select="h:ThongTinThuaDat"/>
      <DanhSachGiayToDinhKem>
        <xsl:apply-templates select="h:TaiLieuNop"/>
      </DanhSachGiayToDinhKem>
      <xsl:if test="normalize-space(h:TrichYeuHoSo) != ''">
        <GhiChu><xsl:value-of select="normalize-space(h:TrichYeuHoSo)"/></GhiChu>
      </xsl:if>
    </TiepNhanHoSo>
  </xsl:template>

  <xsl:template match="h:ThongTinThuaDat">
    <ThongTinThuaDat>
      <SoThuTuThua><xsl:value-of select="normalize-space(h:SoThuTuThua)"/></SoThuTuThua>
      <SoHieuBanDo><xsl:value-of select="normalize-space(h:SoHieuBanDo)"/></SoHieuBanDo>
      <DienTich><xsl:value-of select="normalize-space(h:DienTich)"/></DienTich>
      <xsl:if test="h:MucDichSuDung">
        <MucDichSuDung><xsl:value-of select="normalize-space(h:MucDichSuDung)"/></MucDichSuDung>
      </xsl:if>
      <DiaChiChiTiet><xsl:value-of select="normalize-space(h:DiaChiChiTiet)"/></DiaChiChiTiet>
    </ThongTinThuaDat>
  </xsl:template>

  <xsl:template match="h:TaiLieuNop">
    <GiayTo>
      <TenGiayTo><xsl:value-of select="normalize-space(h:TenTaiLieu)"/></TenGiayTo>
      <xsl:if test="h:MaTaiLieu">
        <MaGiayTo><xsl:value-of select="normalize-space(h:MaTaiLieu)"/></MaGiayTo>
      </xsl:if>
    </GiayTo>
  </xsl:template>

  <!-- yyyyMMddHHmmss → yyyy-MM-ddTHH:mm:ss+07:00 -->
  <xsl:template name="thoi-diem">
    <xsl:param name="v"/>
    <xsl:variable name="s" select="normalize-space($v)"/>
    <xsl:value-of select="concat(substring($s, 1, 4), '-', substring($s, 5, 2), '-', substring($s, 7, 2),
                                 'T', substring($s, 9, 2), ':', substring($s, 11, 2), ':', substring($s, 13, 2),
                                 '+07:00')"/>
  </xsl:template>

  <!-- Anything that is not a HoSo produces no output rather than stray text. -->
  <xsl:template match="text()"/>
</xsl:stylesheet>
