"""Verification of inbound XML signatures: who may sign for which agency, with which algorithms, over what.

The hub acts only on what a signature covers. :class:`XmlVerifier` finds the one ``ds:Signature`` where
the hub expects it, screens it before any cryptography (algorithms, transforms, reference URIs, Manifest,
RetrievalMethod, duplicate ids, and — when the caller says which element it will act on — that this
element is covered: the defence against signature wrapping), then lets signxml check digests, signature
and certificate chain against the sending agency's anchors only. What comes back is a canonical,
comment-free copy of the covered element (:attr:`Verified.signed`), never the caller's tree.

Decisions, so that nobody has to rediscover them:

* Algorithms: RSA (PKCS#1 v1.5 and PSS) and ECDSA with SHA-2/SHA-3 are accepted. SHA-1 is refused unless
  the agency's policy is ``legacy_sha1`` (real senders still use RSA-SHA1); then RSA-SHA1 and SHA-1 digests
  are accepted and :attr:`Verified.legacy` says so. DSA is refused unless a policy sets ``allow_dsa`` (no
  configuration can: only code, e.g. the interop tests). Unknown algorithms (EdDSA in signxml 5.2) are
  refused by policy, never crash.
* HMAC: agencies share no secrets with the hub, so no configured agency accepts HMAC signatures
  (refused by policy). :class:`AgencyPolicy` can carry a shared key for code that has one (the interop
  vectors); truncated HMAC outputs (CVE-2009-0217) are invalid.
* Trust anchors: every certificate in an agency's anchor files is a trust anchor for chain building; one
  that may sign (no KeyUsage, or digitalSignature / nonRepudiation) is also accepted as a pinned signer
  certificate, so a sender whose KeyInfo holds only a KeyName, an IssuerSerial or a self-signed
  certificate can still be verified. Chains are built with ``cryptography.x509.verification`` at the
  verification time (default now): the signer needs KeyUsage digitalSignature or nonRepudiation and must
  not be a CA; CAs follow the Web PKI profile. ``relaxed_extensions`` (test certificates only, never from
  configuration) drops these extension checks except CA basicConstraints.
* Who speaks for whom: a chain to an anchor says who issued a certificate, not for which agency it
  speaks. An agency's ``signers`` rules (subject attributes, pinned fingerprints) say which certificates
  speak for it, checked after the signature and chain verify, on every path (intake and CLI). Without
  rules, the chain alone suffices only when no other agency (nor the default policy) trusts the same
  anchor, or one issued by or issuing it; configuration refuses such sharing without rules, and
  verification refuses it too (``signer-not-bound``) for policies built in code. The default policy's
  anchors speak for an unlisted agency only through rules.
* Strength: RSA (and DSA) keys under 2048 bits and MD5/MD2/MD4-signed certificates are refused in any
  certificate the signature carries or relies on, whatever the algorithm policy (``legacy_sha1``
  included): ``weak-key``, ``weak-certificate-signature``. Only code (the interop vectors) may lower the
  key-size floor.
* Time: certificates are checked at ``at`` (default now). A XAdES SigningTime is reported, and the signer
  certificate must also have been valid then; a claimed signing time alone never replaces ``at``, because
  without a trusted timestamp it is only the signer's word.
* Default-namespace signatures (``<Signature xmlns="…xmldsig#">``, no ``ds:`` prefix) hit a libxml2 2.14
  inclusive-C14N quirk that adds spurious ``xmlns=""`` (signxml issue #193); for them only, the verifier
  excises those, after checking that the document has no real ``xmlns=""`` undeclaration whose removal
  could hide a change of namespace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from lienthong.config.models import AgencyTrust, SignerRule, TrustSettings
from lienthong.errors import (
    CertificateUnreadableError,
    ConfigError,
    ConfigIssue,
    SignatureError,
    SignatureInvalidError,
    SignatureMissingError,
    SignaturePolicyError,
)
from lienthong.soap import body_payload
from lienthong.trust._certpolicy import Binding, fingerprint, issued_by, weakness
from lienthong.trust._signature import (
    EXPECT_NAMESPACES,
    XADES_NS,
    Expect,
    Shape,
    covering_reference,
    decoded,
    descend,
    excision_is_unsafe,
    locate_signature,
    resolve_expect,
    screen,
    short,
    xades_signing_time,
)
from lienthong.trust._signxml import run_signxml, signer_keys
from lienthong.trust._unprefixed import UNPREFIXED, as_xmldsig, element_path, is_unprefixed_edxml
from lienthong.xml import SOAP11_NS, SOAP12_NS, XMLDSIG_NS, parse_xml

__all__ = [
    "EXPECT_NAMESPACES",
    "AgencyPolicy",
    "Expect",
    "TrustStore",
    "Verified",
    "XmlVerifier",
    "error_report",
    "locate_signature",
    "report",
    "soap_body_entry",
    "verify_file",
]

log = logging.getLogger("lienthong.verify")

_CLOCK_SKEW: Final = timedelta(minutes=5)
#: The quirk reported when SHA-1 (or DSA) was accepted under an agency's legacy policy.
LEGACY_ALGORITHM: Final = "legacy-signature-algorithm"
_STRONG_METHODS: Final = frozenset(
    m for m in SignatureMethod if "SHA1" not in m.name and not m.name.startswith(("DSA_", "HMAC_"))
)
_HMAC_METHODS: Final = frozenset(
    m for m in SignatureMethod if m.name.startswith("HMAC_") and "SHA1" not in m.name
)
_STRONG_DIGESTS: Final = frozenset(d for d in DigestAlgorithm if d is not DigestAlgorithm.SHA1)


# ---------------------------------------------------------------- trust


@dataclass(frozen=True)
class AgencyPolicy:
    """How signatures claimed for one agency are checked. Configuration sets the first four fields;
    the others exist for code (interop tests) and are never reachable from YAML."""

    anchors: tuple[x509.Certificate, ...] = ()
    require_signature: bool = True
    legacy_sha1: bool = False
    #: Which certificates speak for the agency (any one rule); empty: every certificate of its own anchors.
    signers: tuple[SignerRule, ...] = ()
    #: The smallest RSA/DSA key accepted in any certificate, whatever the algorithm policy.
    min_key_bits: int = 2048
    #: Accept certificates signed with MD5 (or MD2/MD4): third-party interop vectors only.
    allow_md5_certificates: bool = False
    allow_dsa: bool = False
    #: False accepts a bare public key in KeyValue: integrity only, no identity.
    require_x509: bool = True
    hmac_key: bytes | None = field(default=None, repr=False)
    #: Skip KeyUsage / Web PKI CA profile checks (test certificates only).
    relaxed_extensions: bool = False

    @classmethod
    def from_trust(cls, trust: AgencyTrust, anchors: Iterable[x509.Certificate]) -> AgencyPolicy:
        return cls(
            anchors=tuple(anchors),
            require_signature=trust.require_signature,
            legacy_sha1=trust.legacy_sha1,
            signers=tuple(trust.signers),
        )

    def signature_methods(self, *, hmac: bool) -> frozenset[SignatureMethod]:
        if hmac:
            extra = {SignatureMethod.HMAC_SHA1} if self.legacy_sha1 else set()
            return _HMAC_METHODS | extra
        methods = set(_STRONG_METHODS)
        if self.legacy_sha1:
            methods.add(SignatureMethod.RSA_SHA1)
        if self.allow_dsa:
            methods.add(SignatureMethod.DSA_SHA256)
            if self.legacy_sha1:
                methods.add(SignatureMethod.DSA_SHA1)
        return frozenset(methods)

    def digest_algorithms(self) -> frozenset[DigestAlgorithm]:
        return _STRONG_DIGESTS | ({DigestAlgorithm.SHA1} if self.legacy_sha1 else set())


class TrustStore:
    """Which certificates may sign for which agency code, and each agency's policy."""

    def __init__(
        self, agencies: Mapping[str, AgencyPolicy] | None = None, default: AgencyPolicy | None = None
    ):
        self._agencies = dict(agencies or {})
        self.default = default if default is not None else AgencyPolicy(require_signature=False)
        self._shared = {
            code: _sharing(code, policy, self._agencies, self.default)
            for code, policy in self._agencies.items()
        }

    @classmethod
    def from_settings(cls, settings: TrustSettings, root: Path) -> TrustStore:
        """Load every anchor PEM file once; all problems are reported together as a ConfigError."""
        loaded: dict[Path, tuple[x509.Certificate, ...]] = {}
        issues: list[ConfigIssue] = []

        def anchors(trust: AgencyTrust, key: str) -> list[x509.Certificate]:
            certs: list[x509.Certificate] = []
            for index, configured in enumerate(trust.anchors):
                path = configured if configured.is_absolute() else root / configured
                if path not in loaded:
                    try:
                        loaded[path] = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
                    except (OSError, ValueError) as exc:
                        issues.append(
                            ConfigIssue(str(path), None, None, f"{key}[{index}]", _anchor_problem(exc))
                        )
                        loaded[path] = ()
                certs.extend(loaded[path])
            return certs

        agencies = {
            code: AgencyPolicy.from_trust(trust, anchors(trust, f"trust.agencies.{code}.anchors"))
            for code, trust in settings.agencies.items()
        }
        default = AgencyPolicy.from_trust(
            settings.default, anchors(settings.default, "trust.default.anchors")
        )
        if issues:
            raise ConfigError(issues)
        store = cls(agencies, default)
        for code, policy in agencies.items():
            others = store.shared_with(code)
            if others and not policy.signers:
                issues.append(
                    ConfigIssue(
                        "hub.yaml",
                        None,
                        None,
                        f"trust.agencies.{code}.signers",
                        f"an anchor of {code} is also trusted for {', '.join(others)}: add signers rules "
                        f"saying which of its certificates speak for {code} "
                        f"(e.g. subject: {{OU: '{code}'}}), or every certificate it issued could sign as "
                        "this agency",
                    )
                )
        if issues:
            raise ConfigError(issues)
        return store

    @property
    def agencies(self) -> tuple[str, ...]:
        return tuple(self._agencies)

    def policy_for(self, agency: str | None) -> AgencyPolicy:
        if agency is None:
            return self.default
        return self._agencies.get(agency, self.default)

    def anchors_for(self, agency: str | None) -> list[x509.Certificate]:
        return list(self.policy_for(agency).anchors)

    def shared_with(self, agency: str | None) -> tuple[str, ...]:
        """Who else trusts this agency's anchors (or CAs above or below them): when anyone does, the
        chain alone does not say the signer speaks for this agency."""
        if agency is not None and agency in self._shared:
            return self._shared[agency]
        return ("every agency not listed under trust.agencies",) if self.default.anchors else ()


