"""Signing outbound XML: the last step before the bytes are stored and leave.

An adapter's ``signing`` policy decides the shape of the signature:

* ``xmldsig`` — an enveloped XML Signature as the last child of the document's root;
* ``edxml`` — the same, placed where QCVN 102:2016 puts it: the last child of ``edXMLHeader``;
* ``xades-bes`` — ``xmldsig`` plus XAdES signed properties (signing time, signing certificate).

Every signature has ``Reference URI=""`` (the whole document), the enveloped-signature and
exclusive C14N transforms, SHA-256 digests, RSA-SHA256 or ECDSA-SHA256, and the certificate chain
in ``KeyInfo/X509Data``. Exclusive C14N matters here: the payload travels inside a SOAP Body, and
a receiver that takes it out must get the same canonical bytes whatever namespaces the envelope
declared. A receiver verifies the payload as a document of its own, as it was stored.

The key is the one object :class:`~lienthong.trust.keys.Keystore` loaded at startup; nothing is read or
deserialised per message.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any, Final, Literal, Protocol, TypeVar

from cryptography.hazmat.primitives.hashes import Hash
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod, SignatureMethod, digest_algorithm_implementations
from signxml.exceptions import InvalidInput
from signxml.signer import XMLSigner
from signxml.xades.xades import XAdESSigner

from lienthong.config.files import issue_at
from lienthong.config.models import Configuration, KeyReference, SigningPolicyConfig
from lienthong.errors import ConfigError, ConfigIssue, KeystoreError, SigningConfigError, SigningError
from lienthong.trust._enveloped import EnvelopedSignature, has_cdata, plain_document, unsign
from lienthong.trust._signature import reparse_parser
from lienthong.trust.keys import Keystore, SigningKey
from lienthong.xml import (
    EDXML_NS,
    XMLDSIG_NS,
    LargeTexts,
    escape_c14n_text,
    escape_text,
    serialize,
    serialize_detached,
)

__all__ = [
    "EXC_C14N",
    "SIGNATURE_METHODS",
    "Algorithm",
    "Policy",
    "Signer",
    "XmlSigner",
    "build_signer",
    "build_signers",
    "check_signing",
    "edxml_header",
]

log = logging.getLogger("lienthong.sign")

Policy = Literal["xmldsig", "xades-bes", "edxml"]
Algorithm = Literal["rsa-sha256", "ecdsa-sha256"]

EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
SIGNATURE_METHODS: Final[Mapping[str, SignatureMethod]] = {
    "rsa-sha256": SignatureMethod.RSA_SHA256,
    "ecdsa-sha256": SignatureMethod.ECDSA_SHA256,
}
#: A certificate this close to expiry is reported at startup (a warning in the log).
EXPIRY_WARNING: Final = dt.timedelta(days=30)
_EDXML_HEADER: Final = f"{{{EDXML_NS}}}edXMLEnvelope/{{{EDXML_NS}}}edXMLHeader"


class Signer(Protocol):
    """Signs one document; returns the signed document (the input tree is left as it was)."""

    def sign(self, root: etree._Element) -> etree._Element: ...

    def sign_to_bytes(self, root: etree._Element, *, keep_input: bool = True) -> bytes:
        """The signed document, serialised as :func:`lienthong.xml.serialize` writes it. ``keep_input``
        False: the caller drops ``root`` once it has the bytes, which may then lose its large texts."""
        ...


_S = TypeVar("_S", bound=XMLSigner)


class _LargeTextDigests:
    """Digests over documents whose large texts were set apart (:class:`~lienthong.xml.LargeTexts`).

    signxml copies the document it signs twice (serialised and parsed again) and canonicalises it into
    one bytes object: seven times a document with 50 MB of attachments. So the hub hands it the
    document with markers in place of its large texts, and the digest of a canonical form holding
    markers is taken over the real text instead, escaped as C14N escapes text, a megabyte at a time.
    The signature is the one signxml would have made over the whole document."""

    hub_large_texts: LargeTexts | None = None

    def _get_digest(self, data: bytes, algorithm: Any) -> bytes:
        large = self.hub_large_texts
        if large is None or not large.markers_in(data):
            digest: bytes = super()._get_digest(data, algorithm)  # type: ignore[misc]
            return digest
        hasher = Hash(algorithm=digest_algorithm_implementations[algorithm]())  # as signxml digests
        for piece in large.pieces(data, escape_c14n_text):
            hasher.update(piece)
        return hasher.finalize()


class _HubXMLSigner(_LargeTextDigests, XMLSigner):
    """signxml's enveloped signer, digesting large texts from where the hub holds them."""


