"""The demo's signature verdict: a tick only when every payload sent was checked and verified."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from lienthong.devtools.demo import signature_check
from lienthong.trust.keys import Keystore, create_dev_ca
from lienthong.trust.sign import XmlSigner


def test_nothing_checked_is_a_failure_not_a_tick(tmp_path: Path) -> None:
    ca = create_dev_ca(tmp_path, "000.00.00.H49", {})
    ok, line = signature_check([], ca)
    assert not ok
    assert "✗" in line and "0/0" in line


def test_one_unsigned_payload_fails_the_check(tmp_path: Path) -> None:
    ca = create_dev_ca(tmp_path, "000.00.00.H49", {})
    key = Keystore.load(ca.key_references(), tmp_path).current
    signed = etree.tostring(
        XmlSigner("xmldsig", "rsa-sha256", key).sign(etree.fromstring(b"<a><b>1</b></a>"))
    )
    ok, line = signature_check([signed, b"<a><b>2</b></a>"], ca)
    assert not ok and "1/2" in line
    ok, line = signature_check([signed, signed], ca)
    assert ok and "✓" in line and "2/2" in line