def _related(a: x509.Certificate, b: x509.Certificate) -> bool:
    return fingerprint(a) == fingerprint(b) or issued_by(a, b) or issued_by(b, a)


def _sharing(
    code: str, policy: AgencyPolicy, agencies: Mapping[str, AgencyPolicy], default: AgencyPolicy
) -> tuple[str, ...]:
    def overlaps(other: AgencyPolicy) -> bool:
        return any(_related(a, b) for a in policy.anchors for b in other.anchors)

    others = [other for other, p in agencies.items() if other != code and overlaps(p)]
    if overlaps(default):
        others.append("the default policy (trust.default)")
    return tuple(others)


def _anchor_problem(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "trust anchor file not found"
    if isinstance(exc, OSError):
        return f"trust anchor file cannot be read: {exc.strerror or exc}"
    return f"not a PEM certificate file: {exc}"


# ---------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class Verified:
    """What a valid signature vouches for. Act only on :attr:`signed`."""

    #: Canonical, comment-free copy of the element the caller acts on (or of the first signed element).
    signed: etree._Element
    signer_subject: str | None
    #: The agency whose anchors and policy accepted the signer (None: the default policy did).
    signer_agency: str | None
    algorithm: str
    digest_algorithm: str
    #: XAdES SigningTime, when the signature carries one (the signer's claim, checked for plausibility).
    signing_time: datetime | None
    certificate: x509.Certificate | None
    #: True when SHA-1 or DSA was accepted under a legacy policy.
    legacy: bool
    #: Canonical copies of every signed element, in SignedInfo order.
    covered: tuple[etree._Element, ...] = ()
    #: How the signature departs from the standard, accepted anyway (stable codes): ``signature-unprefixed``
    #: (the edXML senders' Signature without the xmldsig namespace), ``legacy-signature-algorithm`` (SHA-1
    #: or DSA under the agency's legacy policy).
    quirks: tuple[str, ...] = ()


# ---------------------------------------------------------------- the verifier


class XmlVerifier:
    """Verifies inbound XML signatures against a :class:`TrustStore`."""

    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust

    def verify(
        self,
        data: bytes | etree._Element,
        *,
        agency: str | None,
        expect: Expect | None = None,
        at: datetime | None = None,
        what: str = "signed message",
    ) -> Verified:
        """Verify the message's one signature; raise a SignatureError subclass unless it is good.

        ``agency``: the sender the message claims; None tries every configured agency (CLI use).
        ``expect``: the element the caller will act on (callable or XPath over ``EXPECT_NAMESPACES``);
        it must be a signed element or inside one, else SignaturePolicyError (wrapping).
        ``at``: when certificates must be valid (default now).
        """
        root = data if isinstance(data, etree._Element) else parse_xml(data, what=what)
        sig = locate_signature(root, agency=agency)
        if sig is None:
            raise SignatureMissingError("the message is not signed", reason="unsigned", agency=agency)
        return self._verify(root, sig, agency, expect, at, owned=root is not data)

    def check(
        self,
        data: bytes | etree._Element,
        agency: str | None,
        expect: Expect | None = None,
        *,
        at: datetime | None = None,
    ) -> Verified | None:
        """Intake's gate: None when unsigned and the agency does not require signatures; a Verified when
        the signature is good; otherwise log and raise, and the message goes no further."""
        try:
            root = data if isinstance(data, etree._Element) else parse_xml(data, what="signed message")
            sig = locate_signature(root, agency=agency)
            if sig is None:
                if not self.trust.policy_for(agency).require_signature:
                    return None
                raise SignatureMissingError(
                    "this agency's messages must be signed and this one is not",
                    reason="unsigned",
                    agency=agency,
                )
            try:
                verified = self._verify(root, sig, agency, expect, at, owned=root is not data)
            except CertificateUnreadableError as exc:
                if self.trust.policy_for(agency).require_signature:
                    raise
                # Nobody can say who signed: the signature vouches for nothing, as if there were none,
                # which this agency's policy accepts. Stripping the signature would get the same document
                # in, so refusing it protects nothing; the vendor SDK's senders all send such certificates.
                log.warning(
                    "signature unverifiable, accepted as unsigned under this agency's policy: agency=%s "
                    "reason=%s: %s",
                    agency,
                    exc.reason,
                    exc.message,
                )
                return None
        except SignatureError as exc:
            log.warning("signature refused: agency=%s reason=%s: %s", agency, exc.reason, exc.message)
            raise
        log.info(
            "signature verified: agency=%s signer=%s algorithm=%s%s",
            agency,
            verified.signer_subject,
            verified.algorithm,
            f" quirks={','.join(verified.quirks)}" if verified.quirks else "",
        )
        return verified

    def _verify(
        self,
        root: etree._Element,
        sig: etree._Element,
        agency: str | None,
        expect: Expect | None,
        at: datetime | None,
        *,
        owned: bool = False,
    ) -> Verified:
        """``owned``: ``root`` was parsed here from the caller's bytes, so nobody else sees it."""
        quirks: list[str] = []
        if is_unprefixed_edxml(sig):
            original = root
            root, sig = as_xmldsig(root, sig, owned=owned)
            quirks.append(UNPREFIXED)
            if callable(expect):
                expect = _in_copy(original, expect)
        verified = self._verify_xmldsig(root, sig, agency, expect, at)
        if verified.legacy:
            quirks.append(LEGACY_ALGORITHM)
        return replace(verified, quirks=tuple(quirks)) if quirks else verified

    def _verify_xmldsig(
        self,
        root: etree._Element,
        sig: etree._Element,
        agency: str | None,
        expect: Expect | None,
        at: datetime | None,
    ) -> Verified:
        when = (
            datetime.now(UTC)
            if at is None
            else (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC))
        )
        shape = screen(root, sig, agency)
        if excision_is_unsafe(shape):
            raise SignaturePolicyError(
                "a default-namespace signature over content that undeclares its default namespace "
                "cannot be verified safely",
                reason="ambiguous-namespaces",
                agency=agency,
            )
        target: etree._Element | None = None
        covering: int | None = None
        if expect is not None:
            target = resolve_expect(root, expect, agency)
            covering = covering_reference(shape, target)
            if covering is None:
                signed = ", ".join(etree.QName(r.element).localname for r in shape.references)
                raise SignaturePolicyError(
                    f"the signature does not cover the element the hub acts on "
                    f"({etree.QName(target).localname}); it covers: {signed}. Possible signature wrapping",
                    reason="not-covered",
                    agency=agency,
                    algorithm=shape.algorithm,
                )
        if agency is not None or not self.trust.agencies:
            return self._for_agency(
                root, shape, agency, self.trust.policy_for(agency), when, target, covering
            )
        failures: dict[str, SignatureError] = {}
        for code in [*self.trust.agencies, None]:
            try:
                verified = self._for_agency(
                    root, shape, code, self.trust.policy_for(code), when, target, covering
                )
            except SignatureError as exc:
                failures[code or "(default)"] = exc
                continue
            return replace(verified, signer_agency=code)
        errors = list(failures.values())
        if all(type(e) is type(errors[0]) and e.reason == errors[0].reason for e in errors):
            raise errors[0]  # the same answer from every agency: the message itself is at fault
        raise SignatureInvalidError(
            "no configured agency trusts this signature",
            reason="untrusted-signer",
            algorithm=shape.algorithm,
            detail={"tried": {code: e.reason for code, e in failures.items()}},
        )

    def _for_agency(
        self,
        root: etree._Element,
        shape: Shape,
        agency: str | None,
        policy: AgencyPolicy,
        at: datetime,
        target: etree._Element | None,
        covering: int | None,
    ) -> Verified:
        method_ok = shape.method in policy.signature_methods(hmac=shape.method.name.startswith("HMAC_"))
        refused = [d for d in shape.digests if d not in policy.digest_algorithms()]
        if not method_ok or refused:
            weak = shape.algorithm if not method_ok else short(refused[0].value)
            raise SignaturePolicyError(
                f"algorithm {weak} is refused by this agency's policy"
                + ("" if policy.legacy_sha1 else " (SHA-1 and DSA need an explicit legacy policy)"),
                reason="algorithm-refused",
                agency=agency,
                algorithm=weak,
            )
        # Before path building, whose refusal of a weak CA key would not say why.
        issuers = [a for a in policy.anchors if any(issued_by(c, a) for c in shape.certs)]
        _refuse_weak([*shape.certs, *issuers], policy, agency, shape.algorithm)
        errors: list[SignatureInvalidError] = []
        keys = signer_keys(shape, policy, agency)
        for key in keys:
            try:
                results, cert, path = run_signxml(root, shape, policy, key, at, agency)
            except SignatureInvalidError as exc:
                errors.append(exc)
                continue
            _refuse_weak(path, policy, agency, shape.algorithm)
            self._speaks_for(cert, policy, agency, shape.algorithm)
            return self._result(shape, results, cert, agency, at, target, covering)
        chain = [e for k, e in zip(keys, errors, strict=True) if k.kind == "chain"]
        specific = [e for e in errors if e.reason != "signature-mismatch"]
        raise (chain or specific or errors)[-1]

    def _speaks_for(
        self, cert: x509.Certificate | None, policy: AgencyPolicy, agency: str | None, algorithm: str
    ) -> None:
        """The signature and its chain are good; refuse unless this certificate speaks for ``agency``."""
        if agency is None:  # nothing is claimed (hub verify's last resort): the report says "not bound"
            return
        who = cert.subject.rfc4514_string() if cert is not None else "a bare public key"
        if policy.signers:
            if cert is not None and any(Binding.from_rule(r).matches(cert, agency) for r in policy.signers):
                return
            why = "it matches none of this agency's signers rules"
        else:
            shared = self.trust.shared_with(agency)
            if not shared:
                return
            why = f"its anchors are also trusted for {', '.join(shared)}, and it has no signers rules"
        raise SignatureInvalidError(
            f"the certificate {who} is trusted, but does not speak for agency {agency}: {why}",
            reason="signer-not-bound",
            agency=agency,
            algorithm=algorithm,
            detail={"signer": who},
        )

    def _result(
        self,
        shape: Shape,
        results: list[Any],
        cert: x509.Certificate | None,
        agency: str | None,
        at: datetime,
        target: etree._Element | None,
        covering: int | None,
    ) -> Verified:
        copies: list[etree._Element] = []
        for ref, result in zip(shape.references, results, strict=True):
            copy = decoded(result.signed_data, agency) if ref.decoded else result.signed_xml
            if not isinstance(copy, etree._Element) or (copy.tag != ref.element.tag and not ref.decoded):
                raise SignatureInvalidError(
                    "signed content is not the referenced element", reason="internal-mismatch", agency=agency
                )
            copies.append(copy)
        signing_time = xades_signing_time(copies, agency) if shape.xades else None
        if signing_time is not None:
            if signing_time > at + _CLOCK_SKEW:
                raise SignatureInvalidError(
                    f"the signing time {signing_time.isoformat()} is after the verification time",
                    reason="signing-time-in-future",
                    agency=agency,
                )
            if cert is not None and not cert.not_valid_before_utc <= signing_time <= cert.not_valid_after_utc:
                raise SignatureInvalidError(
                    "the signer's certificate was not valid at the stated signing time",
                    reason="certificate-not-valid-at-time",
                    agency=agency,
                )
        if target is not None and covering is not None:
            signed = descend(copies[covering], shape.references[covering], target, shape.signature)
        else:
            primary = [c for c in copies if c.tag != f"{{{XADES_NS}}}SignedProperties"]
            signed = (primary or copies)[0]
        return Verified(
            signed=signed,
            signer_subject=cert.subject.rfc4514_string() if cert is not None else None,
            signer_agency=agency,
            algorithm=shape.algorithm,
            digest_algorithm=shape.digest_algorithm,
            signing_time=signing_time,
            certificate=cert,
            legacy=shape.legacy,
            covered=tuple(copies),
        )


