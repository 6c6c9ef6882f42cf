<?xml version="1.0" encoding="UTF-8"?>
<!--
  Land registry simulator: TiepNhanHoSo request body → TiepNhanHoSoResponse body.

  Parameters come from the generic simulator engine (lienthong.simulator):
    message_id   the hub's message id (lt:messageId header)
    received_at  xs:dateTime with +07:00 when the registry took the dossier in
    sequence     the registry's running counter, used to mint its own case id DD-<year>-<NNNNNN>
  Self-contained XSLT 1.0 so it runs with XSLTAccessControl.DENY_ALL.
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

  <xsl:template match="/dd:TiepNhanHoSo">
    <xsl:variable name="ma" select="normalize-space(dd:MaHoSoMotCua)"/>
    <TiepNhanHoSoResponse>
      <MaHoSoMotCua><xsl:value-of select="$ma"/></MaHoSoMotCua>
      <SoBienNhan><xsl:value-of select="normalize-space(dd:SoBienNhan)"/></SoBienNhan>
      <MaHoSoDatDai>
        <xsl:value-of select="concat('DD-', substring($received_at, 1, 4), '-', format-number($sequence, '000000'))"/>
      </MaHoSoDatDai>
      <TrangThai>DaTiepNhan</TrangThai>
      <ThoiGianTiepNhan><xsl:value-of select="$received_at"/></ThoiGianTiepNhan>
      <ThongBao>
        <xsl:value-of select="concat('Văn phòng đăng ký đất đai đã tiếp nhận hồ sơ ', $ma,
                                     ' (', count(dd:ThongTinThuaDat), ' thửa đất, ',
                                     count(dd:DanhSachGiayToDinhKem/dd:GiayTo), ' giấy tờ). ',
                                     'Land registry received the dossier.')"/>
      </ThongBao>
    </TiepNhanHoSoResponse>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
