"""Identifiers the hub can check before it asks anyone: a wrong one is refused without a call.

**Enterprise code = tax code** (mã số doanh nghiệp / mã số thuế, MST): ten digits, the last a check
digit, or a branch (đơn vị phụ thuộc) ``NNNNNNNNNN-NNN``: the parent's ten digits and a three-digit
branch number. The check digit is d10 = 10 − (Σ dᵢ·wᵢ mod 11) over the first nine digits with
w = [31, 29, 23, 19, 17, 13, 7, 5, 3] (``0100109106``: Σ = 114, 114 mod 11 = 4, d10 = 6).

When Σ mod 11 is 0 the formula gives 10, which is not a digit, and implementations disagree: some
say no code has such a prefix (``refuse``), others write 0 (``zero``). Which one the registry follows
is unconfirmed, so it is a setting (``lookup.key.check_digit_ten``), not a guess baked in here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

#: What to do when the check-digit formula gives 10: no valid code (``refuse``) or digit 0 (``zero``).
CheckDigitTen = Literal["refuse", "zero"]

MST_WEIGHTS: Final = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_MST: Final = re.compile(r"^(\d{10})(?:-(\d{3}))?$")


@dataclass(frozen=True)
class IdentifierError:
    """Why a code is not valid, in the hub's two languages (problem+json and SOAP Faults show both)."""

    vi: str
    en: str


def mst_check_digit(first_nine: str, *, ten: CheckDigitTen = "refuse") -> int | None:
    """The check digit of a tax code's first nine digits; None when the formula gives 10 and
    ``ten`` is ``refuse`` (no code can have that prefix)."""
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError(f"expected nine digits, got {first_nine!r}")
    total = sum(int(d) * w for d, w in zip(first_nine, MST_WEIGHTS, strict=True))
    digit = 10 - total % 11
    if digit == 10:
        return 0 if ten == "zero" else None
    return digit


def check_mst(code: str, *, ten: CheckDigitTen = "refuse") -> IdentifierError | None:
    """None if ``code`` is a well-formed tax code with a correct check digit, else why not."""
    match = _MST.match(code) if code.isascii() else None
    if match is None:
        return IdentifierError(
            f"'{code}' không phải mã số doanh nghiệp: cần 10 chữ số, hoặc 10 chữ số-3 chữ số (chi nhánh)",
            f"'{code}' is not an enterprise code: expected 10 digits, or 10 digits-3 digits (a branch)",
        )
    base, branch = match.group(1), match.group(2)
    expected = mst_check_digit(base[:9], ten=ten)
    if expected is None:
        return IdentifierError(
            f"'{code}' sai chữ số kiểm tra: chín chữ số đầu {base[:9]} không có chữ số kiểm tra hợp lệ",
            f"'{code}' has a wrong check digit: no code can start with {base[:9]} (the formula gives 10)",
        )
    if int(base[9]) != expected:
        return IdentifierError(
            f"'{code}' sai chữ số kiểm tra: chữ số thứ 10 phải là {expected}, không phải {base[9]}",
            f"'{code}' has a wrong check digit: the 10th digit must be {expected}, not {base[9]}",
        )
    if branch == "000":
        return IdentifierError(
            f"'{code}' sai số thứ tự chi nhánh: bắt đầu từ 001",
            f"'{code}' has a wrong branch number: branches are numbered from 001",
        )
    return None


#: The checks a lookup key may declare (``lookup.key.check``); ``none`` accepts any non-empty key.
KeyCheck = Literal["none", "mst"]


def check_key(check: KeyCheck, key: str, *, ten: CheckDigitTen = "refuse") -> IdentifierError | None:
    """Run the named check on a lookup key."""
    if check == "mst":
        return check_mst(key, ten=ten)
    return None
