"""The floor: the XML and crypto work a land dossier needs, done with the libraries alone, on one core.

For each dossier: parse (a hardened lxml parser: no entities, no network, no DTD), validate against
``hoso.xsd``, translate with the land mapping's XSLT, validate against ``dangkydatdai.xsd``, sign
(signxml, enveloped, exclusive C14N, RSA-SHA256 with a key loaded once, the certificate in
``KeyInfo``) and serialise. Nothing of the hub is used (only its schemas and mapping files), so the
floor is the same yardstick whichever checkout of the hub ``bench/e2e.py --hub-path`` runs: what
any implementation doing this job in Python would pay, the cost the hub's CPU per message is
divided by. Time is this thread's CPU time (``time.thread_time``), so other processes on a shared
machine disturb it less than a wall clock.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


@dataclass(frozen=True)
class Floor:
    """Milliseconds of CPU per dossier: the median pass, and each stage's share of it."""

    ms_per_message: float
    passes_ms: tuple[float, ...]
    stages_ms: dict[str, float]
    signed: bool


class FloorWork:
    """Everything compiled or loaded once, as a long-running process would."""

    def __init__(self, root: Path, *, key_file: Path | None, certificate_file: Path | None) -> None:
        self.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
        )
        self.input_schema = etree.XMLSchema(etree.parse(str(root / "schemas/province/hoso.xsd")))
        self.output_schema = etree.XMLSchema(etree.parse(str(root / "schemas/land/dangkydatdai.xsd")))
        self.xslt = etree.XSLT(etree.parse(str(root / "mappings/land/hoso-to-tiepnhanhoso.xsl")))
        self.signer: Any = None
        if key_file is not None and certificate_file is not None:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key
            from signxml import SignatureConstructionMethod, XMLSigner

            self.key = load_pem_private_key(key_file.read_bytes(), password=None)
            self.chain = [certificate_file.read_text()]
            self.signer = XMLSigner(
                method=SignatureConstructionMethod.enveloped,
                signature_algorithm="rsa-sha256",
                digest_algorithm="sha256",
                c14n_algorithm=EXC_C14N,
            )

    def one(self, data: bytes, clock: dict[str, float] | None = None) -> bytes:
        tick = time.thread_time
        t0 = tick()
        tree = etree.fromstring(data, self.parser)
        t1 = tick()
        if not self.input_schema.validate(tree):
            raise ValueError(f"sample dossier invalid: {self.input_schema.error_log.last_error}")
        t2 = tick()
        out = self.xslt(tree).getroot()
        t3 = tick()
        if not self.output_schema.validate(out):
            raise ValueError(f"translation invalid: {self.output_schema.error_log.last_error}")
        t4 = tick()
        if self.signer is not None:
            out = self.signer.sign(out, key=self.key, cert=self.chain, always_add_key_value=False)
        t5 = tick()
        result: bytes = etree.tostring(out, xml_declaration=True, encoding="UTF-8")
        t6 = tick()
        if clock is not None:
            for name, a, b in (
                ("parse", t0, t1),
                ("validate input", t1, t2),
                ("translate", t2, t3),
                ("validate output", t3, t4),
                ("sign", t4, t5),
                ("serialise", t5, t6),
            ):
                clock[name] = clock.get(name, 0.0) + (b - a)
        return result


def measure_floor(work: FloorWork, documents: Sequence[bytes], *, passes: int = 3) -> Floor:
    """CPU per dossier over ``documents``: one warm-up pass, then ``passes`` timed ones (median)."""
    for data in documents[: min(len(documents), 20)]:
        work.one(data)
    totals: list[float] = []
    stages: list[dict[str, float]] = []
    for _ in range(passes):
        clock: dict[str, float] = {}
        t0 = time.thread_time()
        for data in documents:
            work.one(data, clock)
        totals.append(1000 * (time.thread_time() - t0) / len(documents))
        stages.append({k: 1000 * v / len(documents) for k, v in clock.items()})
    middle = sorted(range(passes), key=lambda i: totals[i])[passes // 2]
    return Floor(
        ms_per_message=statistics.median(totals),
        passes_ms=tuple(round(t, 4) for t in totals),
        stages_ms={k: round(v, 4) for k, v in stages[middle].items()},
        signed=work.signer is not None,
    )
