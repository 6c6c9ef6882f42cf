"""The floor: the XML, JSON and crypto work a land dossier needs, done with the libraries alone, on one core.

A land-transfer dossier is routed, with the project's routes, to two targets, and the floor does
each target's necessary work once per dossier:

* **input** (once, whatever the targets): parse (a hardened lxml parser: no entities, no network, no
  DTD) and validate against ``hoso.xsd``;
* **land**: translate with the land mapping's XSLT, validate against ``dangkydatdai.xsd``, sign
  (signxml, enveloped, exclusive C14N, RSA-SHA256 with a key loaded once, the certificate in
  ``KeyInfo``) and serialise;
* **dvcqg** (the national portal): read the fields ``mappings/dvcqg/hoso-to-dongbohosomc.yaml``
  reads, with XPath compiled once, through the same code lists and date format; build the
  ``DongBoHoSoMC`` object with plain dicts; validate it with jsonschema_rs against
  ``dongbohosomc.schema.json`` (compiled once); and write it with the json module.

Nothing of the hub is used (only its schemas, mapping and code-list files), so the floor is the
same yardstick whichever checkout of the hub ``bench/e2e.py --hub-path`` runs: what any
implementation doing this job in Python would pay, the cost the hub's CPU per message is divided
by. ``bench/e2e.py`` checks, before it measures, that the portal JSON built here equals what the
hub stores for the same dossiers, so both do the same work. Time is this thread's CPU time
(``time.thread_time``), so other processes on a shared machine disturb it less than a wall clock.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from lxml import etree

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
HOSO_NS = {"h": "urn:lienthong:province:hoso:1"}
#: The targets whose work the floor knows; a dossier routed elsewhere has no floor here.
TARGETS = ("land", "dvcqg")
INPUT = "input"  # parse and validate: once per dossier, whichever targets it goes to


@dataclass(frozen=True)
class Floor:
    """Milliseconds of CPU per dossier: the median pass, each part's share of it (``input`` and one
    entry per target) and each stage's."""

    ms_per_message: float
    passes_ms: tuple[float, ...]
    by_target_ms: dict[str, float]
    stages_ms: dict[str, float]
    signed: bool
    targets: tuple[str, ...]


def _date(value: str) -> str:
    """The mapping's ``date: {from: yyyyMMddHHmmss, to: yyyyMMddHHmmss}``: read, then written."""
    return datetime.strptime(value, "%Y%m%d%H%M%S").strftime("%Y%m%d%H%M%S")


