<?xml version="1.0" encoding="UTF-8"?>
<!--
  Reconciliation (docs/reconciliation.md): the registry's status of a dossier that the one-stop system
  was never told, as the CapNhatTrangThaiHoSo the registry would have pushed. Input: the TiepNhanHoSo
  the hub delivered for the dossier. Parameters from the reconciliation run:
    key               the dossier code (MaHoSoMotCua)
    status            the registry's own status (processing, supplement-requested, certificate-issued…)
    code              the national TrangThaiHoSo it maps to (config/adapters/land.yaml reconcile.statuses)
    now               when the registry's record last changed (xs:dateTime, +07:00): the same every run
    case_sequence     the registry's case number for the dossier (DD-<year>-<NNNNNN>)
    case_received_at  when the registry took the dossier in
  Self-contained XSLT 1.0 so it runs with XSLTAccessControl.DENY_ALL.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:dd="urn:lienthong:tnmt:dangkydatdai:1"
                xmlns="urn:lienthong:tnmt:dangkydatdai:1"
                exclude-result-prefixes="dd">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:param name="key" select="''"/>
  <xsl:param name="status" select="''"/>
  <xsl:param name="code" select="'4'"/>
  <xsl:param name="now" select="'1970-01-01T07:00:00+07:00'"/>
  <xsl:param name="case_sequence" select="'0'"/>
  <xsl:param name="case_received_at" select="'1970-01-01T07:00:00+07:00'"/>

  <xsl:template match="/dd:TiepNhanHoSo">
    <CapNhatTrangThaiHoSo>
      <MaHoSoMotCua><xsl:value-of select="normalize-space(dd:MaHoSoMotCua)"/></MaHoSoMotCua>
      <MaHoSoDatDai>
        <xsl:value-of select="concat('DD-', substring($case_received_at, 1, 4), '-', format-number($case_sequence, '000000'))"/>
      </MaHoSoDatDai>
      <TrangThai><xsl:value-of select="$code"/></TrangThai>
      <ThoiGian><xsl:value-of select="$now"/></ThoiGian>
      <NoiDung>
        <xsl:choose>
          <xsl:when test="$code = '5'">Văn phòng đăng ký đất đai yêu cầu bổ sung giấy tờ (đối soát)</xsl:when>
          <xsl:when test="$code = '10'">Văn phòng đăng ký đất đai đã trả kết quả (đối soát)</xsl:when>
          <xsl:otherwise>Hồ sơ đang được xử lý tại Văn phòng đăng ký đất đai (đối soát)</xsl:otherwise>
        </xsl:choose>
      </NoiDung>
    </CapNhatTrangThaiHoSo>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
