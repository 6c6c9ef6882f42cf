<?xml version="1.0" encoding="UTF-8"?>
<!--
  Land registry simulator, a later step: the stored TiepNhanHoSo request → CapNhatTrangThaiHoSo, the
  status update the registry pushes to the hub (POST <hub>/soap/land) once it has started on a dossier.

  Parameters come from the simulator's callback task (docs/simulators.md):
    message_id   the hub's message id of the stored request
    key          the record's business key (here the dossier code)
    sequence     the registry's case number for the dossier (as in the answer: DD-<year>-<NNNNNN>)
    received_at  when the registry took the dossier in (xs:dateTime, +07:00)
    status       the record's status before this step
    now          the time of this step (xs:dateTime, +07:00)
  Self-contained XSLT 1.0 so it runs with XSLTAccessControl.DENY_ALL.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:dd="urn:lienthong:tnmt:dangkydatdai:1"
                xmlns="urn:lienthong:tnmt:dangkydatdai:1"
                exclude-result-prefixes="dd">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:param name="received_at" select="'1970-01-01T07:00:00+07:00'"/>
  <xsl:param name="sequence" select="0"/>
  <xsl:param name="now" select="'1970-01-01T07:00:00+07:00'"/>

  <xsl:template match="/dd:TiepNhanHoSo">
    <CapNhatTrangThaiHoSo>
      <MaHoSoMotCua><xsl:value-of select="normalize-space(dd:MaHoSoMotCua)"/></MaHoSoMotCua>
      <MaHoSoDatDai>
        <xsl:value-of select="concat('DD-', substring($received_at, 1, 4), '-', format-number($sequence, '000000'))"/>
      </MaHoSoDatDai>
      <!-- TrangThaiHoSo 4: đang xử lý (processing) -->
      <TrangThai>4</TrangThai>
      <ThoiGian><xsl:value-of select="$now"/></ThoiGian>
      <NoiDung>Hồ sơ đang được thẩm định tại Văn phòng đăng ký đất đai</NoiDung>
    </CapNhatTrangThaiHoSo>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