def _refuse_weak(
    certs: Iterable[x509.Certificate], policy: AgencyPolicy, agency: str | None, algorithm: str
) -> None:
    for cert in certs:
        # A self-issued certificate's own signature vouches for nothing (an anchor is trusted as such).
        found = weakness(
            cert,
            min_rsa_bits=policy.min_key_bits,
            check_signature=cert.issuer != cert.subject and not policy.allow_md5_certificates,
        )
        if found is not None:
            reason, message = found
            raise SignaturePolicyError(message, reason=reason, agency=agency, algorithm=algorithm)


# ---------------------------------------------------------------- edges: CLI


def verify_file(path: Path, trust: TrustStore, agency: str | None, at: datetime | None) -> Verified:
    """``hub verify FILE``: verify one file as the hub would act on it.

    A SOAP envelope (1.1 or 1.2) is judged by its Body's one element, the only thing the hub acts on:
    signed as the gateway expects (an enveloped signature inside it), that element is verified as a
    document of its own, exactly as ``/soap/<adapter>`` does; otherwise the signature (WS-Security
    style, in the Header) must cover it. A signed Body moved into a header and replaced by an unsigned
    one (signature wrapping) is therefore refused, not reported valid. Any other document is verified
    whole, reporting the element its signature covers.
    """
    verifier = XmlVerifier(trust)
    root = parse_xml(path.read_bytes(), what=str(path))
    entry = soap_body_entry(root, agency)
    if entry is None:
        return verifier.verify(root, agency=agency, at=at)
    if any(True for _ in entry.iter(f"{{{XMLDSIG_NS}}}Signature")):
        body = parse_xml(body_payload(entry), what=f"the Body of {path}")  # as the gateway stores it
        return verifier.verify(body, agency=agency, expect=_document_root, at=at)
    return verifier.verify(root, agency=agency, expect=lambda _root: entry, at=at)


