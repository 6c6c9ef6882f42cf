"""Enterprise codes (mã số doanh nghiệp = MST): the check digit, branches and the disputed case of 10."""

from __future__ import annotations

import pytest

from lienthong.identifiers import check_key, check_mst, mst_check_digit


@pytest.mark.parametrize(
    ("first_nine", "digit"),
    [
        ("010010910", 6),  # 0100109106: Σ = 29 + 17 + 63 + 5 = 114, 114 mod 11 = 4, 10 - 4 = 6
        ("570010025", 6),  # 5700100256
        ("570145678", 4),  # 5701456784
        ("570230119", 8),  # 5702301198
        ("570010003", 0),  # Σ mod 11 = 10: digit 0, the same under either rule for the case of 10
    ],
)
def test_the_check_digit_of_real_shaped_codes(first_nine: str, digit: int) -> None:
    assert mst_check_digit(first_nine) == digit
    assert check_mst(first_nine + str(digit)) is None
    wrong = first_nine + str((digit + 1) % 10)
    problem = check_mst(wrong)
    assert problem is not None and wrong in problem.en and f"must be {digit}" in problem.en


def test_a_branch_is_the_parents_code_and_a_three_digit_number_from_001() -> None:
    assert check_mst("0100109106-001") is None
    assert check_mst("0100109106-999") is None
    zero = check_mst("0100109106-000")
    assert zero is not None and "from 001" in zero.en
    parent_wrong = check_mst("0100109107-001")
    assert parent_wrong is not None and "check digit" in parent_wrong.en


@pytest.mark.parametrize(
    "code",
    ["", "010010910", "01001091066", "0100109106-01", "0100109106 ", "O100109106", "０１００１０９１０６"],
)
def test_anything_but_ten_digits_or_a_branch_is_not_a_code(code: str) -> None:
    problem = check_mst(code)
    assert problem is not None and "not an enterprise code" in problem.en
    assert "mã số doanh nghiệp" in problem.vi


def test_when_the_formula_gives_ten_the_setting_decides() -> None:
    # 570000009: Σ = 5·31 + 7·29 + 9·3 = 385 = 35·11, so 10 - 0 = 10, which is not a digit.
    assert mst_check_digit("570000009") is None
    assert mst_check_digit("570000009", ten="zero") == 0
    refused = check_mst("5700000090")
    assert refused is not None and "gives 10" in refused.en
    assert check_mst("5700000090", ten="zero") is None
    assert check_mst("5700000091", ten="zero") is not None


def test_a_lookup_key_is_checked_only_as_declared() -> None:
    assert check_key("none", "anything at all") is None
    assert check_key("mst", "5700100257") is not None
    assert check_key("mst", "5700100256") is None
