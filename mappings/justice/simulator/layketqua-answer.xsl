<?xml version="1.0" encoding="UTF-8"?>
<!-- LayKetQua: for each dossier code asked about, the case the service holds (sim:case, the stored
     NhanDKHT): trangThai 10 with its result once the case is 'ready', 4 (processing) before; codes it
     does not hold are left out. The result echoes what was registered (the child's or the deceased's
     name and date of birth) and numbers the registration from the case's sequence. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:fn="http://www.w3.org/2005/xpath-functions" xmlns="http://www.w3.org/2005/xpath-functions"
                xmlns:sim="urn:lienthong:simulator:1"
                exclude-result-prefixes="fn sim">
  <xsl:template match="/fn:map">
    <xsl:variable name="maTinh" select="fn:string[@key='maTinh']"/>
    <map>
      <number key="status">1</number>
      <string key="statusDescription">Thành công</string>
      <array key="value">
        <xsl:for-each select="fn:array[@key='maDinhDanhHoSo']/fn:string">
          <xsl:variable name="case" select="sim:case(string(.))"/>
          <xsl:if test="$case">
            <xsl:variable name="request" select="$case/fn:map"/>
            <xsl:variable name="hoTich" select="$request/fn:map[@key='data']/fn:map[@key='hoTich']"/>
            <xsl:variable name="seq" select="format-number($case/@sequence, '000000')"/>
            <map>
              <string key="maDonVi"><xsl:value-of select="$request/fn:string[@key='maDonVi']"/></string>
              <string key="maTinh"><xsl:value-of select="$maTinh"/></string>
              <string key="module"><xsl:value-of select="$request/fn:string[@key='module']"/></string>
              <string key="maHoSoLT"><xsl:value-of select="concat('HT-', $seq)"/></string>
              <string key="maHoSoMCDT"><xsl:value-of select="."/></string>
              <xsl:choose>
                <xsl:when test="$case/@status = 'ready'">
                  <string key="trangThai">10</string>
                  <xsl:variable name="at" select="$case/@received-at"/>
                  <string key="thoiGianThucHien">
                    <xsl:value-of select="concat(substring($at, 1, 4), substring($at, 6, 2), substring($at, 9, 2),
                      substring($at, 12, 2), substring($at, 15, 2), substring($at, 18, 2))"/>
                  </string>
                  <string key="noiDungXuLy">Đã đăng ký, trả kết quả</string>
                  <map key="ketQuaXuLy">
                    <string key="soDangKy"><xsl:value-of select="$seq"/></string>
                    <string key="quyenSo">01/2026</string>
                    <string key="ngayDangKy">
                      <xsl:value-of select="concat(substring($case/@received-at, 9, 2), '/',
                        substring($case/@received-at, 6, 2), '/', substring($case/@received-at, 1, 4))"/>
                    </string>
                    <xsl:choose>
                      <xsl:when test="$hoTich/fn:string[@key='nksHoTen']">
                        <string key="nksHoTen"><xsl:value-of select="$hoTich/fn:string[@key='nksHoTen']"/></string>
                        <string key="nksNgaySinh"><xsl:value-of select="$hoTich/fn:string[@key='nksNgaySinh']"/></string>
                      </xsl:when>
                      <xsl:otherwise>
                        <string key="nktHoTen"><xsl:value-of select="$hoTich/fn:string[@key='nktHoTen']"/></string>
                      </xsl:otherwise>
                    </xsl:choose>
                    <string key="maGiayToKetQua"><xsl:value-of select="concat('TL-', $seq)"/></string>
                  </map>
                </xsl:when>
                <xsl:otherwise>
                  <string key="trangThai">4</string>
                  <string key="noiDungXuLy">Đang xử lý</string>
                </xsl:otherwise>
              </xsl:choose>
            </map>
          </xsl:if>
        </xsl:for-each>
      </array>
    </map>
  </xsl:template>
</xsl:stylesheet>
