"""Which encoding a field's text is in: Unicode already, or one of the legacy encodings read wrongly.

A field holds Unicode unless proven otherwise. Text with a character outside Windows-1252 and Latin-1
(ă đ ơ ư ạ ả …: nearly every Vietnamese word in Unicode) cannot be a legacy reading and is left alone, as
is plain ASCII. Otherwise the text is read in each candidate encoding (:mod:`lienthong.vncodecs`) and every
reading is judged as Vietnamese: each word that has a letter beyond ASCII must be a Vietnamese syllable —
an onset, one of the language's rhymes, at most one tone, and only the sắc or nặng tone on a rhyme ending
in c, ch, p or t — and no character may be foreign (a ¶ or a µ left over, a ø, an ñ). Mojibake fails
that test in every encoding but its own.

The verdict is ``unicode`` (leave the text), one encoding (convert), ``ambiguous`` (Unicode and a legacy
reading, or two legacy readings, are all plausible and differ: "Tây" is Unicode, and would read as
TCVN3 if "tõy" were a syllable) or ``undecodable`` (no reading is Vietnamese).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from lienthong.vncodecs import ENCODINGS, Encoding, decode, legacy_bytes

__all__ = ["Detection", "detect", "is_vietnamese"]


def _words(text: str) -> list[str]:
    return text.split()


_TONES: Final = frozenset("\u0300\u0301\u0303\u0309\u0323")
_CHECKED_TONES: Final = frozenset("\u0301\u0323")  # sắc, nặng: the only tones of a checked syllable
_ONSET: Final = r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?"
#: Every rhyme of Vietnamese, without its tone.
_RHYMES: Final = _words(
    """
a ai ao au ay ac ach am an ang anh ap at ăc ăm ăn ăng ăp ăt âc âm ân âng âp ât âu ây e eo ec em en
eng ep et ê êch êm ên ênh êp êt êu i ia ich im in inh ip it iu iêc iêm iên iêng iêp iêt iêu o oa oac
oach oai oam oan oang oanh oao oap oat oay oăc oăm oăn oăng oăt oe oen oeo oet oi oc om on ong op ot
ooc oong ô ôc ôi ôm ôn ông ôp ôt ơ ơi ơm ơn ơp ơt u ua uân uâng uât uây uc ui um un ung up ut uê
uêch uênh uy uya uych uyên uyêt uynh uyt uyu uôc uôi uôm uôn uông uôt uơ ư ưa ưc ưi ưm ưn ưng ưt ưu
ươc ươi ươm ươn ương ươp ươt ươu y yêm yên yêt yêu
"""
)
_SYLLABLE: Final = re.compile(f"({_ONSET})({'|'.join(sorted(_RHYMES, key=len, reverse=True))})")
_VOWELS: Final = frozenset("aăâeêioôơuưy")
#: Rhymes of two vowels where the tone may sit on either (old and new style: hoà / hòa).
_EITHER: Final = frozenset({"oa", "oe", "uy", "uê", "uơ"})
#: Spelling rules: gh, ngh and k only before e, ê, i (k also before y); c, g, ng never there.
_MISSPELT: Final = re.compile("ngh(?![eêi])|gh(?![eêi])|k(?![eêiyh])|(?:c|ng)(?=[eêi])|g(?=[eê])|q(?!u)")
_VIETNAMESE_LETTERS: Final = frozenset(
    unicodedata.normalize("NFC", base + tone) for base in "aăâeêioôơuưy" for tone in ("", *_TONES)
) | frozenset("đ")
#: Words are split at ASCII punctuation, digits and spaces; any other character stays in its word.
_WORD_SPLIT: Final = re.compile(r"[\s\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+")
#: Syllables frequent in administrative text, personal and place names: when several readings are
#: plausible, the one with more of them is Vietnamese and the others are accidents of the tables.
_COMMON: Final = frozenset(
    unicodedata.normalize("NFC", w)
    for w in _words(
        """