def soap_body_entry(root: etree._Element, agency: str | None = None) -> etree._Element | None:
    """The one element in the Body of a SOAP 1.1 / 1.2 envelope; None when ``root`` is no envelope.

    An envelope whose Body does not hold exactly one element cannot say what the hub would act on,
    so it is refused (SignaturePolicyError), never verified by some other element's signature.
    """
    name = etree.QName(root)
    if name.namespace not in (SOAP11_NS, SOAP12_NS) or name.localname != "Envelope":
        return None
    bodies = root.findall(f"{{{name.namespace}}}Body")
    entries = [c for b in bodies for c in b if isinstance(c.tag, str)]
    if len(bodies) != 1 or len(entries) != 1:
        raise SignaturePolicyError(
            f"a SOAP envelope must hold one Body with one element; this one has {len(bodies)} Body "
            f"element(s) holding {len(entries)} element(s)",
            reason="expected-element-not-unique",
            agency=agency,
        )
    return entries[0]


def _document_root(root: etree._Element) -> etree._Element:
    return root


def _in_copy(original: etree._Element, expect: Callable[[etree._Element], etree._Element]) -> Expect:
    """``expect`` as it applies to the private copy :func:`as_xmldsig` made of ``original``: the element it
    picks in the original, found at the same place in the copy (outside the signature, nothing moved)."""

    def pick(copy: etree._Element) -> etree._Element:
        chosen = expect(original)
        try:
            path = element_path(original, chosen)
        except ValueError:  # not in the document at all: resolve_expect refuses it
            return chosen
        node = copy
        for index in path:
            node = node[index]
        return node

    return pick


