"""The hub's signing keys: loaded once at startup from PEM or PKCS#12 files, newest first.

Deserialising an RSA key costs tens of milliseconds (far more when it is encrypted), so a key is
read and decrypted exactly once, when the hub is composed, and the signer holds the loaded object;
nothing here runs per message. Passwords come only from the environment variable a
:class:`~lienthong.config.models.KeyReference` names, and never appear in an error, a log line or a repr.

Several keys may be listed (rotation): the first signs new messages, the others stay loaded so that
the hub can still recognise and verify signatures made before the rotation.

:func:`create_dev_ca` makes a development CA, a certificate for the hub and one per simulated
ministry, for the demo and the tests. Those keys are unencrypted and are never for production.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from lienthong.config.models import KeyReference
from lienthong.errors import KeystoreError

__all__ = [
    "DevCa",
    "KeyKind",
    "Keystore",
    "PrivateKey",
    "SigningKey",
    "create_dev_ca",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KeyKind = Literal["rsa", "ec"]

MIN_RSA_BITS: Final = 2048
_EC_CURVES: Final = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_PKCS12_SUFFIXES: Final = frozenset({".p12", ".pfx"})
_PEM_KEY: Final = re.compile(rb"-----BEGIN ((?:[A-Z]+ )*PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)
_PEM_CERT: Final = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True, repr=False)
class SigningKey:
    """One loaded key: the private key object and its certificate chain, signer first."""

    id: str
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    #: the chain as PEM (signer first), for tools and verifiers that want text
    chain_pem: bytes
    source: Path

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def kind(self) -> KeyKind:
        return "rsa" if isinstance(self.private_key, rsa.RSAPrivateKey) else "ec"

    @property
    def algorithm(self) -> Literal["rsa-sha256", "ecdsa-sha256"]:
        """The signing-policy algorithm this key can produce."""
        return "rsa-sha256" if self.kind == "rsa" else "ecdsa-sha256"

    def private_key_pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM, made on demand for tools that need text (not kept)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def describe(self) -> str:
        key = self.private_key
        kind = f"RSA {key.key_size}" if isinstance(key, rsa.RSAPrivateKey) else f"ECDSA {key.curve.name}"
        until = self.certificate.not_valid_after_utc.date().isoformat()
        return f"{self.id} ({kind}, {self.certificate.subject.rfc4514_string()}, valid until {until})"

    def __repr__(self) -> str:
        return f"SigningKey({self.describe()})"


class Keystore:
    """The hub's signing keys in configuration order: ``current`` signs, all stay available."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        seen: set[str] = set()
        for key in keys:
            if key.id in seen:
                raise KeystoreError(f"signing key id '{key.id}' is listed twice", key_id=key.id)
            seen.add(key.id)
        self._keys = tuple(keys)
        self._by_id = {key.id: key for key in keys}

    @classmethod
    def load(
        cls, refs: Sequence[KeyReference], root: Path, environ: Mapping[str, str] = os.environ
    ) -> Keystore:
        """Read and deserialise every listed key once; relative paths resolve from ``root``."""
        files: dict[Path, bytes] = {}  # a file named twice (key and chain in one PEM) is read once

        def read(path: Path, ref: KeyReference, setting: str) -> bytes:
            resolved = path if path.is_absolute() else root / path
            if resolved not in files:
                try:
                    files[resolved] = _read(resolved)
                except OSError as exc:
                    reason = exc.strerror or exc.__class__.__name__
                    raise KeystoreError(
                        f"signing key '{ref.id}': cannot read {setting} {path}: {reason}",
                        key_id=ref.id,
                        path=resolved,
                        setting=setting,
                    ) from None
            return files[resolved]

        keys = []
        for ref in refs:
            password = _password(ref, environ)
            key_data = read(ref.key_file, ref, "key_file")
            cert_data = read(ref.certificate_file, ref, "certificate_file") if ref.certificate_file else None
            keys.append(_Loader(ref, root).load(key_data, cert_data, password))
        return cls(keys)

    @property
    def current(self) -> SigningKey:
        """The key new messages are signed with: the first one listed."""
        if not self._keys:
            raise KeystoreError(
                "no signing keys configured: add one under keys.signing in hub.yaml "
                "('hub keys dev-ca' makes development keys)"
            )
        return self._keys[0]

    def get(self, key_id: str) -> SigningKey:
        try:
            return self._by_id[key_id]
        except KeyError:
            known = ", ".join(self._by_id) or "none configured"
            raise KeystoreError(f"unknown signing key '{key_id}' (configured: {known})") from None

    @property
    def all(self) -> tuple[SigningKey, ...]:
        return self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keystore({', '.join(self._by_id)})"


