"""A time-stamping authority on loopback (RFC 3161 over HTTP), for the tests and the demo.

Why a simulator: the hub's timestamp client must be exercised over the real HTTP path against a server
whose tokens an independent verifier (rfc3161-client) accepts — without a network and without a
commercial TSA. The simulator answers exactly as a TSA does: a DER TimeStampResp whose token is CMS
SignedData over a TSTInfo (eContentType id-ct-TSTInfo), signed attributes content-type, message-digest
and signing-certificate-v2 (RFC 5816), the nonce echoed, the certificates included when asked.

Its keys are made in memory (:meth:`DevTsa.create`): a root and a TSA certificate with the critical
id-kp-timeStamping extended key usage RFC 3161 §2.3 requires. Development only, never production.
ASN.1 is written with asn1crypto; signing is cryptography's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["DevTsa"]

_QUERY_TYPE = "application/timestamp-query"
_REPLY_TYPE = "application/timestamp-reply"
#: The simulator's policy: an OID under the "example" arc, never a real TSA's.
DEV_POLICY = "1.3.6.1.4.1.99999.3161.1"
_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lien thong dev (not for production)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class DevTsa:
    """A development TSA: its root, its signing key and certificate, and a clock tests can set."""

    root: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    def __post_init__(self) -> None:
        self._serials = itertools.count(1)
        #: Every TimeStampResp answered, in order (tests look at what was stamped).
        self.issued: list[bytes] = []

    @classmethod
    def create(cls, common_name: str = "Lien thong dev TSA", *, days: int = 3650) -> DevTsa:
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name(f"{common_name} root")
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(root_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
            )
            .sign(root_key, hashes.SHA256())
        )
        return cls(root=root, key=key, certificate=certificate)

    @classmethod
    def load_or_create(cls, directory: Path, common_name: str = "Lien thong dev TSA") -> DevTsa:
        """The development TSA kept in ``directory`` (``tsa-root.pem``, ``tsa.pem``, ``tsa.key``), made on
        first use: tokens it issued stay verifiable across restarts. Unencrypted: development only."""
        files = [directory / name for name in ("tsa-root.pem", "tsa.pem", "tsa.key")]
        if all(f.is_file() for f in files):
            root = x509.load_pem_x509_certificate(files[0].read_bytes())
            certificate = x509.load_pem_x509_certificate(files[1].read_bytes())
            key = serialization.load_pem_private_key(files[2].read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{files[2]} is not the EC key of a development TSA")
            return cls(root=root, key=key, certificate=certificate)
        tsa = cls.create(common_name)
        directory.mkdir(parents=True, exist_ok=True)
        files[0].write_bytes(tsa.root.public_bytes(serialization.Encoding.PEM))
        files[1].write_bytes(tsa.certificate.public_bytes(serialization.Encoding.PEM))
        files[2].touch(mode=0o600)
        files[2].write_bytes(
            tsa.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (directory / "tsa-chain.pem").write_bytes(tsa.chain_pem())
        return tsa

    def chain_pem(self) -> bytes:
        """The TSA certificate then its root, PEM: what a verifier is configured with."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.certificate, self.root))

    # ------------------------------------------------------------ the protocol

    def respond(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp answering one DER TimeStampReq (a rejection when it cannot serve it)."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            algorithm = request["message_imprint"]["hash_algorithm"]["algorithm"].native
            digest = request["message_imprint"]["hashed_message"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            _ = request["version"].native  # parse the whole request now, not half of it
        except (ValueError, TypeError, KeyError):
            return self._rejection("badDataFormat")
        if algorithm not in _DIGESTS or len(digest) != _DIGESTS[algorithm]().digest_size:
            return self._rejection("badAlg")
        answer = self._granted(algorithm, digest, nonce, cert_req)
        self.issued.append(answer)
        return answer

    def _rejection(self, failure: str) -> bytes:
        status = tsp.PKIStatusInfo({"status": "rejection", "fail_info": tsp.PKIFailureInfo({failure})})
        return bytes(tsp.TimeStampResp({"status": status}).dump())

    def _granted(self, algorithm: str, digest: bytes, nonce: int | None, cert_req: bool) -> bytes:
        cert_der = self.certificate.public_bytes(serialization.Encoding.DER)
        asn1_cert = asn1_x509.Certificate.load(cert_der)
        info = tsp.TSTInfo(
            {
                "version": "v1",
                "policy": DEV_POLICY,
                "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
                "serial_number": next(self._serials),
                "gen_time": self.clock().astimezone(dt.UTC),
                "accuracy": {"seconds": 1},
                "nonce": nonce,
            }
        )
        content = info.dump()
        attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
                cms.CMSAttribute(
                    {
                        "type": "signing_certificate_v2",
                        "values": [
                            {
                                "certs": [
                                    {
                                        "hash_algorithm": {"algorithm": "sha256"},
                                        "cert_hash": hashlib.sha256(cert_der).digest(),
                                    }
                                ]
                            }
                        ],
                    }
                ),
            ]
        )
        signature = self.key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    "issuer_and_serial_number",
                    cms.IssuerAndSerialNumber(
                        {"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number}
                    ),
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed_data: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(content)},
            "signer_infos": [signer],
        }
        if cert_req:
            signed_data["certificates"] = [asn1_cert]
        token = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
        return bytes(tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump())

    # ------------------------------------------------------------ over HTTP

    def app(self) -> Starlette:
        """An ASGI app answering ``POST /`` (RFC 3161 §3.4); serve it with devtools.background."""

        async def stamp(request: Request) -> Response:
            if request.headers.get("content-type", "").split(";")[0].strip() != _QUERY_TYPE:
                return Response(f"expected {_QUERY_TYPE}", status_code=415, media_type="text/plain")
            return Response(self.respond(await request.body()), media_type=_REPLY_TYPE)

        return Starlette(routes=[Route("/", stamp, methods=["POST"])])
