"""Every row of ../shared/testdata/rfc3161/MANIFEST.md through the hub's timestamp verifier (by path).

The valid rows must verify with the genTime the manifest gives; the invalid ones (a changed message, a
twiddled signature, a spoofed certificate injected into the token) must be refused with TimestampError.
The expired-certificate row is the reason the hub keeps the token bytes: it verifies as of its own time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from rfc3161_client import decode_timestamp_response

from lienthong.audit.timestamps import verify_timestamp
from lienthong.errors import TimestampError


def _chain(folder: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates((folder / "ts_chain.pem").read_bytes())


@pytest.fixture
def vectors(shared_dir: Path) -> Path:
    return shared_dir / "testdata" / "rfc3161"


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_manifest_lists_the_rows_tested_here(vectors: Path) -> None:
    manifest = (vectors / "MANIFEST.md").read_text()
    starts = ("| sigstage", "| sigstore", "| test_tsa", "| same")
    rows = [line for line in manifest.splitlines() if line.startswith(starts)]
    assert len(rows) == 8  # one test below per row


def test_sigstage_sha256_hello_is_valid(vectors: Path) -> None:
    chain = _chain(vectors / "sigstage")
    token = (vectors / "sigstage" / "response-sha256.tsr").read_bytes()
    stamped = verify_timestamp(token, data=b"hello", roots=[chain[-1]], tsa_certificate=chain[0])
    assert stamped.gen_time == _utc("2025-05-09T11:58:55Z")
    assert stamped.tsa == chain[0].subject.rfc4514_string()


def test_sigstage_sha256_with_another_message_is_invalid(vectors: Path) -> None:
    chain = _chain(vectors / "sigstage")
    token = (vectors / "sigstage" / "response-sha256.tsr").read_bytes()
    with pytest.raises(TimestampError, match="does not verify"):
        verify_timestamp(token, data=b"hellO", roots=[chain[-1]], tsa_certificate=chain[0])


def test_sigstage_twiddled_signature_is_invalid(vectors: Path) -> None:
    chain = _chain(vectors / "sigstage")
    token = (vectors / "sigstage" / "response-invalid-signature.tsr").read_bytes()
    with pytest.raises(TimestampError) as exc:
        verify_timestamp(token, data=b"hello", roots=[chain[-1]], tsa_certificate=chain[0])
    assert exc.value.reason == "timestamp-invalid"


def test_sigstage_token_without_embedded_certificate_verifies_with_the_one_given(vectors: Path) -> None:
    chain = _chain(vectors / "sigstage")
    token = (vectors / "sigstage" / "response-no-embedded-cert.tsr").read_bytes()
    assert decode_timestamp_response(token).signed_data.certificates == set()
    stamped = verify_timestamp(token, data=b"hello", roots=[chain[-1]], tsa_certificate=chain[0])
    assert stamped.gen_time == _utc("2025-06-18T08:13:02Z")
    with pytest.raises(TimestampError):  # and without it, nothing says who signed
        verify_timestamp(token, data=b"hello", roots=[chain[-1]])


def test_expired_tsa_certificate_verifies_as_of_the_token_time(vectors: Path) -> None:
    folder = vectors / "sigstore.mock"
    chain = _chain(folder)
    assert chain[0].not_valid_after_utc < dt.datetime.now(dt.UTC)  # expired now
    token = (folder / "response-expired.tsr").read_bytes()
    payload = (folder / "payload").read_bytes()
    stamped = verify_timestamp(token, data=payload, roots=[chain[-1]], tsa_certificate=chain[0])
    assert stamped.gen_time.year == 2023 and stamped.gen_time.month == 2 and stamped.gen_time.day == 1
    assert stamped.gen_time < chain[0].not_valid_after_utc


def _test_tsa(vectors: Path) -> tuple[bytes, list[x509.Certificate], bytes]:
    folder = vectors / "test_tsa"
    return (folder / "response.tsr").read_bytes(), _chain(folder), hashlib.sha512(b"hello").digest()


def test_test_tsa_sha512_digest_is_valid_with_its_nonce(vectors: Path) -> None:
    token, chain, digest = _test_tsa(vectors)
    request = (vectors / "test_tsa" / "request.der").read_bytes()
    nonce = tsp.TimeStampReq.load(request)["nonce"].native
    stamped = verify_timestamp(
        token,
        digest=digest,
        roots=[chain[-1]],
        intermediates=[chain[1]],
        common_name=chain[0].subject.rfc4514_string(),
        nonce=nonce,
    )
    assert stamped.gen_time == _utc("2024-10-08T15:40:32Z")
    with pytest.raises(TimestampError, match="Nonce"):
        verify_timestamp(token, digest=digest, roots=[chain[-1]], intermediates=[chain[1]], nonce=nonce + 1)


def test_injected_spoofed_certificate_is_not_taken_for_the_tsa(vectors: Path) -> None:
    """GHSA-3xxc-pwj6-jgrj: a 'CN=Spoofed TSA' certificate in the token's bag must not pass for the signer."""
    _, chain, digest = _test_tsa(vectors)
    token = (vectors / "test_tsa" / "response-injected-certs.tsr").read_bytes()
    with pytest.raises(TimestampError):
        verify_timestamp(
            token, digest=digest, roots=[chain[-1]], intermediates=[chain[1]], common_name="CN=Spoofed TSA"
        )


def test_injected_certs_token_verifies_under_the_real_tsa_name(vectors: Path) -> None:
    _, chain, digest = _test_tsa(vectors)
    token = (vectors / "test_tsa" / "response-injected-certs.tsr").read_bytes()
    stamped = verify_timestamp(
        token,
        digest=digest,
        roots=[chain[-1]],
        intermediates=[chain[1]],
        common_name=chain[0].subject.rfc4514_string(),
    )
    assert stamped.tsa == chain[0].subject.rfc4514_string()


def test_a_changed_byte_in_what_the_tsa_signed_is_refused(vectors: Path) -> None:
    """Every byte of the stamped imprint and of the time: the parts an attacker would want to change."""
    chain = _chain(vectors / "sigstage")
    token = (vectors / "sigstage" / "response-sha256.tsr").read_bytes()
    imprint = token.index(hashlib.sha256(b"hello").digest())
    gen_time = token.index(b"20250509115855")
    offsets = [*range(imprint, imprint + 32), *range(gen_time, gen_time + 14)]
    for offset in offsets:
        changed = bytearray(token)
        changed[offset] ^= 0x01
        with pytest.raises(TimestampError):
            verify_timestamp(bytes(changed), data=b"hello", roots=[chain[-1]], tsa_certificate=chain[0])
