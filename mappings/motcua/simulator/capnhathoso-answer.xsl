<?xml version="1.0" encoding="UTF-8"?>
<!-- The simulated one-stop system's answer to a callback: error_code "00", the dossier's status now,
     and the SHA-256 of each result document it decoded (parameter 'digests', space-separated). -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:fn="http://www.w3.org/2005/xpath-functions"
                xmlns="http://www.w3.org/2005/xpath-functions" exclude-result-prefixes="fn">
  <xsl:param name="key"/>
  <xsl:param name="status"/>
  <xsl:param name="digests" select="''"/>
  <xsl:template match="/fn:map">
    <map>
      <string key="error_code">00</string>
      <string key="message">Đã cập nhật hồ sơ</string>
      <string key="MaHoSo"><xsl:value-of select="$key"/></string>
      <string key="TrangThaiHoSo"><xsl:value-of select="$status"/></string>
      <array key="GiayToNhan">
        <xsl:call-template name="words"><xsl:with-param name="text" select="normalize-space($digests)"/></xsl:call-template>
      </array>
    </map>
  </xsl:template>
  <xsl:template name="words">
    <xsl:param name="text"/>
    <xsl:if test="$text != ''">
      <xsl:choose>
        <xsl:when test="contains($text, ' ')">
          <string><xsl:value-of select="substring-before($text, ' ')"/></string>
          <xsl:call-template name="words"><xsl:with-param name="text" select="substring-after($text, ' ')"/></xsl:call-template>
        </xsl:when>
        <xsl:otherwise><string><xsl:value-of select="$text"/></string></xsl:otherwise>
      </xsl:choose>
    </xsl:if>
  </xsl:template>
</xsl:stylesheet>
