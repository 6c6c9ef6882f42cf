<?xml version="1.0" encoding="UTF-8"?>
<!--
  Land registry simulator: the citizen's payment receipt (NhanBienLaiThanhToan) → NhanBienLaiThanhToanResponse.
  Parameters from the generic simulator engine (message_id, received_at, sequence); XSLT 1.0.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:dd="urn:lienthong:tnmt:dangkydatdai:1"
                xmlns="urn:lienthong:tnmt:dangkydatdai:1"
                exclude-result-prefixes="dd">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:param name="message_id" select="''"/>
  <xsl:param name="received_at" select="'1970-01-01T07:00:00+07:00'"/>
  <xsl:param name="sequence" select="0"/>

  <xsl:template match="/dd:NhanBienLaiThanhToan">
    <xsl:variable name="so" select="normalize-space(dd:SoBienNhan)"/>
    <NhanBienLaiThanhToanResponse>
      <SoBienNhan><xsl:value-of select="$so"/></SoBienNhan>
      <TrangThai>DaTiepNhan</TrangThai>
      <ThoiGianTiepNhan><xsl:value-of select="$received_at"/></ThoiGianTiepNhan>
      <ThongBao>
        <xsl:value-of select="concat('Văn phòng đăng ký đất đai đã nhận biên lai thanh toán của hồ sơ ', $so, ': ', dd:SoTien, ' đồng. Land registry received the payment receipt.')"/>
      </ThongBao>
    </NhanBienLaiThanhToanResponse>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
