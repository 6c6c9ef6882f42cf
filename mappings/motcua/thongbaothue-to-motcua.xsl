<?xml version="1.0" encoding="UTF-8"?>
<!--
  Tax notices (DATA/BODY/ROW_LIST{MA_HSO, LIST*{MA_SO_THUE, SO_QUYET_DINH, NGAY_QUYET_DINH dd-MM-yyyy,
  TEN_TIEUMUC, SO_TIEN}}, no namespace) → the one-stop system's callback: TrangThaiHoSo 6 (financial
  obligation), the notices and their amounts as one text, the total last.

  XSLT, not a YAML mapping: the callback carries ONE text for all the notices of a dossier (the YAML
  language writes one value per source node, it cannot join several nodes into a text or sum amounts
  written "1.500.000"). MA_HSO is the one-stop dossier code; the first ROW_LIST is the dossier.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns="http://www.w3.org/2005/xpath-functions">
  <xsl:param name="sender"/>

  <xsl:template match="/DATA">
    <xsl:variable name="row" select="BODY/ROW_LIST[1]"/>
    <xsl:variable name="first" select="$row/LIST[1]/NGAY_QUYET_DINH"/>
    <map>
      <string key="MaHoSo"><xsl:value-of select="normalize-space($row/MA_HSO)"/></string>
      <string key="TrangThaiHoSo">6</string>
      <!-- dd-MM-yyyy → yyyyMMdd000000 (the notice is dated, not timed) -->
      <string key="ThoiDiemXuLy">
        <xsl:value-of select="concat(substring($first, 7, 4), substring($first, 4, 2), substring($first, 1, 2), '000000')"/>
      </string>
      <string key="DonViXuLy"><xsl:value-of select="$sender"/></string>
      <string key="TenDonViXuLy">Cơ quan thuế</string>
      <string key="NoiDungXuLy">
        <xsl:text>Thông báo nghĩa vụ tài chính: </xsl:text>
        <xsl:for-each select="$row/LIST">
          <xsl:if test="position() &gt; 1">; </xsl:if>
          <xsl:value-of select="concat(normalize-space(TEN_TIEUMUC), ' ', normalize-space(SO_TIEN),
                                       ' đồng (thông báo số ', normalize-space(SO_QUYET_DINH), ' ngày ',
                                       normalize-space(NGAY_QUYET_DINH), ')')"/>
        </xsl:for-each>
        <xsl:variable name="total" select="sum($row/LIST/SO_TIEN[translate(normalize-space(.), '0123456789', '') = ''])"/>
        <xsl:if test="count($row/LIST) &gt; 1 and count($row/LIST/SO_TIEN[translate(normalize-space(.), '0123456789', '') != '']) = 0">
          <xsl:value-of select="concat('. Tổng cộng ', format-number($total, '#'), ' đồng')"/>
        </xsl:if>
      </string>
    </map>
  </xsl:template>
</xsl:stylesheet>
