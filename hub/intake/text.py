"""Vietnamese text at intake: every text field in NFC, and legacy encodings read where YAML says so.

"Quảng Ninh" is 10 code points composed (NFC) and 11 decomposed (NFD); both look the same and compare
different. So before a payload is hashed, stored, routed, translated or signed, every text node and
attribute value of an XML payload (of a JSON payload, every string and key) is put in NFC, and the
fields ``intake.legacy_text`` marks are read from TCVN3, VNI, VISCII or Windows-1258
(docs/vietnamese-text.md).

Normalising works on the parsed tree, never on the document's characters: NFC of raw XML would turn
``>`` followed by U+0338 into ``≯`` and break the markup. A payload whose text is already NFC (nearly
all) is recognised from its UTF-8 text in one pass of ``unicodedata.is_normalized`` and kept byte for
byte. An unsigned payload that was not is stored in its NFC form. A signed payload is never rewritten:
its signature covers the bytes as the signer made them, so they are stored as received (and verify
again later), while the hub acts — routes, translates, forwards — on an NFC copy of what the signature
covers; the header ``text.nfc`` says so.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from lienthong.config.files import issue_at
from lienthong.config.models import Configuration, LegacyTextField
from lienthong.errors import ConfigError, ConfigIssue, InvalidMessageError, LegacyTextError
from lienthong.jsonxml import JSON_NS, json_to_tree
from lienthong.vncodecs import ENCODINGS, Encoding
from lienthong.vndetect import detect
from lienthong.xml import serialize

__all__ = ["LEGACY_HEADER", "NFC_HEADER", "TextIntake"]

audit = logging.getLogger("lienthong.audit")

#: ``normalised``: the payload arrived with non-NFC text and is stored in NFC; ``signed-not-nfc``: a
#: signed payload with non-NFC text, stored as signed, acted on in NFC.
NFC_HEADER = "text.nfc"
#: The fields read from a legacy encoding: ``path=encoding`` pairs, separated by ``; ``.
LEGACY_HEADER = "text.legacy"

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


@dataclass(frozen=True)
class _Field:
    path: str
    xpath: etree.XPath
    encodings: tuple[Encoding, ...]
    named: bool
    on_unsure: str


@dataclass(frozen=True)
class _Rule:
    senders: tuple[str, ...]
    prefixes: dict[str, str]  # namespace → prefix, to name fields in errors as the YAML does
    fields: tuple[_Field, ...]

    def applies_to(self, sender: str) -> bool:
        return any(fnmatch.fnmatchcase(sender, pattern) for pattern in self.senders)


@dataclass
class TextOutcome:
    """What intake did to a payload's text: the bytes to store and the headers recording it."""

    payload: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TextIntake:
    """The text stage, compiled once from ``intake.legacy_text``."""

    rules: tuple[_Rule, ...] = ()

    @classmethod
    def from_config(cls, config: Configuration) -> TextIntake:
        """Compile every rule's paths; a bad XPath is a ConfigError at its line of ``hub.yaml``."""
        issues: list[ConfigIssue] = []
        rules = []
        file = f"{config.config_dir.name}/hub.yaml"
        for index, rule in enumerate(config.hub.intake.legacy_text):
            namespaces = {"fn": JSON_NS, **rule.namespaces}
            fields = []
            for number, spec in enumerate(rule.fields):
                where = ("intake", "legacy_text", index, "fields", number, "path")
                try:
                    fields.append(_compile_field(spec, namespaces))
                except etree.XPathError as exc:
                    key = f"intake.legacy_text[{index}].fields[{number}].path"
                    issues.append(issue_at(config, file, where, key, f"invalid XPath {spec.path!r}: {exc}"))
            prefixes = {ns: prefix for prefix, ns in namespaces.items()}
            rules.append(_Rule(tuple(rule.senders), prefixes, tuple(fields)))
        if issues:
            raise ConfigError(issues)
        return cls(tuple(rules))

    # ------------------------------------------------------------ XML

    def xml(self, payload: bytes, tree: etree._Element, sender: str, *, signed: bool) -> TextOutcome:
        """Put ``tree`` (what the hub acts on) in NFC and convert the marked fields, in place.

        For an unsigned payload ``tree`` is the payload itself, and the outcome's payload its NFC form
        when anything changed; a signed payload's bytes are returned unchanged."""
        outcome = TextOutcome(payload)
        if not _xml_is_nfc(payload, tree) and _nfc_tree(tree):
            if signed:
                outcome.headers[NFC_HEADER] = "signed-not-nfc"
            else:
                outcome.headers[NFC_HEADER] = "normalised"
                outcome.payload = _reserialise(payload, tree)
        converted = self._legacy(tree, sender)
        if converted:
            outcome.headers[LEGACY_HEADER] = "; ".join(f"{p}={e}" for p, e in converted)
            if not signed:
                outcome.payload = _reserialise(payload, tree)
        return outcome

    # ------------------------------------------------------------ JSON

    def json(self, payload: bytes, sender: str) -> TextOutcome:
        """NFC for every string and key of a JSON payload, and the marked fields converted; the rest of
        the bytes (spacing, numbers as written, key order, other strings' escapes) stays as it came."""
        outcome = TextOutcome(payload)
        try:
            text = payload.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidMessageError(f"payload: JSON must be UTF-8 ({exc})") from exc
        fast = "\\u" not in text and unicodedata.is_normalized("NFC", text)
        if fast and not self._rules_for(sender):
            return outcome
        tokens = _JSON_STRING.findall(text)
        tree = json_to_tree(payload)
        if _nfc_tree(tree):
            outcome.headers[NFC_HEADER] = "normalised"
        converted = self._legacy(tree, sender)
        if converted:
            outcome.headers[LEGACY_HEADER] = "; ".join(f"{p}={e}" for p, e in converted)
        replacements: dict[int, str] = {}
        for element, is_key, ordinal in _json_ordinals(tree):
            value = element.get("key", "") if is_key else element.text or ""
            if value != json.loads(tokens[ordinal]):
                replacements[ordinal] = value
        if replacements:
            outcome.payload = _rewrite_json(text, replacements)
        return outcome

    # ------------------------------------------------------------ legacy fields

    def _rules_for(self, sender: str) -> list[_Rule]:
        return [rule for rule in self.rules if rule.applies_to(sender)]

    def _legacy(self, tree: etree._Element, sender: str) -> list[tuple[str, str]]:
        """Convert every marked field in ``tree``; the (path, encoding) of each one converted."""
        converted: list[tuple[str, str]] = []
        for rule in self._rules_for(sender):
            for spec in rule.fields:
                for element, attribute in _xml_nodes(spec.xpath(tree)):
                    value = element.get(attribute) if attribute else element.text
                    if not value:
                        continue
                    found = detect(value, spec.encodings, named=spec.named)
                    path = _path_of(element, attribute, rule.prefixes)
                    if found.verdict == "unicode":
                        continue
                    if found.verdict in ("ambiguous", "undecodable"):
                        if found.verdict == "ambiguous" and spec.on_unsure == "keep":
                            continue
                        raise _refusal(spec, path, found.verdict, found.candidates)
                    _set(element, attribute, found.text)
                    converted.append((path, found.verdict))
                    audit.info(
                        "legacy-text converted sender=%s field=%s encoding=%s", sender, path, found.verdict
                    )
        return converted


