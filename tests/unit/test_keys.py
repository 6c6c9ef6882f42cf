"""The keystore: PEM and PKCS#12, passwords from the environment only, clear errors that never show a
password, rotation order, each key read and deserialised once; and the development CA."""

from __future__ import annotations

import datetime as dt
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

import lienthong.trust.keys as keys_module
from lienthong.config.models import KeyReference
from lienthong.errors import KeystoreError
from lienthong.trust.keys import DevCa, Keystore, SigningKey, create_dev_ca
from lienthong.trust.sign import XmlSigner
from lienthong.xml import parse_xml

PROVINCE = "000.00.00.H49"
LAND = "000.00.00.G13"
PASSWORD = "Mật-khẩu-thử 7f3a9c"  # non-ASCII on purpose: the environment holds text, the key wants bytes
PASSWORD_ENV = "HUB_TEST_KEY_PASSWORD"


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCa:
    return create_dev_ca(tmp_path_factory.mktemp("keys"), PROVINCE, {LAND: "Văn phòng đăng ký đất đai"})


def _key(path: Path) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def _certs(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _encrypted_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: str) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    )


def _p12(dev_ca: DevCa, password: str | None) -> bytes:
    leaf, ca = _certs(dev_ca.hub_certificate)
    encryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"hub", _key(dev_ca.hub_key), leaf, [ca], encryption)


# ---------------------------------------------------------------- loading


def test_pem_key_and_chain(dev_ca: DevCa) -> None:
    ref = KeyReference(id="hub-2026", key_file=dev_ca.hub_key, certificate_file=dev_ca.hub_certificate)
    key = Keystore.load([ref], Path("/nonexistent")).current
    leaf, ca = _certs(dev_ca.hub_certificate)
    assert key.id == "hub-2026"
    assert key.chain == (leaf, ca)  # signer first
    assert key.kind == "rsa" and key.algorithm == "rsa-sha256"
    assert key.chain_pem == dev_ca.hub_certificate.read_bytes()
    assert key.source == dev_ca.hub_key


def test_relative_paths_resolve_from_the_root(dev_ca: DevCa) -> None:
    root = dev_ca.directory.parent
    ref = KeyReference(
        id="hub",
        key_file=dev_ca.hub_ec_key.relative_to(root),
        certificate_file=dev_ca.hub_ec_certificate.relative_to(root),
    )
    key = Keystore.load([ref], root).current
    assert key.kind == "ec" and key.algorithm == "ecdsa-sha256"


def test_encrypted_pem_with_the_password_from_the_environment(dev_ca: DevCa, tmp_path: Path) -> None:
    key_file = tmp_path / "hub.key"
    key_file.write_bytes(_encrypted_pem(_key(dev_ca.hub_key), PASSWORD))
    ref = KeyReference(
        id="hub", key_file=key_file, certificate_file=dev_ca.hub_certificate, password_env=PASSWORD_ENV
    )
    key = Keystore.load([ref], tmp_path, environ={PASSWORD_ENV: PASSWORD}).current
    assert key.certificate == _certs(dev_ca.hub_certificate)[0]


