#!/usr/bin/env python3
"""What signing costs: sign and verify throughput per core, as ratios to a bare lxml parse.

    python bench/sign.py [--repeats 5] [--json out.json]
    python3 dev.py bench sign [same options]

Documents, each timed as the hub handles it:

* ``land 3 KB`` and ``land 100 KB`` — TiepNhanHoSo requests as the land mapping makes them, with
  parcels repeated to reach the size (element-heavy: canonicalisation walks every node);
* ``edXML 100 KB`` — the shared ``edoc_new.edxml`` sample with its attachment cut to the size
  (text-heavy: mostly one base64 node), signed where QCVN 102:2016 puts the signature. Skipped
  when ``../shared`` is not beside the checkout.

Operations, in microseconds per document (best of ``--repeats`` passes after a warm-up):
``parse`` is ``lxml.etree.fromstring`` of the bytes, the yardstick; ``sign`` is
``XmlSigner.sign`` of a parsed tree plus serialisation, as ``Preparation.prepare`` does it;
``verify`` is signxml's ``XMLVerifier.verify`` of the signed bytes with the development CA as the
trust anchor (parse, certificate chain, digest, signature). "per core" is one thread, 1e6 / µs.

In context, ``Preparation.prepare`` of the land adapter (validate, translate, validate, serialise:
all the intake work for one target) over the sample dossiers, unsigned and signed.

Finally the one-time cost of loading a key (unencrypted PEM, encrypted PEM, PKCS#12), which is why
the keystore loads keys once at startup and never per message.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path

from _timing import once_ms
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import load_pem_x509_certificates
from lxml import etree
from rich.console import Console
from rich.table import Table
from signxml.verifier import SignatureConfiguration, XMLVerifier

from lienthong.config.models import KeyReference
from lienthong.trust.keys import DevCa, Keystore, create_dev_ca
from lienthong.trust.sign import Policy, XmlSigner
from lienthong.xml import EDXML_NS, parse_xml

ROOT = Path(__file__).resolve().parents[1]
SHARED_EDXML = ROOT.parent / "shared" / "testdata" / "edxml" / "edoc_new.edxml"
LAND_NS = "urn:lienthong:tnmt:dangkydatdai:1"
PROVINCE = "000.00.00.H49"
E = f"{{{EDXML_NS}}}"


# ---------------------------------------------------------------- documents


def land_request(size: int) -> bytes:
    """A TiepNhanHoSo request of about ``size`` bytes: one mapped sample, parcels repeated."""
    from lienthong.devtools.samples import sample_dossiers

    MAPPING = ROOT / "mappings" / "land" / "hoso-to-tiepnhanhoso.xsl"

    xslt = etree.XSLT(etree.parse(str(MAPPING)), access_control=etree.XSLTAccessControl.DENY_ALL)
    root = xslt(parse_xml(sample_dossiers(1, day=date(2026, 11, 21))[0].xml)).getroot()
    assert root is not None
    parcel = root.find(f"{{{LAND_NS}}}ThongTinThuaDat")
    assert parcel is not None
    number = 1
    while len(etree.tostring(root, encoding="UTF-8")) < size:
        number += 1
        extra = copy.deepcopy(parcel)
        extra.find(f"{{{LAND_NS}}}SoThuTuThua").text = str(number)  # type: ignore[union-attr]
        parcel.addnext(extra)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def edxml_document(size: int) -> bytes | None:
    if not SHARED_EDXML.is_file():
        return None
    root = parse_xml(SHARED_EDXML.read_bytes())
    attachment = root.find(f".//{E}ContentTransferEncoded")
    assert attachment is not None and attachment.text
    excess = len(etree.tostring(root, encoding="UTF-8")) - size
    attachment.text = attachment.text[: max(0, len(attachment.text) - excess)]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------- timing


def per_op_us(fn: Callable[[], object], repeats: int, target_s: float = 0.25) -> float:
    """Microseconds per call: the best of ``repeats`` passes, each sized to take about ``target_s``.

    The best pass, not the median: on a shared machine other work only ever adds time.
    """
    fn()
    t0 = time.perf_counter()
    fn()
    loops = max(1, int(target_s / max(time.perf_counter() - t0, 1e-7)))
    passes = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        passes.append((time.perf_counter_ns() - t0) / loops / 1000)
    return min(passes)


@dataclass(frozen=True)
class Row:
    document: str
    size_bytes: int
    signed_bytes: int
    operation: str
    us: float
    parse_us: float

    @property
    def per_core(self) -> float:
        return 1e6 / self.us

    @property
    def ratio(self) -> float:
        return self.us / self.parse_us


def measure(name: str, data: bytes, policy: Policy, keystore: Keystore, ca: DevCa, repeats: int) -> list[Row]:
    parse_us = per_op_us(lambda: etree.fromstring(data), repeats)
    tree = parse_xml(data)
    location = f"./{E}edXMLEnvelope/{E}edXMLHeader/" if policy == "edxml" else "./"
    expect = SignatureConfiguration(location=location)
    rows = [Row(name, len(data), len(data), "parse (lxml)", parse_us, parse_us)]
    for key_id, label in ((DevCa.RSA_KEY_ID, "RSA-SHA256"), (DevCa.EC_KEY_ID, "ECDSA P-256")):
        key = keystore.get(key_id)
        signer = XmlSigner(policy, key.algorithm, key)

        def sign(signer: XmlSigner = signer) -> bytes:
            return etree.tostring(signer.sign(tree), xml_declaration=True, encoding="UTF-8")

        signed = sign()
        XMLVerifier().verify(signed, ca_pem_file=str(ca.ca_certificate), expect_config=expect)
        sign_us = per_op_us(sign, repeats)

        def verify(signed: bytes = signed) -> object:
            return XMLVerifier().verify(signed, ca_pem_file=str(ca.ca_certificate), expect_config=expect)

        verify_us = per_op_us(verify, repeats)
        rows.append(Row(name, len(data), len(signed), f"sign {policy} {label}", sign_us, parse_us))
        rows.append(Row(name, len(data), len(signed), f"verify {label}", verify_us, parse_us))
    return rows


def prepare_in_context(keystore: Keystore, repeats: int) -> dict[str, float]:
    """Microseconds per ``Preparation.prepare`` of the land adapter, without and with each key."""

    from dataclasses import replace

    from lienthong.config.files import load_configuration
    from lienthong.devtools.samples import sample_dossiers
    from lienthong.pipeline.prepare import build_preparations

    adapter = build_preparations(load_configuration(ROOT / "config", environ={}))["land"]
    envelopes = [s.envelope(sender=PROVINCE) for s in sample_dossiers(50, day=date(2026, 11, 21))]
    trees = [parse_xml(e.payload) for e in envelopes]

    def prepare_all() -> None:
        for envelope, tree in zip(envelopes, trees, strict=True):
            adapter.prepare(envelope, tree)

    results = {"unsigned": per_op_us(prepare_all, repeats) / len(envelopes)}
    for key_id, label in ((DevCa.RSA_KEY_ID, "xmldsig RSA-SHA256"), (DevCa.EC_KEY_ID, "xmldsig ECDSA P-256")):
        key = keystore.get(key_id)
        adapter = replace(adapter, signer=XmlSigner("xmldsig", key.algorithm, key))
        results[label] = per_op_us(prepare_all, repeats) / len(envelopes)
    return results


def key_loading(ca: DevCa, workdir: Path) -> dict[str, float]:
    """Milliseconds to load one signing key (and its chain) the way the keystore does."""
    password = "bench-password"
    key = serialization.load_pem_private_key(ca.hub_key.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    encrypted = workdir / "hub-encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    leaf, root = load_pem_x509_certificates(ca.hub_certificate.read_bytes())
    p12 = workdir / "hub.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"hub", key, leaf, [root], serialization.BestAvailableEncryption(password.encode())
        )
    )
    env = {"BENCH_KEY_PASSWORD": password}
    cases = {
        "RSA 2048, PEM": KeyReference(id="a", key_file=ca.hub_key, certificate_file=ca.hub_certificate),
        "RSA 2048, encrypted PEM": KeyReference(
            id="b", key_file=encrypted, certificate_file=ca.hub_certificate, password_env="BENCH_KEY_PASSWORD"
        ),
        "RSA 2048, PKCS#12": KeyReference(id="c", key_file=p12, password_env="BENCH_KEY_PASSWORD"),
        "ECDSA P-256, PEM": KeyReference(
            id="d", key_file=ca.hub_ec_key, certificate_file=ca.hub_ec_certificate
        ),
    }
    return {
        label: once_ms(lambda ref=ref: Keystore.load([ref], workdir, environ=env))
        for label, ref in cases.items()
    }


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 110))

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ca = create_dev_ca(workdir / "keys", PROVINCE, {})
        keystore = Keystore.load(ca.key_references(), workdir)
        documents: list[tuple[str, bytes, Policy]] = [
            ("land 3 KB", land_request(3 * 1024), "xmldsig"),
            ("land 100 KB", land_request(100 * 1024), "xmldsig"),
        ]
        edxml = edxml_document(100 * 1024)
        if edxml is None:
            console.print(f"[yellow]{SHARED_EDXML} not found: the edXML document is skipped[/]")
        else:
            documents.append(("edXML 100 KB", edxml, "edxml"))
        rows = [
            row
            for name, data, policy in documents
            for row in measure(name, data, policy, keystore, ca, args.repeats)
        ]
        prepare = prepare_in_context(keystore, args.repeats)
        loading = key_loading(ca, workdir)

    table = Table(title="Signing and verifying, one core (µs per document; ratio to a bare lxml parse)")
    for column in ("document", "bytes (signed)", "operation", "µs", "per core /s", "× parse"):
        table.add_column(column, justify="left" if column in ("document", "operation") else "right")
    for row in rows:
        table.add_row(
            row.document,
            f"{row.size_bytes:,} ({row.signed_bytes:,})",
            row.operation,
            f"{row.us:,.0f}" if row.us >= 100 else f"{row.us:,.1f}",
            f"{row.per_core:,.0f}",
            f"{row.ratio:,.0f}×" if row.ratio >= 10 else f"{row.ratio:,.1f}×",
        )
    console.print(table)
    context = Table(title="Land adapter prepare() per dossier (µs): all intake work for one target")
    for column in ("signing", "µs", "per core /s", "× unsigned"):
        context.add_column(column, justify="left" if column == "signing" else "right")
    for label, us in prepare.items():
        context.add_row(label, f"{us:,.0f}", f"{1e6 / us:,.0f}", f"{us / prepare['unsigned']:.1f}×")
    console.print(context)
    keys = Table(title="Loading one key with its chain (ms, best of 5): once per start, never per message")
    keys.add_column("key file")
    keys.add_column("ms", justify="right")
    for label, ms in loading.items():
        keys.add_row(label, f"{ms:.1f}")
    console.print(keys)
    machine = (
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        + ", ".join(f"{name} {version(name)}" for name in ("lxml", "signxml", "cryptography"))
    )
    console.print(machine)
    if args.json:
        out = {
            "machine": machine,
            "rows": [asdict(r) | {"per_core": r.per_core, "ratio": r.ratio} for r in rows],
            "prepare_us": prepare,
            "key_loading_ms": loading,
        }
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