def _compile_field(spec: LegacyTextField, namespaces: dict[str, str]) -> _Field:
    encodings = ENCODINGS if spec.encoding == "auto" else (spec.encoding,)
    xpath = etree.XPath(spec.path, namespaces=namespaces)
    return _Field(spec.path, xpath, encodings, spec.encoding != "auto", spec.on_unsure)


def _refusal(spec: _Field, path: str, verdict: str, candidates: tuple[str, ...]) -> LegacyTextError:
    suspects = [c for c in candidates if c != "unicode"] or list(spec.encodings)
    if verdict == "ambiguous":
        message = (
            f"the text of {path} (marked by {spec.path!r}) reads as Vietnamese in more than one way "
            f"({', '.join(candidates)}); send it in Unicode"
        )
    else:
        message = (
            f"the text of {path} (marked by {spec.path!r}) is neither Unicode Vietnamese nor readable "
            f"as {', '.join(spec.encodings)}; send it in Unicode"
        )
    return LegacyTextError(message, detail={"field": path, "suspected_encodings": suspects})


def _xml_nodes(result: object) -> Iterator[tuple[etree._Element, str | None]]:
    """The elements (whose text is the field) and attributes an XPath selected."""
    for item in result if isinstance(result, list) else ():
        if isinstance(item, etree._Element) and isinstance(item.tag, str):
            yield item, None
        elif isinstance(item, str) and getattr(item, "is_attribute", False):
            parent = item.getparent()  # type: ignore[attr-defined]
            if parent is not None:
                yield parent, str(item.attrname)  # type: ignore[attr-defined]


def _set(element: etree._Element, attribute: str | None, value: str) -> None:
    if attribute:
        element.set(attribute, value)
    else:
        element.text = value


