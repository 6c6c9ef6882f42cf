<?xml version="1.0" encoding="UTF-8"?>
<!--
  Tax authority simulator, a later step: the stored cadastral information transfer form
  (PHIEU_CHUYEN_TTDC) → its tax notices (DATA/BODY/ROW_LIST, no namespace), pushed to the hub
  (POST <hub>/soap/tax, operation GuiThongBaoThue). Two notices for the taxpayer the form names:

    the registration fee (lệ phí trước bạ)                   0.5 % of the value
    the personal income tax on the transfer (thuế TNCN)      2 %   of the value

  THE SIMULATOR'S RULE, NOT THE LAW. The form carries no price, so the value is the parcels' area
  times a unit price from the simulator's own table, by the land-use code in MUC_DICH_SD:
    (ODT) urban residential 25,000,000 đ/m²   (ONT) rural residential 6,000,000 đ/m²
    (TMD) commercial       15,000,000 đ/m²    anything else (farm land, no purpose given) 500,000 đ/m²
  rounded to whole đồng, then each amount rounded to whole đồng. A real tax office applies the
  province's land price table, the declared contract price and exemptions.

  Parameters come from the simulator's callback task (docs/simulators.md):
    sequence     the tax authority's running number of the form: the notices' numbers
                 LPTB-<year>-<NNNNNN> and TNCN-<year>-<NNNNNN> use it
    now          the time of this step (xs:dateTime, +07:00): the decision date, written dd-MM-yyyy
  Self-contained XSLT 1.0 so it runs with XSLTAccessControl.DENY_ALL.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:tt="urn:lienthong:tct:lienthongdatdai:1"
                exclude-result-prefixes="tt">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:param name="sequence" select="0"/>
  <xsl:param name="now" select="'1970-01-01T07:00:00+07:00'"/>

  <xsl:template match="/tt:PHIEU_CHUYEN_TTDC">
    <xsl:variable name="parcels" select="tt:DS_THUA_DAT/tt:THUA_DAT"/>
    <xsl:variable name="odt" select="$parcels[contains(tt:MUC_DICH_SD, '(ODT)')]"/>
    <xsl:variable name="ont" select="$parcels[contains(tt:MUC_DICH_SD, '(ONT)')]"/>
    <xsl:variable name="tmd" select="$parcels[contains(tt:MUC_DICH_SD, '(TMD)')]"/>
    <xsl:variable name="other" select="$parcels[not(contains(tt:MUC_DICH_SD, '(ODT)') or contains(tt:MUC_DICH_SD, '(ONT)') or contains(tt:MUC_DICH_SD, '(TMD)'))]"/>
    <xsl:variable name="value"
                  select="round(sum($odt/tt:DIEN_TICH) * 25000000 + sum($ont/tt:DIEN_TICH) * 6000000
                                + sum($tmd/tt:DIEN_TICH) * 15000000 + sum($other/tt:DIEN_TICH) * 500000)"/>
    <xsl:variable name="taxpayer" select="tt:NGUOI_NOP_THUE"/>
    <xsl:variable name="code">
      <xsl:choose>
        <xsl:when test="normalize-space($taxpayer/tt:MA_SO_THUE)"><xsl:value-of select="normalize-space($taxpayer/tt:MA_SO_THUE)"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="normalize-space($taxpayer/tt:SO_GIAY_TO)"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="year" select="substring($now, 1, 4)"/>
    <xsl:variable name="day" select="concat(substring($now, 9, 2), '-', substring($now, 6, 2), '-', $year)"/>
    <xsl:variable name="number" select="format-number($sequence, '000000')"/>
    <DATA>
      <BODY>
        <ROW_LIST>
          <MA_HSO><xsl:value-of select="normalize-space(tt:MA_HSO)"/></MA_HSO>
          <LIST>
            <MA_SO_THUE><xsl:value-of select="$code"/></MA_SO_THUE>
            <TEN_NNT><xsl:value-of select="$taxpayer/tt:TEN_NNT"/></TEN_NNT>
            <SO_QUYET_DINH><xsl:value-of select="concat('LPTB-', $year, '-', $number)"/></SO_QUYET_DINH>
            <NGAY_QUYET_DINH><xsl:value-of select="$day"/></NGAY_QUYET_DINH>
            <TEN_TIEUMUC>Lệ phí trước bạ nhà đất</TEN_TIEUMUC>
            <SO_TIEN><xsl:value-of select="format-number(round($value * 5 div 1000), '0')"/></SO_TIEN>
          </LIST>
          <LIST>
            <MA_SO_THUE><xsl:value-of select="$code"/></MA_SO_THUE>
            <TEN_NNT><xsl:value-of select="$taxpayer/tt:TEN_NNT"/></TEN_NNT>
            <SO_QUYET_DINH><xsl:value-of select="concat('TNCN-', $year, '-', $number)"/></SO_QUYET_DINH>
            <NGAY_QUYET_DINH><xsl:value-of select="$day"/></NGAY_QUYET_DINH>
            <TEN_TIEUMUC>Thuế thu nhập cá nhân từ chuyển nhượng bất động sản</TEN_TIEUMUC>
            <SO_TIEN><xsl:value-of select="format-number(round($value * 2 div 100), '0')"/></SO_TIEN>
          </LIST>
        </ROW_LIST>
      </BODY>
    </DATA>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
