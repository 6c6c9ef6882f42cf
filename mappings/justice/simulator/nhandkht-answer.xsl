<?xml version="1.0" encoding="UTF-8"?>
<!-- NhanDKHT taken in (request and answer as the XML representation of JSON): the civil status
     service's receipt, status "1", with its own case number maHoSoLT. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:fn="http://www.w3.org/2005/xpath-functions" xmlns="http://www.w3.org/2005/xpath-functions"
                exclude-result-prefixes="fn">
  <xsl:param name="sequence" select="0"/>
  <xsl:template match="/fn:map">
    <map>
      <string key="status">1</string>
      <string key="statusDescription">Tiếp nhận hồ sơ thành công</string>
      <string key="maHoSoLT"><xsl:value-of select="concat('HT-', format-number($sequence, '000000'))"/></string>
    </map>
  </xsl:template>
</xsl:stylesheet>