# ---------------------------------------------------------------- loading


def _read(path: Path) -> bytes:
    """The one place key material is read from disk (tests count the calls)."""
    return path.read_bytes()


def _password(ref: KeyReference, environ: Mapping[str, str]) -> bytes | None:
    if ref.password_env is None:
        return None
    value = environ.get(ref.password_env)
    if value is None:
        raise KeystoreError(
            f"signing key '{ref.id}': environment variable {ref.password_env} (password_env) is not set",
            key_id=ref.id,
            setting="password_env",
        )
    return value.encode("utf-8")


def _is_pkcs12(path: Path, data: bytes) -> bool:
    if path.suffix.lower() in _PKCS12_SUFFIXES:
        return True
    # PKCS#12 is DER (a SEQUENCE, 0x30); a PEM file is text starting with '-----BEGIN' or a comment.
    return b"-----BEGIN" not in data and data[:1] == b"\x30"


class _Loader:
    """Turns one KeyReference's bytes into a SigningKey; every failure names the key and the file."""

    def __init__(self, ref: KeyReference, root: Path) -> None:
        self.ref = ref
        self.path = ref.key_file if ref.key_file.is_absolute() else root / ref.key_file

    def fail(self, message: str, setting: str = "key_file") -> KeystoreError:
        return KeystoreError(
            f"signing key '{self.ref.id}': {message}", key_id=self.ref.id, path=self.path, setting=setting
        )

    def load(self, key_data: bytes, cert_data: bytes | None, password: bytes | None) -> SigningKey:
        ref = self.ref
        if _is_pkcs12(self.path, key_data):
            loaded, certs = self._pkcs12(key_data, password)
        else:
            loaded, certs = self._pem(key_data, password)
        key = self._check_type(loaded)
        if cert_data is not None:
            found = _pem_certificates(cert_data)
            if not found:
                raise self.fail(f"{ref.certificate_file} holds no PEM certificate", "certificate_file")
            certs = found + [c for c in certs if c not in found]
        if not certs:
            raise self.fail(
                "no certificate found: set certificate_file to the PEM chain (signer first)",
                "certificate_file",
            )
        chain = _order_chain(key, certs)
        if chain is None:
            subjects = "; ".join(c.subject.rfc4514_string() for c in certs)
            setting = "certificate_file" if ref.certificate_file else "key_file"
            raise self.fail(f"the private key matches none of its certificates ({subjects})", setting)
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        return SigningKey(id=ref.id, private_key=key, chain=chain, chain_pem=pem, source=self.path)

    def _pkcs12(self, data: bytes, password: bytes | None) -> tuple[object, list[x509.Certificate]]:
        name = self.ref.key_file
        try:
            bundle = pkcs12.load_pkcs12(data, password)
        except ValueError:
            hint = f" (from {self.ref.password_env})" if self.ref.password_env else " (no password_env set)"
            raise self.fail(f"cannot open PKCS#12 file {name}: wrong password{hint}, or damaged") from None
        if bundle.key is None:
            raise self.fail(f"PKCS#12 file {name} holds no private key")
        certs = [bundle.cert.certificate] if bundle.cert is not None else []
        return bundle.key, certs + [c.certificate for c in bundle.additional_certs]

    def _pem(self, data: bytes, password: bytes | None) -> tuple[object, list[x509.Certificate]]:
        name = self.ref.key_file
        block = _PEM_KEY.search(data)
        if block is None:
            raise self.fail(f"{name} holds no PEM private key (nor is it a PKCS#12 .p12/.pfx file)")
        try:
            key = serialization.load_pem_private_key(block.group(0), password)
        except TypeError:
            # cryptography's way of saying a password was (not) given but the key is (not) encrypted
            if password is None:
                raise self.fail(
                    f"{name} is encrypted: set password_env to the variable holding its password"
                ) from None
            raise self.fail(
                f"{name} is not encrypted, yet password_env is set: remove password_env"
            ) from None
        except ValueError:
            hint = f" (from {self.ref.password_env})" if self.ref.password_env else ""
            raise self.fail(f"cannot decrypt {name}: wrong password{hint}, or a damaged key") from None
        except Exception as exc:  # e.g. UnsupportedAlgorithm
            raise self.fail(f"cannot load {name}: {exc.__class__.__name__}") from None
        return key, _pem_certificates(data)

    def _check_type(self, key: object) -> PrivateKey:
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < MIN_RSA_BITS:
                raise self.fail(
                    f"an RSA key of {key.key_size} bits is too short; use at least {MIN_RSA_BITS}"
                )
            return key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if key.curve.name not in _EC_CURVES:
                raise self.fail(f"elliptic curve {key.curve.name} is not supported; use P-256")
            return key
        raise self.fail(f"{type(key).__name__} keys are not supported; use RSA or ECDSA P-256")


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(m.group(0)) for m in _PEM_CERT.finditer(data)]