class _ExcC14nXAdESSigner(_LargeTextDigests, XAdESSigner):
    """XAdES whose extra references name the exclusive C14N they were digested with.

    signxml digests the SignedProperties and KeyInfo references with the signer's C14N but writes
    no Transforms for them, so verifiers fall back to inclusive C14N 1.1 and the digests differ
    (signxml's own verifier included). An explicit transform, as other XAdES producers write it,
    makes the signature verifiable everywhere.
    """

    def _add_reference_to_signed_info(self, sig_root: Any, node_to_reference: Any, **attrs: Any) -> None:
        super()._add_reference_to_signed_info(sig_root, node_to_reference, **attrs)  # type: ignore[no-untyped-call]
        reference = sig_root.find("ds:SignedInfo/ds:Reference[last()]", namespaces={"ds": XMLDSIG_NS})
        transforms = etree.Element(f"{{{XMLDSIG_NS}}}Transforms")
        etree.SubElement(transforms, f"{{{XMLDSIG_NS}}}Transform", Algorithm=EXC_C14N)
        reference.insert(0, transforms)


class XmlSigner:
    """Enveloped XML Signature per policy, with one key loaded at startup."""

    def __init__(self, policy: Policy, algorithm: Algorithm, key: SigningKey) -> None:
        if key.algorithm != algorithm:
            raise SigningConfigError(
                f"algorithm {algorithm} needs {'an RSA' if algorithm == 'rsa-sha256' else 'an ECDSA'} key, "
                f"but key '{key.id}' is {key.kind.upper()}",
                setting="algorithm",
            )
        self.policy: Policy = policy
        self.algorithm: Algorithm = algorithm
        self.key = key
        self._chain = list(key.chain)
        self._settings: dict[str, Any] = {
            "signature_algorithm": SIGNATURE_METHODS[algorithm],
            "digest_algorithm": "sha256",
            "c14n_algorithm": EXC_C14N,
        }
        # Intake signs from many threads. A signxml signer holds an lxml parser and settings it may
        # change during a call, so each thread gets its own; XAdESSigner also remembers every Id it
        # ever minted, so it is made per signature instead. Both are cheap: the key is not in them.
        self._local = threading.local()
        #: Policy xmldsig without signxml's copies (see _enveloped); it holds nothing a call changes.
        self._enveloped = EnvelopedSignature(key, algorithm) if policy == "xmldsig" else None

    def _signer(self) -> _HubXMLSigner | _ExcC14nXAdESSigner:
        if self.policy == "xades-bes":
            return _with_parser(_ExcC14nXAdESSigner(**self._settings))
        signer: _HubXMLSigner | None = getattr(self._local, "signer", None)
        if signer is None:
            signer = self._local.signer = _with_parser(
                _HubXMLSigner(method=SignatureConstructionMethod.enveloped, **self._settings)
            )
        return signer

    def sign(self, root: etree._Element) -> etree._Element:
        if self._enveloped is not None and plain_document(root) and not has_cdata(etree.tostring(root)):
            signed = copy.deepcopy(root)
            self._enveloped.sign_in_place(signed)
            return signed
        # Large texts (attachments) are set apart while signxml copies and canonicalises the document,
        # and digested from the one copy held here (_LargeTextDigests); the input is put back as it was.
        large = LargeTexts.detach(root)
        try:
            signed = self._sign_small(root, large)
            if large:
                large.put_back_into(signed)
        finally:
            large.restore()
        return signed

    def sign_to_bytes(self, root: etree._Element, *, keep_input: bool = True) -> bytes:
        if self._enveloped is not None and plain_document(root):
            # Signed where it is when the caller drops it (a translation), else in a copy: the bytes
            # signxml writes, without its two copies of the document (see _enveloped).
            signed = copy.deepcopy(root) if keep_input else root
            self._enveloped.sign_in_place(signed)
            data = serialize_detached(signed)  # plain_document found no large text to set apart
            if not has_cdata(data):
                return data
            unsign(signed)  # a CDATA section (an XSLT's cdata-section-elements): signxml's way, below
            del signed, data
        # The signed copy keeps the markers: it is written small and the texts spliced into the bytes,
        # so a 50 MB attachment exists once as text and once in the payload, never in a second tree
        # (4.5 → 3 × the document at intake's peak, docs/benchmarks.md).
        large = LargeTexts.detach(root)
        try:
            skeleton = serialize(self._sign_small(root, large), keep_tree=False)
            return large.splice(skeleton, escape_text) if large else skeleton
        finally:
            if keep_input:
                large.restore()

    def _sign_small(self, root: etree._Element, large: LargeTexts) -> etree._Element:
        """``root`` signed, its large texts (set apart in ``large``) digested from where they are held."""
        signer = self._signer()
        try:
            if self.policy == "edxml":
                root = _with_edxml_placeholder(root)
            signer.hub_large_texts = large if large else None
            # KeyInfo carries the X509 chain only: a KeyValue beside it would be a second,
            # unauthenticated statement of the key that verifiers must reconcile.
            signed: etree._Element = signer.sign(
                root, key=self.key.private_key, cert=self._chain, always_add_key_value=False
            )
        except InvalidInput as exc:
            raise SigningError(f"cannot sign the document ({self.policy}): {exc}") from exc
        finally:
            signer.hub_large_texts = None
        return signed

    def check_validity(self, now: dt.datetime | None = None) -> None:
        """Refuse a certificate that is expired or not yet valid; warn when expiry is near."""
        now = now or dt.datetime.now(dt.UTC)
        cert = self.key.certificate
        if now < cert.not_valid_before_utc:
            raise SigningConfigError(
                f"the certificate of key '{self.key.id}' is not valid before "
                f"{cert.not_valid_before_utc.isoformat()}"
            )
        if now > cert.not_valid_after_utc:
            raise SigningConfigError(
                f"the certificate of key '{self.key.id}' expired on {cert.not_valid_after_utc.date()}; "
                "install the renewed certificate first in keys.signing (docs/signing.md)"
            )
        if cert.not_valid_after_utc - now < EXPIRY_WARNING:
            log.warning(
                "the certificate of signing key %s expires on %s: renew it and rotate (docs/signing.md)",
                self.key.id,
                cert.not_valid_after_utc.date(),
            )

    def __repr__(self) -> str:
        return f"XmlSigner({self.policy}, {self.algorithm}, key={self.key.id})"


