<?xml version="1.0" encoding="UTF-8"?>
<!-- YeuCauLLTP taken in: the criminal record system's receipt (MaKetQua 00) with its own number. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:lltp="urn:lienthong:btp:lltp:1">
  <xsl:param name="sequence" select="0"/>
  <xsl:param name="received_at" select="''"/>
  <xsl:template match="/lltp:YeuCauLLTP">
    <lltp:YeuCauLLTPResponse>
      <lltp:KetQua>
        <lltp:MaKetQua>00</lltp:MaKetQua>
        <lltp:MoTa>Tiếp nhận yêu cầu cấp Phiếu lý lịch tư pháp</lltp:MoTa>
      </lltp:KetQua>
      <lltp:MaHoSo><xsl:value-of select="lltp:MaHoSo"/></lltp:MaHoSo>
      <lltp:SoTiepNhan><xsl:value-of select="concat('LLTP-', format-number($sequence, '000000'))"/></lltp:SoTiepNhan>
      <lltp:ThoiGianTiepNhan><xsl:value-of select="$received_at"/></lltp:ThoiGianTiepNhan>
    </lltp:YeuCauLLTPResponse>
  </xsl:template>
</xsl:stylesheet>