def _spki(public_key: object) -> bytes:
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return b""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _order_chain(key: PrivateKey, certs: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...] | None:
    """Signer first, then its issuers as far as they are present, then anything else in file order."""
    pool = list(dict.fromkeys(certs))
    own = _spki(key.public_key())
    signer = next((c for c in pool if _spki(c.public_key()) == own), None)
    if signer is None:
        return None
    chain = [signer]
    pool.remove(signer)
    while pool:
        issuer = next((c for c in pool if c.subject == chain[-1].issuer and c != chain[-1]), None)
        if issuer is None:
            break
        chain.append(issuer)
        pool.remove(issuer)
    return (*chain, *pool)


# ---------------------------------------------------------------- development CA


@dataclass(frozen=True)
class DevCa:
    """Where :func:`create_dev_ca` put things. Certificate files hold the chain, signer first."""

    directory: Path
    ca_certificate: Path
    ca_key: Path
    hub_certificate: Path
    hub_key: Path
    hub_ec_certificate: Path
    hub_ec_key: Path
    #: agency code → (certificate chain, private key) of each simulated ministry
    agencies: dict[str, tuple[Path, Path]]
    #: files written by this call (empty when everything already existed)
    written: tuple[Path, ...] = field(default=())

    RSA_KEY_ID: ClassVar[str] = "hub-dev"
    EC_KEY_ID: ClassVar[str] = "hub-dev-ec"

    def key_references(self, relative_to: Path | None = None) -> list[KeyReference]:
        """keys.signing entries for hub.yaml: the RSA key first (it signs), then the ECDSA one."""

        def rel(p: Path) -> Path:
            if relative_to is not None and p.is_relative_to(relative_to):
                return p.relative_to(relative_to)
            return p

        return [
            KeyReference(
                id=self.RSA_KEY_ID, key_file=rel(self.hub_key), certificate_file=rel(self.hub_certificate)
            ),
            KeyReference(
                id=self.EC_KEY_ID,
                key_file=rel(self.hub_ec_key),
                certificate_file=rel(self.hub_ec_certificate),
            ),
        ]


