<?xml version="1.0" encoding="UTF-8"?>
<!-- TraCuuHoSo: whether the portal holds the dossier ("01" when not) and its latest TrangThaiHoSo. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:fn="http://www.w3.org/2005/xpath-functions"
                xmlns="http://www.w3.org/2005/xpath-functions" exclude-result-prefixes="fn">
  <xsl:param name="key"/>
  <xsl:param name="status"/>
  <xsl:param name="received_at"/>
  <xsl:template match="/fn:map">
    <map>
      <xsl:choose>
        <xsl:when test="$status = ''">
          <string key="error_code">01</string>
          <string key="message">Không tìm thấy hồ sơ</string>
          <array key="result"/>
        </xsl:when>
        <xsl:otherwise>
          <string key="error_code">00</string>
          <string key="message">Thành công</string>
          <array key="result">
            <map>
              <string key="MaHoSo"><xsl:value-of select="$key"/></string>
              <string key="TrangThaiHoSo"><xsl:value-of select="$status"/></string>
            </map>
          </array>
        </xsl:otherwise>
      </xsl:choose>
    </map>
  </xsl:template>
</xsl:stylesheet>
