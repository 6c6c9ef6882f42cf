"""The legacy Vietnamese encodings still found in provincial data, decoded to NFC Unicode.

Since 2003 state bodies must use Unicode (TCVN 6909:2001), yet records typed in the 1990s and 2000s reach
the hub in four older encodings. This module turns their bytes into NFC text; ``vndetect`` decides which
one a field is in.

* ``tcvn3`` — TCVN 5712:1993 (the ``.VnTime`` / ABC fonts). One byte per letter. The table below is the
  upper half of the standard's VN1 layout (0x80–0xFF), of which the VN3 set the ABC fonts use is the
  part from 0xA1 (uppercase base vowels and lowercase toned letters); VN1's uppercase toned letters at
  0x80–0x9F and its five combining tone marks at 0xB0–0xB4 decode too, so text typed with either set
  converts. The C0 positions VN1 also assigns are left out: XML cannot carry them. Checked byte for
  byte against the GNU C library's ``TCVN5712-1`` charmap.
* ``vni`` — VNI for Windows (``VNI-Times`` fonts), VNI Software's published keyboard-font table. A toned
  vowel is a base ASCII letter followed by one mark byte (tone, or vowel mark and tone in one byte), e.g.
  ``a`` + 0xF9 = á, ``e`` + 0xE1 = ế; uppercase letters take the uppercase mark byte (``A`` + 0xD9 = Á).
  ơ ư đ ĩ ị ỉ and their capitals are single bytes (0xF4 0xF6 0xF1 0xF3 0xF2 0xE6), as are í ì (0xED
  0xEC, as in Latin-1). For ỵ both 0xEE (the font's own dot for y) and 0xEF (the dot of other letters)
  are found in real files; both decode.
* ``viscii`` — VISCII 1.1, RFC 1456 (1993): one byte per letter, Latin-1 where Latin-1 has the letter;
  six capitals sit in C0 positions (0x02 0x05 0x06 0x14 0x19 0x1E). Checked against glibc's ``VISCII``.
* ``cp1258`` — Windows-1258 (Microsoft's code page): base letters, ă â ê ô ơ ư đ, and five combining tone
  marks. Python's codec decodes it to decomposed text, which is composed here.

Legacy text rarely reaches the hub as bytes: the old system read the bytes as Windows-1252 (or
ISO-8859-1) and wrote those characters out again as UTF-8, so "Quảng" typed in TCVN3 arrives as
"Qu¶ng". :func:`legacy_bytes` undoes that step; :func:`decode` then reads the bytes in the legacy
encoding.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal, get_args

__all__ = ["ENCODINGS", "Encoding", "decode", "legacy_bytes"]

Encoding = Literal["tcvn3", "vni", "viscii", "cp1258"]
ENCODINGS: Final[tuple[Encoding, ...]] = get_args(Encoding)

# fmt: off
#: TCVN 5712:1993, bytes 0x80–0xFF (VN1's upper half; VN3 is the part from 0xA1).
_TCVN3_HIGH: Final = (
    "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨ"  # 0x80
    "ÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"  # 0x90
    "\u00a0ĂÂÊÔƠƯĐăâêôơưđẰ"  # 0xA0
    "\u0300\u0309\u0303\u0301\u0323àảãáạẲằẳẵắẴ"  # 0xB0
    "ẮẦẨẪẤỀặầẩẫấậèỂẻẽ"  # 0xC0
    "éẹềểễếệìỉỄẾỒĩíịò"  # 0xD0
    "Ổỏõóọồổỗốộờởỡớợù"  # 0xE0
    "ỖủũúụừửữứựỳỷỹýỵỐ"  # 0xF0
)
#: VISCII (RFC 1456), bytes 0x80–0xFF.
_VISCII_HIGH: Final = (
    "ẠẮẰẶẤẦẨẬẼẸẾỀỂỄỆỐ"  # 0x80
    "ỒỔỖỘỢỚỜỞỊỎỌỈỦŨỤỲ"  # 0x90
    "Õắằặấầẩậẽẹếềểễệố"  # 0xA0
    "ồổỗỠƠộờởịỰỨỪỬơớƯ"  # 0xB0
    "ÀÁÂÃẢĂẳẵÈÉÊẺÌÍĨỳ"  # 0xC0
    "ĐứÒÓÔạỷừửÙÚỹỵÝỡư"  # 0xD0
    "àáâãảăữẫèéêẻìíĩỉ"  # 0xE0
    "đựòóôõỏọụùúũủýợỮ"  # 0xF0
)
# fmt: on
_VISCII_C0: Final = {0x02: "Ẳ", 0x05: "Ẵ", 0x06: "Ẫ", 0x14: "Ỷ", 0x19: "Ỹ", 0x1E: "Ỵ"}


def _byte_table(high: str, low: dict[int, str] | None = None) -> dict[int, str]:
    """A ``str.translate`` table from Latin-1 characters (as bytes read one for one) to the letters."""
    table = {0x80 + i: ch for i, ch in enumerate(high)}
    table.update(low or {})
    return table


_TABLES: Final = {
    "tcvn3": _byte_table(_TCVN3_HIGH),
    "viscii": _byte_table(_VISCII_HIGH, _VISCII_C0),
}

# VNI: the mark bytes, as Latin-1 characters (lowercase form; the uppercase byte is 0x20 lower).
_ACUTE, _GRAVE, _HOOK, _TILDE, _DOT = "\u0301", "\u0300", "\u0309", "\u0303", "\u0323"
_CIRC, _BREVE = "\u0302", "\u0306"
_VNI_MARKS: Final = {
    "ù": _ACUTE, "ø": _GRAVE, "û": _HOOK, "õ": _TILDE, "ï": _DOT,  # tones
    "â": _CIRC, "á": _CIRC + _ACUTE, "à": _CIRC + _GRAVE, "å": _CIRC + _HOOK, "ã": _CIRC + _TILDE,
    "ä": _CIRC + _DOT,  # â ê ô with a tone
    "ê": _BREVE, "é": _BREVE + _ACUTE, "è": _BREVE + _GRAVE, "ú": _BREVE + _HOOK, "ü": _BREVE + _TILDE,
    "ë": _BREVE + _DOT,  # ă with a tone
}  # fmt: skip
#: Single-byte letters: ơ ư đ and i with a tone (VNI has no i-family mark that sits on a bare "i").
_VNI_SINGLE: Final = {"ô": "ơ", "ö": "ư", "ñ": "đ", "ó": "ĩ", "ò": "ị", "æ": "ỉ"}
_VNI_TONES: Final = "ùøûõï"


def _vni_sequences() -> dict[str, str]:
    """Every VNI letter as the Latin-1 characters its bytes read as, lowercase and uppercase."""
    seqs: dict[str, str] = {}
    for case in (str.lower, str.upper):
        for mark, combining in _VNI_MARKS.items():
            bases = "a" if _BREVE in combining else "aeo" if _CIRC in combining else "aeiouy"
            for base in bases:
                seqs[case(base + mark)] = unicodedata.normalize("NFC", case(base) + combining)
        for single, letter in _VNI_SINGLE.items():
            seqs[case(single)] = case(letter)
        for tone in _VNI_TONES:  # ơ and ư, single bytes themselves, take a tone byte after them
            for single in "ôö":
                letter = unicodedata.normalize("NFC", _VNI_SINGLE[single] + _VNI_MARKS[tone])
                seqs[case(single + tone)] = case(letter)
    seqs["yî"], seqs["YÎ"] = "ỵ", "Ỵ"
    return seqs


_VNI: Final = _vni_sequences()
_VNI_PATTERN: Final = re.compile("|".join(re.escape(s) for s in sorted(_VNI, key=len, reverse=True)))


def legacy_bytes(text: str) -> bytes | None:
    """The bytes an old system read as Windows-1252 (or ISO-8859-1) to produce ``text``; None when
    ``text`` holds a character neither has, so it cannot be such a reading (it is Unicode already)."""
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return None
            out.append(ord(ch))  # a C1 control: Windows-1252 leaves 0x81 0x8D 0x8F 0x90 0x9D undefined
    return bytes(out)


def decode(data: bytes, encoding: Encoding) -> str:
    """``data`` read in a legacy encoding, as NFC text. Bytes the encoding does not assign are kept as
    their Latin-1 characters, so a wrong guess shows as foreign characters rather than failing here."""
    if encoding == "cp1258":
        text = data.decode("cp1258", errors="replace")
    else:
        text = data.decode("latin-1")
        if encoding == "vni":
            text = _VNI_PATTERN.sub(lambda m: _VNI[m.group(0)], text)
        else:
            text = text.translate(_TABLES[encoding])
    return unicodedata.normalize("NFC", text)
