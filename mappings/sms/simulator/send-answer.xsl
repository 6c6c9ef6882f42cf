<?xml version="1.0" encoding="UTF-8"?>
<!-- The simulated SMS gateway's answer: accepted (CodeResult 100), with its own id for the message. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:fn="http://www.w3.org/2005/xpath-functions"
                xmlns="http://www.w3.org/2005/xpath-functions" exclude-result-prefixes="fn">
  <xsl:param name="key"/>
  <xsl:template match="/fn:map">
    <map>
      <string key="CodeResult">100</string>
      <string key="SmsId"><xsl:value-of select="fn:string[@key='RequestId']"/></string>
    </map>
  </xsl:template>
</xsl:stylesheet>