bé cô chú bác ủy uỷ ban nhân dân tỉnh thành phố huyện quận xã phường thị trấn thôn xóm bản ấp tổ khu khối đội
cộng hòa hoà xã hội chủ nghĩa việt nam độc lập tự do hạnh phúc sở ngành cục chi vụ bộ tài nguyên môi
trường đất đai văn phòng đăng ký ký kí giấy chứng nhận quyền sử dụng sở hữu nhà ở và tài sản khác
gắn liền với thửa tờ bản đồ số diện tích mục đích thời hạn nguồn gốc giao cho thuê công nhận chuyển
nhượng tặng cho thừa kế thế chấp góp vốn hồ sơ thủ tục hành chính một cửa tiếp nhận trả kết quả giải
quyết thuế phí lệ trước bạ thu nộp tiền ngân sách nhà nước thông báo quyết định tờ khai phiếu biên
lai hóa hoá đơn chứng từ đề nghị đơn xin cấp đổi lại bổ sung điều chỉnh hủy huỷ bỏ người họ tên ngày
tháng năm sinh giới tính nam nữ quốc tịch dân tộc kinh tày thái mường hoa khmer nùng hmông dao địa
chỉ nơi cư trú thường tạm quê quán căn cước công dân chứng minh hộ chiếu khẩu gia đình vợ chồng cha
mẹ con ông bà anh chị em cháu đại diện pháp luật theo ủy quyền doanh nghiệp công ty trách nhiệm hữu
hạn cổ phần tư nhân hợp tác mã điện thoại thư tín nguyễn trần lê phạm hoàng huỳnh phan vũ võ đặng
bùi đỗ hồ ngô dương lý đinh đào đoàn vương trịnh trương lâm mai lương tô tạ cao quách hà thái từ
triệu kiều văn thị hữu đức minh thanh thành hùng dũng tuấn anh hương hường hằng hạnh hoa lan liên
linh loan mai ngọc nhung phương quỳnh thảo thu thủy thuỷ trang vân yến hải hiếu hiền hòa hoà huy
khánh khoa long nam phong phúc quang quân sơn tâm thắng thịnh tiến toàn trung tú tùng việt vinh xuân
bảo chiến cường đạt định đông duy giang hiệp hoàng khang lợi mạnh nghĩa nhân phát quý sang tài tân
thạch thiện thông trí trọng tuệ tuyết uyên vy yên ánh bích châu diệp điệp giao hân hồng huệ kim lệ
my nga ngân nguyệt nhàn như oanh phượng quyên sương tâm thoa thơ thúy thư trâm trinh tuyền vi xuân
hiển cảnh quảng ninh hạ cẩm phả uông bí móng cái đông triều yên quảng hoành bồ vân đồn tiên cô tô
bình liêu hải đầm hà hồng gai bãi cháy giếng đáy hùng thắng cao xanh kênh hòn gai mạo khê tràng hà
nội hồ chí minh đà nẵng hải phòng cần thơ huế sài gòn bắc nam trung tây đông ninh giang sông núi hồ
biển đảo đường phố ngõ ngách hẻm số lô căn hộ tầng tòa toà khu đô thị công nghiệp cảng cà mau bến
tre tây ninh lào cai thanh hóa hoá nghệ an thái bình nguyên lạng sơn la điện biên
"""
    )
)

Verdict = Literal["unicode", "ambiguous", "undecodable"] | Encoding


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` found: the verdict, and the NFC text to use when it is an encoding."""

    verdict: Verdict
    text: str
    #: The encodings whose reading was plausible (for an ambiguous verdict, the contenders).
    candidates: tuple[str, ...] = ()


def _syllable_ok(word: str) -> bool:
    if not (word.islower() or word.isupper() or word.istitle()):
        return False  # "HÕa", "nGuyễn": a reading that mixes case inside a word is an accident
    decomposed = unicodedata.normalize("NFD", word.lower())
    tones = [c for c in decomposed if c in _TONES]
    if len(tones) > 1:
        return False
    bare = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))
    match = _SYLLABLE.fullmatch(bare)
    if match is None or _MISSPELT.match(bare):
        return False
    if tones and not _tone_in_place(unicodedata.normalize("NFC", word.lower()), match):
        return False
    checked = bare.endswith(("c", "ch", "p", "t"))
    return not (checked and tones and tones[0] not in _CHECKED_TONES)


def _tone_in_place(word: str, match: re.Match[str]) -> bool:
    """The tone sits on the rhyme's main vowel: the last before a final consonant, else the first of
    two (the middle of three), either of oa oe uy uê uơ. "Haò" (cp1258 read as Windows-1252) fails."""
    start = match.start(2)
    rhyme = match.group(2)
    toned = next(i for i, ch in enumerate(word) if _TONES & set(unicodedata.normalize("NFD", ch))) - start
    vowels = [i for i, ch in enumerate(rhyme) if ch in _VOWELS]
    if toned not in vowels:
        return False
    if rhyme[-1] not in _VOWELS:
        return toned == vowels[-1]
    if len(vowels) == 2 and rhyme in _EITHER:
        return True
    return toned == vowels[(len(vowels) - 1) // 2]


def is_vietnamese(text: str) -> bool:
    """True when every word with a letter beyond ASCII is a Vietnamese syllable (ASCII words — codes,
    foreign names, words typed without accents — are not judged)."""
    for word in _WORD_SPLIT.split(unicodedata.normalize("NFC", text)):
        if word.isascii():
            continue
        if any(not ch.isascii() and ch.lower() not in _VIETNAMESE_LETTERS for ch in word):
            return False
        if not _syllable_ok(word):
            return False
    return True


def detect(text: str, encodings: Iterable[Encoding] = ENCODINGS, *, named: bool = False) -> Detection:
    """The verdict on one field's text among ``encodings`` (all four by default).

    ``named``: the configuration says this field is in the one encoding given when it is not Unicode,
    so a reading in it that is more familiar than the text read as Unicode is taken."""
    text = unicodedata.normalize("NFC", text)
    data = legacy_bytes(text) if not text.isascii() else None
    if data is None:  # ASCII, or a character no legacy reading can produce
        return Detection("unicode", text)
    readings: dict[str, Encoding] = {}
    for encoding in encodings:
        reading = decode(data, encoding)
        if reading != text and is_vietnamese(reading):
            readings.setdefault(reading, encoding)
    as_unicode = is_vietnamese(text)
    if not readings:
        return Detection("unicode" if as_unicode else "undecodable", text)
    ranked = sorted(readings.items(), key=lambda item: _familiarity(item[0]), reverse=True)
    best, runner_up = _familiarity(ranked[0][0]), _familiarity(ranked[1][0]) if len(ranked) > 1 else -1
    contenders = tuple(encoding for _, encoding in ranked)
    if as_unicode:
        # Text that reads as Unicode Vietnamese is never rewritten on a guess: it stays unless a legacy
        # reading is more familiar, and then a person must decide.
        if _familiarity(text) >= best:
            return Detection("unicode", text)
        if not named:
            return Detection("ambiguous", text, ("unicode", *contenders))
    if best == runner_up:
        return Detection("ambiguous", text, contenders)
    return Detection(ranked[0][1], ranked[0][0], contenders)


def _familiarity(text: str) -> int:
    """How many of the words of ``text`` are frequent Vietnamese syllables."""
    return sum(word.lower() in _COMMON for word in _WORD_SPLIT.split(text))
