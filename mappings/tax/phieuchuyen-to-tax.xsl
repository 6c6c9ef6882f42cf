<?xml version="1.0" encoding="UTF-8"?>
<!--
  Land registry's cadastral information transfer form (urn:lienthong:tnmt:dangkydatdai:1
  PhieuChuyenThongTinDiaChinh, pushed to the hub) → the tax authority's PHIEU_CHUYEN_TTDC
  (urn:lienthong:tct:lienthongdatdai:1, schemas/tax/lienthongdatdai.xsd).

  XSLT 1.0, self-contained (runs with all file and network access denied). Values are copied, never
  re-encoded, so NFC text stays NFC.
  - MA_HSO is the one-stop dossier code (MaHoSoMotCua): the tax notices come back with it, and the hub
    correlates them to the dossier by it.
  - NGAY_LAP_PHIEU is the form's date as the registry wrote it (its timestamps carry +07:00, Vietnam's
    offset), as dd-MM-yyyy.
  - MA_CQ_GUI is the agency the hub received the form from (parameter sender, the authenticated caller).
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:dd="urn:lienthong:tnmt:dangkydatdai:1"
                xmlns="urn:lienthong:tct:lienthongdatdai:1"
                exclude-result-prefixes="dd">

  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:strip-space elements="*"/>
  <xsl:param name="sender" select="''"/>

  <xsl:template match="/dd:PhieuChuyenThongTinDiaChinh">
    <PHIEU_CHUYEN_TTDC>
      <MA_HSO><xsl:value-of select="normalize-space(dd:MaHoSoMotCua)"/></MA_HSO>
      <SO_BIEN_NHAN><xsl:value-of select="normalize-space(dd:SoBienNhan)"/></SO_BIEN_NHAN>
      <MA_HSO_VPDK><xsl:value-of select="normalize-space(dd:MaHoSoDatDai)"/></MA_HSO_VPDK>
      <SO_PHIEU><xsl:value-of select="normalize-space(dd:SoPhieu)"/></SO_PHIEU>
      <MA_TTHC><xsl:value-of select="normalize-space(dd:MaTTHC)"/></MA_TTHC>
      <NGAY_LAP_PHIEU>
        <xsl:call-template name="ngay"><xsl:with-param name="v" select="dd:NgayLapPhieu"/></xsl:call-template>
      </NGAY_LAP_PHIEU>
      <MA_CQ_GUI><xsl:value-of select="$sender"/></MA_CQ_GUI>
      <xsl:apply-templates select="dd:NguoiNopThue"/>
      <DS_THUA_DAT>
        <xsl:apply-templates select="dd:ThongTinThuaDat"/>
      </DS_THUA_DAT>
      <xsl:if test="normalize-space(dd:GhiChu) != ''">
        <GHI_CHU><xsl:value-of select="normalize-space(dd:GhiChu)"/></GHI_CHU>
      </xsl:if>
    </PHIEU_CHUYEN_TTDC>
  </xsl:template>

  <xsl:template match="dd:NguoiNopThue">
    <NGUOI_NOP_THUE>
      <TEN_NNT><xsl:value-of select="normalize-space(dd:HoTen)"/></TEN_NNT>
      <SO_GIAY_TO><xsl:value-of select="normalize-space(dd:SoGiayTo)"/></SO_GIAY_TO>
      <xsl:if test="dd:MaSoThue">
        <MA_SO_THUE><xsl:value-of select="normalize-space(dd:MaSoThue)"/></MA_SO_THUE>
      </xsl:if>
      <DIA_CHI><xsl:value-of select="normalize-space(dd:DiaChi)"/></DIA_CHI>
      <xsl:if test="dd:SoDienThoai">
        <DIEN_THOAI><xsl:value-of select="normalize-space(dd:SoDienThoai)"/></DIEN_THOAI>
      </xsl:if>
    </NGUOI_NOP_THUE>
  </xsl:template>

  <xsl:template match="dd:ThongTinThuaDat">
    <THUA_DAT>
      <SO_THUA><xsl:value-of select="normalize-space(dd:SoThuTuThua)"/></SO_THUA>
      <SO_TO_BAN_DO><xsl:value-of select="normalize-space(dd:SoHieuBanDo)"/></SO_TO_BAN_DO>
      <DIEN_TICH><xsl:value-of select="normalize-space(dd:DienTich)"/></DIEN_TICH>
      <xsl:if test="dd:MucDichSuDung">
        <MUC_DICH_SD><xsl:value-of select="normalize-space(dd:MucDichSuDung)"/></MUC_DICH_SD>
      </xsl:if>
      <DIA_CHI><xsl:value-of select="normalize-space(dd:DiaChiChiTiet)"/></DIA_CHI>
    </THUA_DAT>
  </xsl:template>

  <!-- yyyy-MM-ddTHH:mm:ss+07:00 → dd-MM-yyyy -->
  <xsl:template name="ngay">
    <xsl:param name="v"/>
    <xsl:variable name="s" select="normalize-space($v)"/>
    <xsl:value-of select="concat(substring($s, 9, 2), '-', substring($s, 6, 2), '-', substring($s, 1, 4))"/>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
