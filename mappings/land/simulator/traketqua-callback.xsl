<?xml version="1.0" encoding="UTF-8"?>
<!--
  Land registry simulator, a later step: the stored NhanBienLaiThanhToan request (the citizen paid) →
  TraKetQuaHoSo, the result the registry pushes to the hub (POST <hub>/soap/land): the land-use right
  certificate issued. The simulator issues it for every paid dossier; a real registry may refuse.

  Parameters come from the simulator's callback task (docs/simulators.md):
    case_sequence, case_received_at
                 the dossier's case (the first record under the same dossier code: its TiepNhanHoSo),
                 so the result names the registry's case id DD-<year>-<NNNNNN> its first answer gave
    sequence     the registry's running number of this record: the certificate's serial and register
                 numbers are made from it
    now          the time of this step (xs:dateTime, +07:00): the day the certificate is issued
  Self-contained XSLT 1.0 so it runs with XSLTAccessControl.DENY_ALL.
-->
<xsl:stylesheet version="1.0"
                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:dd="urn:lienthong:tnmt:dangkydatdai:1"
                xmlns="urn:lienthong:tnmt:dangkydatdai:1"
                exclude-result-prefixes="dd">

  <xsl:output method="xml" encoding="UTF-8" indent="no"/>

  <xsl:param name="case_received_at" select="'1970-01-01T07:00:00+07:00'"/>
  <xsl:param name="case_sequence" select="0"/>
  <xsl:param name="sequence" select="0"/>
  <xsl:param name="now" select="'1970-01-01T07:00:00+07:00'"/>

  <xsl:template match="/dd:NhanBienLaiThanhToan">
    <TraKetQuaHoSo>
      <MaHoSoMotCua><xsl:value-of select="normalize-space(dd:SoBienNhan)"/></MaHoSoMotCua>
      <MaHoSoDatDai>
        <xsl:value-of select="concat('DD-', substring($case_received_at, 1, 4), '-', format-number($case_sequence, '000000'))"/>
      </MaHoSoDatDai>
      <KetQua>DaCapGiayChungNhan</KetQua>
      <ThoiGian><xsl:value-of select="$now"/></ThoiGian>
      <GiayChungNhan>
        <SoPhatHanh><xsl:value-of select="concat('DE ', format-number(500000 + $sequence, '000000'))"/></SoPhatHanh>
        <SoVaoSo><xsl:value-of select="concat('CS', format-number($sequence, '00000'))"/></SoVaoSo>
        <NgayCap><xsl:value-of select="substring($now, 1, 10)"/></NgayCap>
        <CoQuanCap>Sở Tài nguyên và Môi trường tỉnh Quảng Ninh</CoQuanCap>
      </GiayChungNhan>
      <CanBoXuLy>
        <HoTen>Nguyễn Văn Khánh</HoTen>
        <ChucVu>Giám đốc Văn phòng đăng ký đất đai (mô phỏng)</ChucVu>
      </CanBoXuLy>
    </TraKetQuaHoSo>
  </xsl:template>

  <xsl:template match="text()"/>
</xsl:stylesheet>
