<?xml version="1.0" encoding="UTF-8"?>
<!--
  Tax authority simulator: the payment receipt (CHUNG_TU_NOP_THUE) → KET_QUA_TIEP_NHAN.

  Parameters from the generic simulator engine: message_id (lt:messageId), received_at (xs:dateTime
  with +07:00) and sequence (the simulator's running counter, for its own id TCT-<year>-<NNNNNN>).
  THOI_GIAN is received_at as the tax authority writes times: dd-MM-yyyy HH:mm:ss.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:tt="urn:lienthong:tct:lienthongdatdai:1"
                xmlns="urn:lienthong:tct:lienthongdatdai:1"
                exclude-result-prefixes="tt">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:param name="message_id" select="''"/>
  <xsl:param name="received_at" select="'1970-01-01T07:00:00+07:00'"/>
  <xsl:param name="sequence" select="0"/>

  <xsl:template match="/tt:CHUNG_TU_NOP_THUE">
    <xsl:variable name="ma" select="normalize-space(tt:MA_HSO)"/>
    <KET_QUA_TIEP_NHAN>
      <MA_HSO><xsl:value-of select="$ma"/></MA_HSO>
      <MA_GIAO_DICH>
        <xsl:value-of select="concat('TCT-', substring($received_at, 1, 4), '-', format-number($sequence, '000000'))"/>
      </MA_GIAO_DICH>
      <TRANG_THAI>DA_TIEP_NHAN</TRANG_THAI>
      <THOI_GIAN>
        <xsl:value-of select="concat(substring($received_at, 9, 2), '-', substring($received_at, 6, 2), '-',
                                     substring($received_at, 1, 4), ' ', substring($received_at, 12, 8))"/>
      </THOI_GIAN>
      <THONG_BAO>
        <xsl:value-of select="concat('Cơ quan thuế đã tiếp nhận chứng từ nộp thuế của hồ sơ ', $ma, ': ', tt:SO_TIEN, ' đồng. ', 'Tax authority received the payment receipt.')"/>
      </THONG_BAO>
    </KET_QUA_TIEP_NHAN>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
