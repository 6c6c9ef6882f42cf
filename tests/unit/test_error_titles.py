"""One error tree, one title table: every error the hub raises is drawn in ``lienthong.errors``, every
code has a title in Vietnamese and in English, and REST (problem+json) and SOAP (Fault) say the same
title for the same error, since both read it from that one table."""

from __future__ import annotations

import importlib
import json
import pkgutil
import unicodedata

import pytest
from lxml import etree

import lienthong
from lienthong.errors import (
    TITLES,
    ClaimLostError,
    HubError,
    NotFoundError,
    SignatureInvalidError,
    SignatureMissingError,
    SignaturePolicyError,
    SoapHeaderError,
    error_classes,
    title_of,
)
from lienthong.intake.rest import problem
from lienthong.intake.soap_gateway import _fault
from lienthong.soap import SoapVersion
from lienthong.xml import HUB_NS, SOAP11_NS, SOAP12_NS

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _every_module_imported() -> None:
    for module in pkgutil.walk_packages(lienthong.__path__, "lienthong."):
        if ".migrations" not in module.name:  # alembic scripts run only inside alembic
            importlib.import_module(module.name)


def test_the_whole_tree_is_drawn_in_one_module() -> None:
    _every_module_imported()
    elsewhere = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in error_classes()
        if cls.__module__ != "lienthong.errors" and cls.__module__.startswith("lienthong.")
    )
    assert elsewhere == [], f"move these errors into lienthong/errors.py: {elsewhere}"


def test_every_class_with_a_code_of_its_own_has_a_title_of_its_own() -> None:
    _every_module_imported()
    missing = sorted(
        cls.__name__ for cls in error_classes() if "code" in vars(cls) and "title" not in vars(cls)
    )
    assert missing == [], f"give these errors a title (Vietnamese / English): {missing}"
    assert {cls.code for cls in error_classes()} == set(TITLES)


def _is_vietnamese(text: str) -> bool:
    """Vietnamese text has letters with diacritics that English text never has."""
    return any(unicodedata.decomposition(ch) for ch in text if ch.isalpha())


@pytest.mark.parametrize("code", sorted(TITLES))
def test_every_code_has_a_title_in_both_languages(code: str) -> None:
    title = TITLES[code]
    assert title.vi.strip() and title.en.strip() and title.vi != title.en
    assert _is_vietnamese(title.vi), f"{code}: {title.vi!r} should be Vietnamese"
    assert title.en.isascii(), f"{code}: {title.en!r} should be English"
    assert str(title) == f"{title.vi} / {title.en}"


def test_an_unknown_code_reads_as_an_internal_error() -> None:
    assert title_of("no-such-code") == HubError.title


def test_claim_lost_is_a_hub_error() -> None:
    assert issubclass(ClaimLostError, HubError)


def _soap_titles(version: SoapVersion, exc: HubError) -> tuple[str, str, etree._Element]:
    """The fault's (vi, en) titles, as a sender reads them off the Reason, and its lt:faultDetail."""
    answer = _fault(version, exc, None, None, None)
    root = etree.fromstring(answer.content)
    detail = root.find(f".//{{{HUB_NS}}}faultDetail")
    assert detail is not None
    if version == "soap11":
        faultstring = root.findtext(f".//{{{SOAP11_NS}}}Fault/faultstring") or ""
        vi, _, rest = faultstring.partition(" / ")
        en = rest.split(": ", 1)[0]
        return vi, en, detail
    texts = {t.get(_XML_LANG): t.text or "" for t in root.iter(f"{{{SOAP12_NS}}}Text")}
    return texts["vi"].split(": ", 1)[0], texts["en"].split(": ", 1)[0], detail


@pytest.mark.parametrize("version", ["soap11", "soap12"])
@pytest.mark.parametrize(
    "exc",
    [
        SignatureMissingError("the message is not signed", reason="unsigned", agency="A"),
        SignatureInvalidError("does not speak for agency A", reason="signer-not-bound", agency="A"),
        SignaturePolicyError("the signature does not cover the body", reason="not-covered", agency="A"),
        SoapHeaderError("lt:messageId appears twice"),
        NotFoundError("no inbound SOAP service 'x'"),
    ],
    ids=lambda e: e.code,
)
def test_rest_and_soap_answer_the_same_title(version: SoapVersion, exc: HubError) -> None:
    rest = json.loads(bytes(problem(exc.http_status, exc.code, exc.message, **exc.detail).body))
    vi, en, detail = _soap_titles(version, exc)
    assert rest["title"] == f"{vi} / {en}" == str(type(exc).title)
    assert detail.findtext(f"{{{HUB_NS}}}code") == rest["type"].rsplit(":", 1)[1] == exc.code


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_a_signature_refusal_names_its_reason_in_fault_detail_and_problem(
    version: SoapVersion,
) -> None:
    exc = SignatureInvalidError("does not speak for agency A", reason="signer-not-bound", agency="A")
    _, _, detail = _soap_titles(version, exc)
    assert detail.findtext(f"{{{HUB_NS}}}reason") == "signer-not-bound"
    answer = json.loads(bytes(problem(exc.http_status, exc.code, exc.message, **exc.detail).body))
    assert answer["reason"] == "signer-not-bound"