def test_one_pem_file_with_key_and_chain_is_read_once(
    dev_ca: DevCa, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    combined = tmp_path / "hub-bundle.pem"
    combined.write_bytes(dev_ca.hub_key.read_bytes() + dev_ca.hub_certificate.read_bytes())
    reads: Counter[Path] = Counter()
    real_read = keys_module._read

    def counting(path: Path) -> bytes:
        reads[path] += 1
        return real_read(path)

    monkeypatch.setattr(keys_module, "_read", counting)
    ref = KeyReference(id="hub", key_file=combined, certificate_file=combined)
    key = Keystore.load([ref], tmp_path).current
    assert len(key.chain) == 2
    assert reads == Counter({combined: 1})


@pytest.mark.parametrize("name", ["hub.p12", "hub.pfx", "hub-bundle.bin"])
def test_pkcs12_by_extension_or_content(dev_ca: DevCa, tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(_p12(dev_ca, PASSWORD))
    ref = KeyReference(id="hub", key_file=Path(name), password_env=PASSWORD_ENV)
    key = Keystore.load([ref], tmp_path, environ={PASSWORD_ENV: PASSWORD}).current
    assert key.chain == tuple(_certs(dev_ca.hub_certificate))
    assert key.kind == "rsa"


def test_pkcs12_without_a_password(dev_ca: DevCa, tmp_path: Path) -> None:
    (tmp_path / "hub.p12").write_bytes(_p12(dev_ca, None))
    key = Keystore.load([KeyReference(id="hub", key_file=Path("hub.p12"))], tmp_path).current
    assert (
        key.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == PROVINCE
    )


def _refused(refs: list[KeyReference], root: Path, environ: dict[str, str] | None = None) -> KeystoreError:
    with pytest.raises(KeystoreError) as caught:
        Keystore.load(refs, root, environ=environ or {})
    return caught.value


def _shows_no_password(error: KeystoreError, password: str) -> None:
    for text in (str(error), repr(error), error.message, repr(error.detail)):
        assert password not in text
    # cryptography's own exception is not chained in either, whatever it may say
    assert error.__cause__ is None and error.__suppress_context__


def test_wrong_password_pem(dev_ca: DevCa, tmp_path: Path) -> None:
    key_file = tmp_path / "hub.key"
    key_file.write_bytes(_encrypted_pem(_key(dev_ca.hub_key), PASSWORD))
    wrong = "sai-mat-khau-123"
    ref = KeyReference(
        id="hub", key_file=key_file, certificate_file=dev_ca.hub_certificate, password_env=PASSWORD_ENV
    )
    error = _refused([ref], tmp_path, {PASSWORD_ENV: wrong})
    assert "signing key 'hub'" in error.message
    assert str(key_file) in error.message
    assert "wrong password" in error.message and PASSWORD_ENV in error.message
    assert error.setting == "key_file" and error.key_id == "hub"
    _shows_no_password(error, wrong)
    _shows_no_password(error, PASSWORD)


def test_wrong_password_pkcs12(dev_ca: DevCa, tmp_path: Path) -> None:
    (tmp_path / "hub.p12").write_bytes(_p12(dev_ca, PASSWORD))
    wrong = "sai-mat-khau-456"
    ref = KeyReference(id="hub", key_file=Path("hub.p12"), password_env=PASSWORD_ENV)
    error = _refused([ref], tmp_path, {PASSWORD_ENV: wrong})
    assert "hub.p12" in error.message and "wrong password" in error.message
    _shows_no_password(error, wrong)


def test_password_variable_not_set(dev_ca: DevCa, tmp_path: Path) -> None:
    ref = KeyReference(id="hub", key_file=dev_ca.hub_key, password_env=PASSWORD_ENV)
    error = _refused([ref], tmp_path, {})
    assert f"environment variable {PASSWORD_ENV}" in error.message
    assert error.setting == "password_env"


def test_encrypted_key_without_password_env(dev_ca: DevCa, tmp_path: Path) -> None:
    key_file = tmp_path / "hub.key"
    key_file.write_bytes(_encrypted_pem(_key(dev_ca.hub_key), PASSWORD))
    error = _refused(
        [KeyReference(id="hub", key_file=key_file, certificate_file=dev_ca.hub_certificate)], tmp_path
    )
    assert "is encrypted" in error.message and "password_env" in error.message


def test_key_and_certificate_must_match(dev_ca: DevCa, tmp_path: Path) -> None:
    land_certificate = dev_ca.agencies[LAND][0]
    ref = KeyReference(id="hub", key_file=dev_ca.hub_key, certificate_file=land_certificate)
    error = _refused([ref], tmp_path)
    assert "matches none of its certificates" in error.message
    assert LAND in error.message  # the subjects it did find are named
    assert error.setting == "certificate_file"


def test_a_key_without_any_certificate(dev_ca: DevCa, tmp_path: Path) -> None:
    error = _refused([KeyReference(id="hub", key_file=dev_ca.hub_key)], tmp_path)
    assert "no certificate found" in error.message and "certificate_file" in error.message


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    ref = KeyReference(id="hub", key_file=Path("secrets/missing.key"))
    error = _refused([ref], tmp_path)
    assert "secrets/missing.key" in error.message and error.setting == "key_file"
    assert error.path == tmp_path / "secrets" / "missing.key"


def test_short_rsa_keys_are_refused(dev_ca: DevCa, tmp_path: Path) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    key_file = tmp_path / "small.key"
    key_file.write_bytes(
        small.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    error = _refused(
        [KeyReference(id="old", key_file=key_file, certificate_file=dev_ca.hub_certificate)], tmp_path
    )
    assert "1024 bits is too short" in error.message


# ---------------------------------------------------------------- rotation


def _refs(dev_ca: DevCa) -> list[KeyReference]:
    return [
        KeyReference(id="hub-2027", key_file=dev_ca.hub_ec_key, certificate_file=dev_ca.hub_ec_certificate),
        KeyReference(id="hub-2026", key_file=dev_ca.hub_key, certificate_file=dev_ca.hub_certificate),
    ]


def test_rotation_newest_first_signs_older_stay_available(dev_ca: DevCa, tmp_path: Path) -> None:
    keystore = Keystore.load(_refs(dev_ca), tmp_path)
    assert keystore.current.id == "hub-2027"
    assert [k.id for k in keystore.all] == ["hub-2027", "hub-2026"]
    assert keystore.get("hub-2026").kind == "rsa"
    assert len(keystore) == 2
    with pytest.raises(
        KeystoreError, match=r"unknown signing key 'hub-2025' \(configured: hub-2027, hub-2026\)"
    ):
        keystore.get("hub-2025")


def test_no_keys_and_duplicate_ids(dev_ca: DevCa, tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="no signing keys configured"):
        _ = Keystore.load([], tmp_path).current
    first = _refs(dev_ca)[1]
    with pytest.raises(KeystoreError, match="listed twice"):
        Keystore.load([first, first], tmp_path)


def test_keys_are_read_and_deserialised_once_never_per_message(
    dev_ca: DevCa, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()

    def counted(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(keys_module, "_read", counted("read", keys_module._read))
    monkeypatch.setattr(
        serialization, "load_pem_private_key", counted("deserialise", serialization.load_pem_private_key)
    )

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("signxml was handed PEM to deserialise per message")

    monkeypatch.setattr("signxml.signer.load_pem_private_key", refuse)
    keystore = Keystore.load(_refs(dev_ca), tmp_path)
    assert calls == Counter({"read": 4, "deserialise": 2})  # two keys, two certificate files

    signer = XmlSigner("xmldsig", "rsa-sha256", keystore.get("hub-2026"))
    document = parse_xml(b"<doc xmlns='urn:test'><a>1</a></doc>")
    for _ in range(20):
        signer.sign(document)
    assert calls == Counter({"read": 4, "deserialise": 2})


def test_repr_shows_no_key_material(dev_ca: DevCa, tmp_path: Path) -> None:
    key = Keystore.load(_refs(dev_ca), tmp_path).get("hub-2026")
    pem = key.private_key_pem().decode()
    body = "".join(pem.splitlines()[1:-1])
    assert body[:40] not in repr(key)
    assert "hub-2026" in repr(key) and "RSA 2048" in repr(key)


# ---------------------------------------------------------------- the development CA


def test_dev_ca_certificates(dev_ca: DevCa) -> None:
    ca = _certs(dev_ca.ca_certificate)[0]
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign

    hub, issuer = _certs(dev_ca.hub_certificate)
    assert issuer == ca and hub.issuer == ca.subject
    ca_key = ca.public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey)
    hub.verify_directly_issued_by(ca)
    names = {a.oid: a.value for a in hub.subject}
    assert names[NameOID.ORGANIZATIONAL_UNIT_NAME] == PROVINCE
    assert NameOID.COMMON_NAME in names and NameOID.ORGANIZATION_NAME in names
    usage = hub.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert not hub.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = hub.not_valid_after_utc - hub.not_valid_before_utc
    assert dt.timedelta(days=700) < lifetime < dt.timedelta(days=740)
    hub_key = _key(dev_ca.hub_key)
    assert isinstance(hub_key, rsa.RSAPrivateKey) and hub_key.key_size == 2048
    assert hub.signature_hash_algorithm is not None
    assert isinstance(hub.signature_hash_algorithm, hashes.SHA256)

    ec_key = _key(dev_ca.hub_ec_key)
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey) and ec_key.curve.name == "secp256r1"

    land, _ = _certs(dev_ca.agencies[LAND][0])
    assert land.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == LAND


def test_dev_ca_private_keys_are_owner_only(dev_ca: DevCa) -> None:
    for key in (dev_ca.ca_key, dev_ca.hub_key, dev_ca.hub_ec_key, dev_ca.agencies[LAND][1]):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_dev_ca_is_idempotent_unless_forced(tmp_path: Path) -> None:
    first = create_dev_ca(tmp_path, PROVINCE, {LAND: "Đất đai"})
    before = {p: p.read_bytes() for p in first.written}
    assert len(before) == 8
    again = create_dev_ca(tmp_path, PROVINCE, {LAND: "Đất đai"})
    assert again.written == ()
    assert {p: p.read_bytes() for p in before} == before

    first.hub_ec_key.unlink()
    first.hub_ec_certificate.unlink()
    refilled = create_dev_ca(tmp_path, PROVINCE, {LAND: "Đất đai"})
    assert set(refilled.written) == {first.hub_ec_certificate, first.hub_ec_key}
    assert first.hub_key.read_bytes() == before[first.hub_key]
    assert _certs(first.hub_ec_certificate)[1] == _certs(first.ca_certificate)[0]  # same CA

    forced = create_dev_ca(tmp_path, PROVINCE, {LAND: "Đất đai"}, force=True)
    assert len(forced.written) == 8
    assert first.ca_key.read_bytes() != before[first.ca_key]


def test_dev_ca_refuses_a_half_set(tmp_path: Path) -> None:
    ca = create_dev_ca(tmp_path, PROVINCE, {})
    ca.ca_key.unlink()
    ca.ca_certificate.unlink()
    with pytest.raises(KeystoreError, match="use --force"):
        create_dev_ca(tmp_path, PROVINCE, {})


def test_dev_ca_references_load(dev_ca: DevCa) -> None:
    keystore = Keystore.load(dev_ca.key_references(), Path("/"))
    assert [k.id for k in keystore.all] == [DevCa.RSA_KEY_ID, DevCa.EC_KEY_ID]
    assert all(isinstance(k, SigningKey) for k in keystore.all)
    relative = dev_ca.key_references(relative_to=dev_ca.directory.parent)
    assert not relative[0].key_file.is_absolute()
