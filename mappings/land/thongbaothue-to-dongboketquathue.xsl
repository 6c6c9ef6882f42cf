<?xml version="1.0" encoding="UTF-8"?>
<!--
  The tax authority's notices (DATA/BODY/ROW_LIST, no namespace, schemas/tax/thongbaothue.xsd) → the
  land registry's DongBoKetQuaThue (urn:lienthong:tnmt:dangkydatdai:1).

  XSLT 1.0, self-contained. One ThongBaoThue per LIST:
    SO_QUYET_DINH → SoThongBaoThue, TEN_TIEUMUC → LoaiThue, TEN_NNT → HoTenChu, SO_TIEN → SoTien,
    MA_SO_THUE → MaSoThue, NGAY_QUYET_DINH (dd-MM-yyyy) → NgayThongBao (xs:date, yyyy-MM-dd).
  - SoBienNhan is MA_HSO: the registry's receipt number is the one-stop dossier code (see
    hoso-to-tiepnhanhoso.xsl), and MA_HSO carries that code.
  - NgayCoKetQuaThue, the day the tax results were decided, is the latest NGAY_QUYET_DINH.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns="urn:lienthong:tnmt:dangkydatdai:1">

  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:strip-space elements="*"/>

  <xsl:template match="/DATA">
    <xsl:variable name="rows" select="BODY/ROW_LIST"/>
    <DongBoKetQuaThue>
      <SoBienNhan><xsl:value-of select="normalize-space($rows/MA_HSO)"/></SoBienNhan>
      <NgayCoKetQuaThue>
        <xsl:for-each select="$rows/LIST">
          <!-- dd-MM-yyyy sorts as yyyyMMdd once rearranged -->
          <xsl:sort select="concat(substring(normalize-space(NGAY_QUYET_DINH), 7, 4),
                                   substring(normalize-space(NGAY_QUYET_DINH), 4, 2),
                                   substring(normalize-space(NGAY_QUYET_DINH), 1, 2))"
                    data-type="number" order="descending"/>
          <xsl:if test="position() = 1">
            <xsl:call-template name="ngay"><xsl:with-param name="v" select="NGAY_QUYET_DINH"/></xsl:call-template>
          </xsl:if>
        </xsl:for-each>
      </NgayCoKetQuaThue>
      <DanhSachThongBaoThue>
        <xsl:apply-templates select="$rows/LIST"/>
      </DanhSachThongBaoThue>
    </DongBoKetQuaThue>
  </xsl:template>

  <xsl:template match="LIST">
    <ThongBaoThue>
      <SoThongBaoThue><xsl:value-of select="normalize-space(SO_QUYET_DINH)"/></SoThongBaoThue>
      <LoaiThue><xsl:value-of select="normalize-space(TEN_TIEUMUC)"/></LoaiThue>
      <HoTenChu><xsl:value-of select="normalize-space(TEN_NNT)"/></HoTenChu>
      <SoTien><xsl:value-of select="normalize-space(SO_TIEN)"/></SoTien>
      <MaSoThue><xsl:value-of select="normalize-space(MA_SO_THUE)"/></MaSoThue>
      <NgayThongBao>
        <xsl:call-template name="ngay"><xsl:with-param name="v" select="NGAY_QUYET_DINH"/></xsl:call-template>
      </NgayThongBao>
    </ThongBaoThue>
  </xsl:template>

  <!-- dd-MM-yyyy → yyyy-MM-dd -->
  <xsl:template name="ngay">
    <xsl:param name="v"/>
    <xsl:variable name="s" select="normalize-space($v)"/>
    <xsl:value-of select="concat(substring($s, 7, 4), '-', substring($s, 4, 2), '-', substring($s, 1, 2))"/>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