def report(verified: Verified) -> list[tuple[str, str]]:
    """(label, value) rows describing a good signature, for the CLI."""
    cert = verified.certificate
    rows = [("Signer", verified.signer_subject or "no certificate (bare public key or shared secret)")]
    if cert is not None:
        rows += [
            ("Issuer", cert.issuer.rfc4514_string()),
            ("Serial", f"{cert.serial_number:x}"),
            (
                "Certificate valid",
                f"{cert.not_valid_before_utc:%Y-%m-%d} .. {cert.not_valid_after_utc:%Y-%m-%d}",
            ),
        ]
    signed = etree.QName(verified.signed)
    rows += [
        ("Agency", verified.signer_agency or "not bound to an agency (default policy)"),
        ("Algorithm", verified.algorithm),
        ("Digest", verified.digest_algorithm),
        ("Signing time", verified.signing_time.isoformat() if verified.signing_time else "not stated"),
        (
            "Signed element",
            f"{{{signed.namespace}}}{signed.localname}" if signed.namespace else signed.localname,
        ),
        ("Verdict", "valid, under the legacy SHA-1 policy" if verified.legacy else "valid"),
    ]
    if verified.quirks:
        rows.insert(-1, ("Quirks", ", ".join(verified.quirks)))
    return rows


def error_report(error: SignatureError) -> list[tuple[str, str]]:
    """(label, value) rows describing a refused signature, for the CLI."""
    verdict = {
        SignatureMissingError: "unsigned",
        SignatureInvalidError: "invalid",
        SignaturePolicyError: "refused by policy",
        CertificateUnreadableError: "unverifiable: the signer's certificate cannot be read",
    }.get(type(error), "invalid")
    rows = [
        ("Agency", error.agency or "-"),
        ("Algorithm", error.algorithm or "-"),
        ("Reason", error.reason),
        ("Detail", error.message),
    ]
    tried = error.detail.get("tried")
    if isinstance(tried, dict):  # no agency was named: say what each candidate answered
        rows.append(("Tried", "; ".join(f"{code}: {reason}" for code, reason in tried.items())))
    return [*rows, ("Verdict", verdict)]