def _with_parser(signer: _S) -> _S:
    """signxml serialises the document it is given and parses it again (it signs a copy), with a
    parser of its own that keeps libxml2's cap of 10 MB on one text node: an edXML attachment over
    7.5 MB (10 MB of base64) made signing fail. What it parses is the hub's own serialisation of a tree
    the hub's hardened parser already accepted (or built): :func:`reparse_parser` lifts that cap and
    keeps the refusals (entities unresolved, no DTD, the network closed)."""
    signer._parser = reparse_parser()  # type: ignore[assignment]  # signxml's parser property reads it
    return signer


def edxml_header(root: etree._Element) -> etree._Element | None:
    """``edXML/edXMLEnvelope/edXMLHeader`` of an edXML document (QCVN 102:2016), or None."""
    if root.tag != f"{{{EDXML_NS}}}edXML":
        return None
    return root.find(_EDXML_HEADER)


def _with_edxml_placeholder(root: etree._Element) -> etree._Element:
    """A copy of the document with signxml's placeholder as the last child of edXMLHeader.

    A signature already in the header (the sender's, verified at intake) is replaced: the hub signs
    as the sender of what it forwards, and QCVN 102:2016 has one Signature in the header. Real
    senders write that Signature without the xmldsig namespace, so it goes by local name.
    """
    if edxml_header(root) is None:
        raise SigningError(
            f"signing policy edxml needs an edXML document (edXML/edXMLEnvelope/edXMLHeader in "
            f"{EDXML_NS}); this one's root is {root.tag}"
        )
    root = copy.deepcopy(root)
    header = edxml_header(root)
    assert header is not None
    for old in [c for c in header if isinstance(c.tag, str) and etree.QName(c).localname == "Signature"]:
        header.remove(old)
    placeholder = etree.SubElement(
        header, f"{{{XMLDSIG_NS}}}Signature", Id="placeholder", nsmap={"ds": XMLDSIG_NS}
    )
    siblings = [c for c in header if c is not placeholder]
    if siblings:  # keep the indentation: the signature sits on its own line like its siblings
        placeholder.tail, siblings[-1].tail = siblings[-1].tail, header.text
    return root


# ---------------------------------------------------------------- composition


def build_signer(policy: SigningPolicyConfig, keystore: Keystore | None) -> Signer | None:
    """The signer an adapter's policy asks for, or None for policy ``none``."""
    if policy.policy == "none":
        return None
    if keystore is None or not len(keystore):
        raise SigningConfigError(
            f"signing policy {policy.policy} needs a signing key, but keys.signing in hub.yaml is empty",
            setting="policy",
        )
    key = keystore.get(policy.key) if policy.key else keystore.current
    signer = XmlSigner(policy.policy, policy.algorithm, key)
    signer.check_validity()
    return signer


def signing_policies(config: Configuration) -> dict[str, tuple[str, tuple[str, ...], SigningPolicyConfig]]:
    """Every policy that signs, by signer name: the adapter's (its name) and those of operations with
    their own (``adapter/operation``), each with its adapter and where it sits in the adapter's YAML."""
    out: dict[str, tuple[str, tuple[str, ...], SigningPolicyConfig]] = {}
    for name, adapter in config.adapters.items():
        if adapter.signing.policy != "none":
            out[name] = (name, (), adapter.signing)
        for op_name, op in adapter.operations.items():
            if op.signing is not None and op.signing.policy != "none":
                out[f"{name}/{op_name}"] = (name, ("operations", op_name), op.signing)
    return out


