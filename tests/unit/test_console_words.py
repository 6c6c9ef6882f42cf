"""Every word a console page asks for exists in Vietnamese and English (a missing key is a 500 page)."""

from __future__ import annotations

import re
from pathlib import Path

import lienthong.console
from lienthong.console.i18n import WORDS, translator

TEMPLATES = Path(lienthong.console.__file__).parent / "templates"
SOURCES = Path(lienthong.console.__file__).parent


def asked_for() -> set[str]:
    keys = set()
    for template in TEMPLATES.glob("*.html"):
        keys |= set(re.findall(r"\bt\('([a-z_]+)'\)", template.read_text(encoding="utf-8")))
    router = (SOURCES / "router.py").read_text(encoding="utf-8")
    keys |= set(re.findall(r'_Refused\(\d+, "([a-z_]+)"\)', router))
    return keys


def test_every_word_a_page_asks_for_exists_in_both_languages() -> None:
    keys = asked_for()
    assert len(keys) > 40
    assert keys <= set(WORDS), sorted(keys - set(WORDS))
    vi, en = translator("vi"), translator("en")
    for key in keys:
        assert vi(key) and en(key)
    assert not vi("forbidden_role").isascii(), "the Vietnamese text is Vietnamese"