class PortalWork:
    """The portal's DongBoHoSoMC from a parsed dossier, as its YAML mapping says, by hand."""

    #: Field → (element read, required); the order is the mapping's, which is the JSON's.
    FIELDS: tuple[tuple[str, str, bool], ...] = (
        ("MaHoSo", "MaHoSo", True),
        ("MaTTHC", "MaTTHC", True),
        ("TenTTHC", "TenTTHC", True),
        ("MaLinhVuc", "MaLinhVuc", True),
        ("KenhThucHien", "KenhThucHien", True),
        ("ChuHoSo", "ChuHoSo", True),
        ("SoGiayToChuHoSo", "SoGiayToChuHoSo", True),
        ("LoaiDoiTuong", "LoaiDoiTuong", True),
        ("MaDoiTuong", "SoGiayToChuHoSo", True),
        ("ThongTinKhac", "DiaChiChuHoSo", True),
        ("Email", "Email", False),
        ("SoDienThoai", "SoDienThoai", False),
        ("TrichYeuHoSo", "TrichYeuHoSo", True),
        ("NgayTiepNhan", "NgayTiepNhan", True),
        ("NgayHenTra", "NgayHenTra", True),
        ("TrangThaiHoSo", "TrangThaiHoSo", True),
        ("DonViXuLy", "DonViXuLy", True),
    )
    DOCUMENT_FIELDS: tuple[tuple[str, str | None, bool], ...] = (
        ("TepDinhKemId", "MaTaiLieu", False),
        ("TenTepDinhKem", "TenTaiLieu", True),
        ("IsDeleted", None, True),
        ("MaThanhPhanHoSo", "MaTaiLieu", False),
        ("DuongDanTaiTepTin", "DuongDan", False),
    )

    def __init__(self, root: Path, *, hub_agency: str) -> None:
        self.hub_agency = hub_agency
        codelists = root / "mappings/dvcqg/codelists"
        self.ma_tthc: dict[str, str] = _codelist(codelists / "ma-tthc.yaml")
        self.trang_thai: dict[str, str] = _codelist(codelists / "trang-thai.yaml")
        # XPath returns a union mypy cannot index; these return lists of strings and elements.
        self.fields: list[tuple[str, Any, bool]] = [
            (name, etree.XPath(f"h:{element}/text()", namespaces=HOSO_NS), required)
            for name, element, required in self.FIELDS
        ]
        self.documents: Any = etree.XPath("h:TaiLieuNop", namespaces=HOSO_NS)
        self.document_fields: list[tuple[str, Any, bool]] = [
            (name, None if element is None else etree.XPath(f"h:{element}/text()", namespaces=HOSO_NS), req)
            for name, element, req in self.DOCUMENT_FIELDS
        ]
        schema_path = root / "schemas/dvcqg/dongbohosomc.schema.json"
        self.validator = jsonschema_rs.validator_for(
            json.loads(schema_path.read_text(encoding="utf-8")),
            base_uri=schema_path.resolve().as_uri(),
            validate_formats=True,
        )

    def value(self, tree: etree._Element) -> dict[str, Any]:
        """The JSON value, every field read and converted as the mapping does."""
        record: dict[str, Any] = {}
        for name, path, required in self.fields:
            found = path(tree)
            if not found:
                if required:
                    raise ValueError(f"sample dossier lacks {name}")
                continue
            text = str(found[0])
            if name == "MaTTHC":
                text = self.ma_tthc[text]
            elif name == "TrangThaiHoSo":
                text = self.trang_thai[text]
            elif name in ("NgayTiepNhan", "NgayHenTra"):
                text = _date(text)
            elif name == "ThongTinKhac":
                text = f"Địa chỉ: {text}"
            record[name] = text
        documents: list[dict[str, str]] = []
        for element in self.documents(tree):
            document: dict[str, str] = {}
            for name, doc_path, required in self.document_fields:
                if doc_path is None:
                    document[name] = "False"
                    continue
                found = doc_path(element)
                if found:
                    document[name] = str(found[0])
                elif required:
                    raise ValueError(f"sample dossier's document lacks {name}")
            documents.append(document)
        record["TaiLieuNop"] = documents
        return {
            "madonvi": self.hub_agency,
            "service": "DongBoHoSoMC",
            "isUpdating": "False",
            "data": [record],
        }

    def validate(self, value: dict[str, Any]) -> None:
        if not self.validator.is_valid(value):
            raise ValueError(f"portal JSON invalid: {next(iter(self.validator.iter_errors(value))).message}")

    @staticmethod
    def serialise(value: dict[str, Any]) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def one(self, tree: etree._Element) -> bytes:
        value = self.value(tree)
        self.validate(value)
        return self.serialise(value)


def _codelist(path: Path) -> dict[str, str]:
    return {str(k): str(v) for k, v in yaml.safe_load(path.read_text(encoding="utf-8")).items()}