def build_signers(config: Configuration, keystore: Keystore | None = None) -> dict[str, Signer]:
    """One signer per policy that signs (see :func:`signing_policies`); the keystore is loaded (once)
    only if one does.

    Problems become one :class:`ConfigError` pointing at the YAML lines concerned.
    """
    needed = signing_policies(config)
    if not needed:
        return {}
    hub_file = f"{config.config_dir.name}/hub.yaml"
    refs = config.hub.keys.signing
    if keystore is None and refs:
        try:
            keystore = Keystore.load(refs, config.root)
        except KeystoreError as exc:
            index = next((i for i, r in enumerate(refs) if r.id == exc.key_id), None)
            path: tuple[str | int, ...] = ("keys", "signing")
            if index is not None:
                path = (*path, index, exc.setting or "key_file")
            raise ConfigError(
                [issue_at(config, hub_file, path, ".".join(map(str, path)), exc.message)]
            ) from exc
    signers: dict[str, Signer] = {}
    issues: list[ConfigIssue] = []
    for name, (adapter, where, policy) in needed.items():
        file = f"{config.config_dir.name}/adapters/{adapter}.yaml"
        try:
            signer = build_signer(policy, keystore)
        except SigningConfigError as exc:
            message = exc.message
            if exc.setting == "algorithm" and keystore is not None:
                fitting = [k.id for k in keystore.all if k.algorithm == policy.algorithm]
                message += f"; set signing.key to one of: {', '.join(fitting)}" if fitting else ""
            at = (*where, "signing", exc.setting)
            issues.append(issue_at(config, file, at, ".".join(at), message))
        except KeystoreError as exc:
            at = (*where, "signing", "key")
            issues.append(issue_at(config, file, at, ".".join(at), exc.message))
        else:
            if signer is not None:
                signers[name] = signer
                if isinstance(signer, XmlSigner):
                    log.info("adapter %s signs %s with %s", name, signer.policy, signer.key.describe())
    if issues:
        raise ConfigError(issues)
    return signers


def check_signing(config: Configuration, environ: Mapping[str, str] = os.environ) -> list[ConfigIssue]:
    """What ``hub config check`` can tell about signing without decrypting any key.

    Key files are only required when some adapter signs, so a hub.yaml may list keys that a fresh
    checkout does not have yet while every policy is ``none``.
    """
    issues: list[ConfigIssue] = []
    hub_file = f"{config.config_dir.name}/hub.yaml"
    refs = config.hub.keys.signing
    ids = [r.id for r in refs]
    signing = signing_policies(config)
    for index, key_id in enumerate(ids):
        if key_id in ids[:index]:
            path = ("keys", "signing", index, "id")
            issues.append(
                issue_at(
                    config, hub_file, path, f"keys.signing[{index}].id", f"key id '{key_id}' is listed twice"
                )
            )
    for adapter, where, policy in signing.values():
        file = f"{config.config_dir.name}/adapters/{adapter}.yaml"
        if not refs:
            message = (
                f"signing policy {policy.policy} needs a signing key, but keys.signing in hub.yaml is empty "
                "('hub keys dev-ca' makes development keys)"
            )
            at = (*where, "signing", "policy")
            issues.append(issue_at(config, file, at, ".".join(at), message))
        elif policy.key is not None and policy.key not in ids:
            message = f"unknown signing key '{policy.key}' (keys.signing in hub.yaml has: {', '.join(ids)})"
            at = (*where, "signing", "key")
            issues.append(issue_at(config, file, at, ".".join(at), message))
    if signing:
        for index, ref in enumerate(refs):
            issues.extend(_check_reference(config, hub_file, index, ref, environ))
    return issues


def _check_reference(
    config: Configuration, file: str, index: int, ref: KeyReference, environ: Mapping[str, str]
) -> list[ConfigIssue]:
    issues = []
    for setting in ("key_file", "certificate_file"):
        value = getattr(ref, setting)
        if value is not None and not config.resolve(value).is_file():
            path = ("keys", "signing", index, setting)
            key = f"keys.signing[{index}].{setting}"
            issues.append(issue_at(config, file, path, key, f"key '{ref.id}': file not found: {value}"))
    if ref.password_env is not None and ref.password_env not in environ:
        path = ("keys", "signing", index, "password_env")
        message = f"key '{ref.id}': environment variable {ref.password_env} is not set"
        issues.append(issue_at(config, file, path, f"keys.signing[{index}].password_env", message))
    return issues