def create_dev_ca(
    out_dir: Path,
    hub_agency: str,
    ministry_agencies: Mapping[str, str],
    *,
    hub_name: str | None = None,
    force: bool = False,
    rsa_bits: int = MIN_RSA_BITS,
    now: dt.datetime | None = None,
) -> DevCa:
    """A development CA, the hub's RSA and ECDSA P-256 certificates and one per ministry agency.

    ``ministry_agencies`` maps agency codes to names. Existing files are kept (the call is
    idempotent) unless ``force``; a missing CA beside existing certificates is an error, since new
    certificates would not chain to the CA the old ones came from.
    """
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    out_dir.mkdir(parents=True, exist_ok=True)
    agencies_dir = out_dir / "agencies"
    ca = DevCa(
        directory=out_dir,
        ca_certificate=out_dir / "ca.pem",
        ca_key=out_dir / "ca.key",
        hub_certificate=out_dir / "hub.pem",
        hub_key=out_dir / "hub.key",
        hub_ec_certificate=out_dir / "hub-ec.pem",
        hub_ec_key=out_dir / "hub-ec.key",
        agencies={
            code: (agencies_dir / f"{code}.pem", agencies_dir / f"{code}.key") for code in ministry_agencies
        },
    )
    leaves = [
        (ca.hub_certificate, ca.hub_key),
        (ca.hub_ec_certificate, ca.hub_ec_key),
        *ca.agencies.values(),
    ]
    written: list[Path] = []
    ca_pair = (ca.ca_certificate, ca.ca_key)
    fresh_ca = force or not _pair_exists(*ca_pair)
    if fresh_ca:
        if not force and any(p.exists() for pair in leaves for p in pair):
            raise KeystoreError(
                f"{ca.ca_certificate} or {ca.ca_key} is missing but certificates issued by it remain in "
                f"{out_dir}; use --force to re-create the whole set",
                path=ca.ca_certificate,
            )
        ca_key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        ca_name = _name("lienthong development CA (not for production)", "lienthong (development)", None)
        ca_cert = _certificate(ca_name, ca_key.public_key(), ca_name, ca_key, now=now, days=3650, is_ca=True)
        written += _write_pair(ca_pair, [ca_cert], ca_key)
    else:
        ca_cert = x509.load_pem_x509_certificate(_read(ca.ca_certificate))
        loaded = serialization.load_pem_private_key(_read(ca.ca_key), None)
        if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise KeystoreError(f"{ca.ca_key} is not an RSA or EC key", path=ca.ca_key)
        ca_key = loaded

    province = hub_name or f"Trục liên thông {hub_agency}"
    subjects: list[tuple[tuple[Path, Path], x509.Name, KeyKind]] = [
        ((ca.hub_certificate, ca.hub_key), _name(province, province, hub_agency), "rsa"),
        ((ca.hub_ec_certificate, ca.hub_ec_key), _name(f"{province} (ECDSA)", province, hub_agency), "ec"),
    ]
    for code, name in ministry_agencies.items():
        subjects.append((ca.agencies[code], _name(name or code, name or code, code), "rsa"))
    for pair, subject, kind in subjects:
        if not fresh_ca and _pair_exists(*pair):
            continue
        key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
            if kind == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        cert = _certificate(
            subject, key.public_key(), ca_cert.subject, ca_key, now=now, days=730, is_ca=False
        )
        pair[0].parent.mkdir(parents=True, exist_ok=True)
        written += _write_pair(pair, [cert, ca_cert], key)
    return replace(ca, written=tuple(written))


def _pair_exists(cert: Path, key: Path) -> bool:
    if cert.exists() != key.exists():
        missing, present = (cert, key) if key.exists() else (key, cert)
        raise KeystoreError(
            f"{present} exists but {missing} does not; use --force to re-create them", path=missing
        )
    return cert.exists()


def _name(common_name: str, organisation: str, agency: str | None) -> x509.Name:
    common_name, organisation = _bounded(common_name), _bounded(organisation)
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ]
    if agency is not None:  # the agency code (mã định danh) identifies the signer to receivers
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, agency))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _bounded(text: str, limit: int = 64) -> str:
    """Cut to the X.520 upper bound of 64, which cryptography counts in UTF-8 bytes."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore").strip()


def _certificate(
    subject: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    *,
    now: dt.datetime,
    days: int,
    is_ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=not is_ca,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pair(pair: tuple[Path, Path], chain: list[x509.Certificate], key: PrivateKey) -> list[Path]:
    cert_path, key_path = pair
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # an existing file keeps its old mode through O_TRUNC
        f.write(pem)
    cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return [cert_path, key_path]
