<?xml version="1.0" encoding="UTF-8"?>
<!--
  The one-stop system's payment receipt (urn:lienthong:province:hoso:1 BienLaiThanhToan) → the land
  registry's NhanBienLaiThanhToan (urn:lienthong:tnmt:dangkydatdai:1): the citizen has paid, the
  registry may issue the certificate.

  XSLT 1.0, self-contained. SoBienNhan is the one-stop dossier code (as in TiepNhanHoSo);
  ThoiGianThanhToan yyyyMMddHHmmss (Asia/Ho_Chi_Minh) becomes xs:dateTime with +07:00.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:h="urn:lienthong:province:hoso:1"
                xmlns="urn:lienthong:tnmt:dangkydatdai:1"
                exclude-result-prefixes="h">

  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:strip-space elements="*"/>

  <xsl:template match="/h:BienLaiThanhToan">
    <xsl:variable name="t" select="normalize-space(h:ThoiGianThanhToan)"/>
    <NhanBienLaiThanhToan>
      <SoBienNhan><xsl:value-of select="normalize-space(h:MaHoSo)"/></SoBienNhan>
      <MaSoThue><xsl:value-of select="normalize-space(h:MaSoThue)"/></MaSoThue>
      <SoTien><xsl:value-of select="normalize-space(h:SoTien)"/></SoTien>
      <ThoiGianThanhToan>
        <xsl:value-of select="concat(substring($t, 1, 4), '-', substring($t, 5, 2), '-', substring($t, 7, 2),
                                     'T', substring($t, 9, 2), ':', substring($t, 11, 2), ':', substring($t, 13, 2),
                                     '+07:00')"/>
      </ThoiGianThanhToan>
      <xsl:if test="h:SoThongBaoThue">
        <SoThongBaoThue><xsl:value-of select="normalize-space(h:SoThongBaoThue)"/></SoThongBaoThue>
      </xsl:if>
      <xsl:if test="h:HoTenNguoiNop">
        <HoTenNguoiNop><xsl:value-of select="normalize-space(h:HoTenNguoiNop)"/></HoTenNguoiNop>
      </xsl:if>
    </NhanBienLaiThanhToan>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
