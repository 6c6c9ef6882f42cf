<?xml version="1.0" encoding="UTF-8"?>
<!-- The certificate of a request (its stored YeuCauLLTP), pushed to the hub as TraKetQuaLLTP.
     The PDF is a FIXED sample, phieu-lltp-mau.pdf beside this file (PDF 1.4, one page, saying it is a
     simulated sample), in base64: an XSLT 1.0 cannot write a PDF with the citizen's name in it (byte
     offsets, base64 of UTF-8), and the simulator reads no files at run time. The citizen's name is in
     HoVaTen; tests/unit/test_justice_adapter.py checks the constant against the file. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:lltp="urn:lienthong:btp:lltp:1">
  <xsl:param name="sequence" select="0"/>
  <xsl:param name="now" select="''"/>
  <xsl:template match="/lltp:YeuCauLLTP">
    <xsl:variable name="seq" select="format-number($sequence, '000000')"/>
    <lltp:TraKetQuaLLTP>
      <lltp:MaHoSo><xsl:value-of select="lltp:MaHoSo"/></lltp:MaHoSo>
      <lltp:SoTiepNhan><xsl:value-of select="concat('LLTP-', $seq)"/></lltp:SoTiepNhan>
      <lltp:SoPhieu><xsl:value-of select="concat($seq, '/2026/LLTP')"/></lltp:SoPhieu>
      <lltp:NgayCap><xsl:value-of select="substring($now, 1, 10)"/></lltp:NgayCap>
      <lltp:LoaiPhieu><xsl:value-of select="lltp:ToKhai/lltp:LoaiPhieuYeuCau"/></lltp:LoaiPhieu>
      <lltp:HoVaTen><xsl:value-of select="lltp:ToKhai/lltp:HoVaTen"/></lltp:HoVaTen>
      <lltp:TepKetQua>
        <lltp:TenTep><xsl:value-of select="concat('phieu-lltp-', $seq, '.pdf')"/></lltp:TenTep>
        <lltp:LoaiTep>application/pdf</lltp:LoaiTep>
        <lltp:NoiDung>JVBERi0xLjQKJeLjz9MKMSAwIG9iago8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4KZW5kb2JqCjIgMCBvYmoKPDwgL1R5cGUgL1BhZ2VzIC9LaWRzIFszIDAgUl0gL0NvdW50IDEgPj4KZW5kb2JqCjMgMCBvYmoKPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiAvTWVkaWFCb3ggWzAgMCA1OTUgODQyXSAvUmVzb3VyY2VzIDw8IC9Gb250IDw8IC9GMSA1IDAgUiA+PiA+PiAvQ29udGVudHMgNCAwIFIgPj4KZW5kb2JqCjQgMCBvYmoKPDwgL0xlbmd0aCAzMDkgPj4Kc3RyZWFtCkJUIC9GMSAxNCBUZiA1NiA3ODAgVGQgMTggVEwKKFBISUVVIExZIExJQ0ggVFUgUEhBUCAtIEJBTiBNQVUgTU8gUEhPTkcpICcKKENyaW1pbmFsIHJlY29yZCBjZXJ0aWZpY2F0ZSAtIHNpbXVsYXRlZCBzYW1wbGUpICcKKEJvIFR1IHBoYXAgLyBNaW5pc3RyeSBvZiBKdXN0aWNlICgwMDAuMDAuMDAuRzE1KSkgJwooVGVwIG5heSBkbyBoZSB0aG9uZyBtbyBwaG9uZyB0YW8gcmEsIGtob25nIGNvIGdpYSB0cmkgcGhhcCBseS4pICcKKFRoaXMgZmlsZSBjb21lcyBmcm9tIGEgc2ltdWxhdG9yIGFuZCBoYXMgbm8gbGVnYWwgdmFsdWUuKSAnCkVUCmVuZHN0cmVhbQplbmRvYmoKNSAwIG9iago8PCAvVHlwZSAvRm9udCAvU3VidHlwZSAvVHlwZTEgL0Jhc2VGb250IC9IZWx2ZXRpY2EgPj4KZW5kb2JqCnhyZWYKMCA2CjAwMDAwMDAwMDAgNjU1MzUgZiAKMDAwMDAwMDAxNSAwMDAwMCBuIAowMDAwMDAwMDY0IDAwMDAwIG4gCjAwMDAwMDAxMjEgMDAwMDAgbiAKMDAwMDAwMDI0NyAwMDAwMCBuIAowMDAwMDAwNjA2IDAwMDAwIG4gCnRyYWlsZXIKPDwgL1NpemUgNiAvUm9vdCAxIDAgUiA+PgpzdGFydHhyZWYKNjc2CiUlRU9GCg==</lltp:NoiDung>
      </lltp:TepKetQua>
    </lltp:TraKetQuaLLTP>
  </xsl:template>
</xsl:stylesheet>
