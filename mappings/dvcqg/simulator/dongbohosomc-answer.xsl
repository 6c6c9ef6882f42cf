<?xml version="1.0" encoding="UTF-8"?>
<!-- The simulated portal's answer to DongBoHoSoMC: error_code "00", the dossier it now holds. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:fn="http://www.w3.org/2005/xpath-functions"
                xmlns="http://www.w3.org/2005/xpath-functions" exclude-result-prefixes="fn">
  <xsl:param name="key"/>
  <xsl:param name="status"/>
  <xsl:param name="sequence"/>
  <xsl:template match="/fn:map">
    <map>
      <string key="error_code">00</string>
      <string key="message">Đồng bộ hồ sơ thành công</string>
      <map key="result">
        <string key="MaHoSo"><xsl:value-of select="$key"/></string>
        <string key="TrangThaiHoSo"><xsl:value-of select="$status"/></string>
        <string key="SoHoSoDaNhan"><xsl:value-of select="count(fn:array[@key='data']/fn:map)"/></string>
        <string key="MaGiaoDich"><xsl:value-of select="concat('DVCQG-', $sequence)"/></string>
      </map>
    </map>
  </xsl:template>
</xsl:stylesheet>