def _path_of(element: etree._Element, attribute: str | None, prefixes: dict[str, str]) -> str:
    """The field as an XPath a sender can read: ``/dd:Phieu/dd:ChuSuDung[2]/dd:HoTen``."""
    steps = []
    node: etree._Element | None = element
    while node is not None:
        qn = etree.QName(node)
        name = f"{prefixes[qn.namespace]}:{qn.localname}" if qn.namespace in prefixes else qn.localname
        if qn.namespace == JSON_NS and node.get("key") is not None:
            name += f"[@key='{node.get('key')}']"
        parent = node.getparent()
        if parent is not None and not (qn.namespace == JSON_NS and node.get("key") is not None):
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    path = "/" + "/".join(reversed(steps))
    return f"{path}/@{attribute}" if attribute else path


def _reserialise(payload: bytes, tree: etree._Element) -> bytes:
    """``tree`` written as the hub writes documents, with the line end the sender put after its root."""
    trailing = payload[len(payload.rstrip(b" \t\r\n")) :]
    return serialize(tree) + trailing


def _xml_is_nfc(payload: bytes, tree: etree._Element) -> bool:
    """The fast path: a UTF-8 document whose text is NFC and where the parser merges nothing.

    The parser joins text across a reference (``e&#x301;``, ``&gt;`` + U+0338) or a CDATA boundary, so
    NFC characters may still give a node that is not: a document with either takes the tree walk
    (16 ms for 1 MB, against 4 ms here; a regular expression finding the risky places costs more)."""
    if b"&" in payload or b"<![CDATA[" in payload:
        return False
    if (tree.getroottree().docinfo.encoding or "").upper() not in ("UTF-8", "UTF8", "US-ASCII", "ASCII"):
        return False
    return all(unicodedata.is_normalized("NFC", text) for text in _utf8_pieces(payload))


#: How much of a payload :func:`_utf8_pieces` decodes at a time.
_PIECE = 1024 * 1024


def _utf8_pieces(payload: bytes) -> Iterator[str]:
    """The payload's text a megabyte at a time, each piece ending before an ASCII byte.

    Decoding a whole document at once costs up to four times its size (one non-Latin-1 character,
    ``ạ``, makes Python store every character in two bytes): 130 MB for an edXML document of 65 MB.
    NFC is decided piece by piece without changing the answer when every piece starts at a character
    with canonical combining class 0 that composes with nothing before it (UAX #15, "stable code
    points"), and every ASCII character is one. Raises nothing: a piece that is not UTF-8 ends the
    check (the parser already read the document as UTF-8, so this does not happen)."""
    start = 3 if payload.startswith(b"\xef\xbb\xbf") else 0
    size = len(payload)
    while start < size:
        end = min(start + _PIECE, size)
        while end < size and payload[end] >= 0x80:
            end += 1
        try:
            yield payload[start:end].decode("utf-8")
        except UnicodeDecodeError:
            yield "e\u0301"  # not NFC: the caller takes the slow path
            return
        start = end


def _nfc_tree(tree: etree._Element) -> bool:
    """NFC every text node, tail, comment and attribute value in place; True if any changed."""
    changed = False
    for node in tree.iter():
        if node.text is not None and not unicodedata.is_normalized("NFC", node.text):
            node.text, changed = unicodedata.normalize("NFC", node.text), True
        if node is not tree and node.tail is not None and not unicodedata.is_normalized("NFC", node.tail):
            node.tail, changed = unicodedata.normalize("NFC", node.tail), True
        if isinstance(node.tag, str):
            for name, value in node.attrib.items():
                text = str(value)
                if not unicodedata.is_normalized("NFC", text):
                    node.set(name, unicodedata.normalize("NFC", text))
                    changed = True
    return changed


def _json_ordinals(tree: etree._Element) -> list[tuple[etree._Element, bool, int]]:
    """Each key and string of a JSON tree with its rank among the JSON text's string tokens (a member's
    key comes before its value, as in the text)."""
    out: list[tuple[etree._Element, bool, int]] = []
    for element in tree.iter():
        if element.get("key") is not None:
            out.append((element, True, len(out)))
        if element.tag == f"{{{JSON_NS}}}string":
            out.append((element, False, len(out)))
    return out


def _rewrite_json(text: str, replacements: dict[int, str]) -> bytes:
    counter = itertools.count()

    def replace(match: re.Match[str]) -> str:
        ordinal = next(counter)
        if ordinal not in replacements:
            return match.group(0)
        return json.dumps(replacements[ordinal], ensure_ascii=False)

    return _JSON_STRING.sub(replace, text).encode("utf-8")