class FloorWork:
    """Everything compiled or loaded once, as a long-running process would; ``targets`` are those the
    dossiers are routed to (each of ``TARGETS``)."""

    def __init__(
        self,
        root: Path,
        *,
        key_file: Path | None,
        certificate_file: Path | None,
        targets: Collection[str] = TARGETS,
        hub_agency: str = "000.00.00.H49",
    ) -> None:
        if unknown := set(targets) - set(TARGETS):
            raise ValueError(f"no floor for target(s) {sorted(unknown)}")
        self.targets = tuple(t for t in TARGETS if t in targets)
        self.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
        )
        self.input_schema = etree.XMLSchema(etree.parse(str(root / "schemas/province/hoso.xsd")))
        self.output_schema = etree.XMLSchema(etree.parse(str(root / "schemas/land/dangkydatdai.xsd")))
        self.xslt = etree.XSLT(etree.parse(str(root / "mappings/land/hoso-to-tiepnhanhoso.xsl")))
        self.portal = PortalWork(root, hub_agency=hub_agency)
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

    def land(self, tree: etree._Element, clock: dict[str, float] | None = None) -> bytes:
        tick = time.thread_time
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
            _add(clock, ("land: translate", t2, t3), ("land: validate", t3, t4))
            _add(clock, ("land: sign", t4, t5), ("land: serialise", t5, t6))
        return result

    def dvcqg(self, tree: etree._Element, clock: dict[str, float] | None = None) -> bytes:
        tick = time.thread_time
        t0 = tick()
        value = self.portal.value(tree)
        t1 = tick()
        self.portal.validate(value)
        t2 = tick()
        result = self.portal.serialise(value)
        t3 = tick()
        if clock is not None:
            _add(clock, ("dvcqg: map", t0, t1), ("dvcqg: validate", t1, t2), ("dvcqg: serialise", t2, t3))
        return result

    def one(self, data: bytes, clock: dict[str, float] | None = None) -> dict[str, bytes]:
        """Every target's bytes for one dossier (``clock`` gains each stage's CPU seconds)."""
        tick = time.thread_time
        t0 = tick()
        tree = etree.fromstring(data, self.parser)
        t1 = tick()
        if not self.input_schema.validate(tree):
            raise ValueError(f"sample dossier invalid: {self.input_schema.error_log.last_error}")
        t2 = tick()
        if clock is not None:
            _add(clock, ("input: parse", t0, t1), ("input: validate", t1, t2))
        out: dict[str, bytes] = {}
        if "land" in self.targets:
            out["land"] = self.land(tree, clock)
        if "dvcqg" in self.targets:
            out["dvcqg"] = self.dvcqg(tree, clock)
        return out


def _add(clock: dict[str, float], *spans: tuple[str, float, float]) -> None:
    for name, a, b in spans:
        clock[name] = clock.get(name, 0.0) + (b - a)


def measure_paced_floor(
    work: FloorWork, documents: Sequence[bytes], rate: float, seconds: float = 3.0
) -> float:
    """CPU per dossier (ms, mean) for the same work done once every 1/``rate`` seconds, as the paced
    batch's dossiers arrive, for about ``seconds`` (at least 20 dossiers).

    On these machines identical work costs two to three times the CPU when it comes a few times a
    second as when it comes back to back (caches and the virtual CPU go cold between calls): the
    hub's CPU per dossier in a paced batch is compared with the floor at the same pace, not with a
    floor measured back to back (docs/benchmarks.md)."""
    count = max(20, min(len(documents), int(rate * seconds)))
    cpu = 0.0
    due = time.perf_counter()
    for data in (documents[i % len(documents)] for i in range(count)):
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        t0 = time.thread_time()
        work.one(data)
        cpu += time.thread_time() - t0
        due += 1 / rate
    return 1000 * cpu / count


def measure_floor(work: FloorWork, documents: Sequence[bytes], *, passes: int = 3) -> Floor:
    """CPU per dossier over ``documents``: one warm-up pass, then ``passes`` timed ones (median).

    The total is the whole pass's thread CPU; the parts (``input`` and each target) are that of the
    median pass's stages, which add up to it but for the few clock reads between them."""
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
    by_target: dict[str, float] = {}
    for name, ms in stages[middle].items():
        part = name.split(":", 1)[0]
        by_target[part] = by_target.get(part, 0.0) + ms
    return Floor(
        ms_per_message=statistics.median(totals),
        passes_ms=tuple(round(t, 4) for t in totals),
        by_target_ms={k: round(v, 4) for k, v in by_target.items()},
        stages_ms={k: round(v, 4) for k, v in stages[middle].items()},
        signed=work.signer is not None,
        targets=work.targets,
    )
