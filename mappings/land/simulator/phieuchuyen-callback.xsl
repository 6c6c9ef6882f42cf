<?xml version="1.0" encoding="UTF-8"?>
<!--
  Land registry simulator, a later step: the stored TiepNhanHoSo request → PhieuChuyenThongTinDiaChinh,
  the cadastral information transfer form the registry pushes to the hub (POST <hub>/soap/land,
  operation GuiPhieuChuyenThongTinDiaChinh) once it has checked a transfer dossier, for the tax
  authority to assess the taxes and fees. Every value comes from the dossier it received: the applicant
  is the taxpayer, the parcels are the parcels taxed.

  Parameters come from the simulator's callback task (docs/simulators.md):
    sequence     the registry's case number for the dossier (as in the answer: DD-<year>-<NNNNNN>);
                 the form's number PCTT-<year>-<NNNNNN> uses it too
    received_at  when the registry took the dossier in (xs:dateTime, +07:00)
    now          the time of this step (xs:dateTime, +07:00): the day the form is made
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
    <xsl:variable name="year" select="substring($received_at, 1, 4)"/>
    <xsl:variable name="number" select="format-number($sequence, '000000')"/>
    <xsl:variable name="applicant" select="dd:ThongTinNguoiNopDon"/>
    <PhieuChuyenThongTinDiaChinh>
      <SoPhieu><xsl:value-of select="concat('PCTT-', $year, '-', $number)"/></SoPhieu>
      <MaHoSoMotCua><xsl:value-of select="normalize-space(dd:MaHoSoMotCua)"/></MaHoSoMotCua>
      <SoBienNhan><xsl:value-of select="normalize-space(dd:SoBienNhan)"/></SoBienNhan>
      <MaHoSoDatDai><xsl:value-of select="concat('DD-', $year, '-', $number)"/></MaHoSoDatDai>
      <MaTTHC><xsl:value-of select="normalize-space(dd:MaTTHC)"/></MaTTHC>
      <NgayLapPhieu><xsl:value-of select="$now"/></NgayLapPhieu>
      <NguoiNopThue>
        <HoTen><xsl:value-of select="$applicant/dd:HoTen"/></HoTen>
        <SoGiayTo><xsl:value-of select="$applicant/dd:SoGiayTo"/></SoGiayTo>
        <DiaChi><xsl:value-of select="$applicant/dd:DiaChi"/></DiaChi>
        <xsl:if test="$applicant/dd:SoDienThoai">
          <SoDienThoai><xsl:value-of select="$applicant/dd:SoDienThoai"/></SoDienThoai>
        </xsl:if>
      </NguoiNopThue>
      <xsl:for-each select="dd:ThongTinThuaDat">
        <ThongTinThuaDat>
          <SoThuTuThua><xsl:value-of select="dd:SoThuTuThua"/></SoThuTuThua>
          <SoHieuBanDo><xsl:value-of select="dd:SoHieuBanDo"/></SoHieuBanDo>
          <DienTich><xsl:value-of select="dd:DienTich"/></DienTich>
          <xsl:if test="dd:MucDichSuDung">
            <MucDichSuDung><xsl:value-of select="dd:MucDichSuDung"/></MucDichSuDung>
          </xsl:if>
          <DiaChiChiTiet><xsl:value-of select="dd:DiaChiChiTiet"/></DiaChiChiTiet>
        </ThongTinThuaDat>
      </xsl:for-each>
      <CanBoLapPhieu>
        <HoTen>Phạm Thị Hải Yến</HoTen>
        <ChucVu>Chuyên viên Văn phòng đăng ký đất đai (mô phỏng)</ChucVu>
      </CanBoLapPhieu>
    </PhieuChuyenThongTinDiaChinh>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
