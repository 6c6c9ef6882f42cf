<?xml version="1.0" encoding="UTF-8"?>
<!--
  The one-stop system's payment receipt (urn:lienthong:province:hoso:1 BienLaiThanhToan) → the tax
  authority's CHUNG_TU_NOP_THUE (urn:lienthong:tct:lienthongdatdai:1).

  XSLT 1.0, self-contained. ThoiGianThanhToan yyyyMMddHHmmss (Asia/Ho_Chi_Minh) becomes
  THOI_GIAN_NOP dd-MM-yyyy HH:mm:ss in the same zone; MA_HSO is the one-stop dossier code; MA_CQ_GUI is
  the province that reports the payment (parameter sender).
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:h="urn:lienthong:province:hoso:1"
                xmlns="urn:lienthong:tct:lienthongdatdai:1"
                exclude-result-prefixes="h">

  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:strip-space elements="*"/>
  <xsl:param name="sender" select="''"/>

  <xsl:template match="/h:BienLaiThanhToan">
    <xsl:variable name="t" select="normalize-space(h:ThoiGianThanhToan)"/>
    <CHUNG_TU_NOP_THUE>
      <MA_HSO><xsl:value-of select="normalize-space(h:MaHoSo)"/></MA_HSO>
      <MA_SO_THUE><xsl:value-of select="normalize-space(h:MaSoThue)"/></MA_SO_THUE>
      <xsl:if test="h:HoTenNguoiNop">
        <TEN_NNT><xsl:value-of select="normalize-space(h:HoTenNguoiNop)"/></TEN_NNT>
      </xsl:if>
      <xsl:if test="h:SoThongBaoThue">
        <SO_QUYET_DINH><xsl:value-of select="normalize-space(h:SoThongBaoThue)"/></SO_QUYET_DINH>
      </xsl:if>
      <xsl:if test="h:SoBienLai">
        <SO_CHUNG_TU><xsl:value-of select="normalize-space(h:SoBienLai)"/></SO_CHUNG_TU>
      </xsl:if>
      <SO_TIEN><xsl:value-of select="normalize-space(h:SoTien)"/></SO_TIEN>
      <THOI_GIAN_NOP>
        <xsl:value-of select="concat(substring($t, 7, 2), '-', substring($t, 5, 2), '-', substring($t, 1, 4),
                                     ' ', substring($t, 9, 2), ':', substring($t, 11, 2), ':', substring($t, 13, 2))"/>
      </THOI_GIAN_NOP>
      <MA_CQ_GUI><xsl:value-of select="$sender"/></MA_CQ_GUI>
    </CHUNG_TU_NOP_THUE>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
