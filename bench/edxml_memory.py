#!/usr/bin/env python3
"""Memory of the hub process while one large edXML document passes through (issue 10, item 6).

    python bench/edxml_memory.py [--attachments-mb 50] [--hub-path DIR] [--json out.json]
    python3 dev.py bench edxml_memory [same options]

An edXML document with ``--attachments-mb`` MB of attachments (random bytes, so base64 cannot be
compressed away; three attachments of unequal size) is built with lxml, as a document system hands it
to the hub. ``hub serve`` runs in a process of its own (so its resident set is its own) on a fresh
SQLite file, with the project's configuration plus a stand-in for the national axis: an adapter
``axis`` (built-in ``rest`` plugin: the stored bytes POSTed as they are, ``Content-Type:
application/xml``, a JSON answer, as ``sendEdoc`` does) and a route sending every ``document`` to it.
The stand-in receiver runs in this process, reads each body as it streams in and keeps only its
SHA-256 and size.

Phases, each with the hub's peak resident set (VmHWM, reset through /proc/<pid>/clear_refs) and its
resident set before (VmRSS):

* **warm-up**: a 100 KB document, submitted and delivered (code paths loaded, threads started);
* **intake**: the large document submitted as a raw XML body (``Content-Type: application/xml``,
  ``X-Hub-*`` headers) until the 202 (read, parse, route, prepare, store);
* **delivery**: from the 202 until the delivery is recorded (claim, send, record the attempt);
* **whole**: intake and delivery together, measured from the same idle baseline: the figure issue 10
  bounds ("peak memory while one 50 MB document passes through under 4 × its size above idle").

The receiver's SHA-256 is compared with the document's: the benchmark fails if the bytes changed.
``--hub-path DIR`` runs the hub from another checkout (``git archive <commit> hub adapters | tar -x -C
DIR``), to measure code as it was. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from lxml import etree
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
PROVINCE = "000.00.00.H49"
AXIS = "000.00.00.G22"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
MiB = 1024 * 1024


# ---------------------------------------------------------------- the document


def _el(parent: etree._Element, local: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{EDXML_NS}}}{local}")
    child.text = text
    return child


def edxml_document(attachment_bytes: int, *, seed: int = 10) -> tuple[bytes, int]:
    """An edXML document (QCVN 102:2016, standard form) from the province to the axis, with
    attachments of ``attachment_bytes`` in all; returns its bytes and the attachments' decoded size."""
    import random

    rng = random.Random(seed)
    nsmap = {"edXML": EDXML_NS}
    root = etree.Element(f"{{{EDXML_NS}}}edXML", nsmap=nsmap)
    envelope = _el(root, "edXMLEnvelope")
    header = _el(_el(envelope, "edXMLHeader"), "MessageHeader")
    sender = _el(header, "From")
    _el(sender, "OrganId", PROVINCE)
    _el(sender, "OrganName", "UBND tỉnh Quảng Ninh")
    to = _el(header, "To")
    _el(to, "OrganId", AXIS)
    _el(to, "OrganName", "Văn phòng Chính phủ")
    _el(header, "DocumentId", f"{PROVINCE},2026/11/30,1234/UBND-VP")
    code = _el(header, "Code")
    _el(code, "CodeNumber", "1234")
    _el(code, "CodeNotation", "UBND-VP")
    _el(header, "Subject", "Báo cáo tình hình triển khai trục liên thông văn bản (kèm phụ lục)")
    manifest = _el(_el(envelope, "edXMLBody"), "edXMLManifest")
    manifest.set("version", "1.0")
    sizes = [attachment_bytes // 2, attachment_bytes // 3]
    sizes.append(attachment_bytes - sum(sizes))
    encoded = etree.SubElement(root, "AttachmentEncoded")
    for index, size in enumerate(sizes):
        cid = f"cid:{index + 1}"
        reference = _el(manifest, "Reference")
        _el(reference, "ContentId", cid)
        _el(reference, "ContentType", "application/pdf")
        _el(reference, "AttachmentName", f"phu-luc-{index + 1}.pdf")
        attachment = etree.SubElement(encoded, "Attachment")
        etree.SubElement(attachment, "ContentId").text = cid
        etree.SubElement(attachment, "AttachmentName").text = f"phu-luc-{index + 1}.pdf"
        etree.SubElement(attachment, "ContentType").text = "application/pdf"
        data = b"%PDF-1.7\n" + rng.randbytes(size - 9)
        _el(attachment, "ContentTransferEncoded", base64.b64encode(data).decode("ascii"))
        del data
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), sum(sizes)


# ---------------------------------------------------------------- the axis stand-in


class Receiver:
    """``sendEdoc`` as far as the hub can tell: reads the body as it streams, answers the axis's JSON."""

    def __init__(self) -> None:
        self.received: list[tuple[str, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                digest = hashlib.sha256()
                left = length
                while left:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    left -= len(chunk)
                receiver.received.append((digest.hexdigest(), length))
                answer = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocId": str(uuid.uuid4())}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/axis/sendEdoc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- the hub process

AXIS_ADAPTER = """\
name: axis
plugin: rest
agency: "{agency}"
description: "Stand-in for the national document axis (sendEdoc), for bench/edxml_memory.py"
endpoint: "{endpoint}"
timeout: 120s
connect_timeout: 5s
retry: {{max_attempts: 3, initial_backoff: 1s, max_backoff: 2s, jitter: 0s}}
"""
AXIS_ROUTE = """\
  - name: documents-to-axis
    match: {kind: document}
    targets: [axis]
"""


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


class HubProcess:
    """``hub serve`` in a child process, on a copy of the project's configuration plus the stand-in."""

    def __init__(self, workdir: Path, endpoint: str, *, hub_path: Path | None, sign: bool) -> None:
        self.port = _free_port()
        self.key = secrets.token_urlsafe(24)
        self.project = workdir / f"project-{uuid.uuid4().hex[:8]}"
        shutil.copytree(ROOT / "config", self.project / "config")
        for shared in ("schemas", "mappings"):
            (self.project / shared).symlink_to(ROOT / shared, target_is_directory=True)
        config = self.project / "config"
        adapter = AXIS_ADAPTER.format(agency=AXIS, endpoint=endpoint)
        if sign:  # as the axis adapter will: policy edxml, RSA-SHA256, the hub's development key
            adapter += "signing: {policy: edxml, algorithm: rsa-sha256}\n"
        (config / "adapters" / "axis.yaml").write_text(adapter)
        routes = (config / "routes.yaml").read_text(encoding="utf-8")
        (config / "routes.yaml").write_text(routes.replace("routes:\n", "routes:\n" + AXIS_ROUTE, 1))
        hub_yaml = config / "hub.yaml"
        text = hub_yaml.read_text(encoding="utf-8").replace("  count: 4\n", "  count: 1\n")
        if sign:
            keys = self.project / "keys"
            hub_cli = [sys.executable, "-c", "from lienthong.cli import main; main()"]
            subprocess.run(
                [*hub_cli, "keys", "dev-ca", "-c", str(config), "-o", str(keys)],
                check=True,
                capture_output=True,
                cwd=self.project,
            )
            text += f"keys:\n  signing:\n    - {{id: hub-dev, key_file: {keys / 'hub.key'}, "
            text += f"certificate_file: {keys / 'hub.pem'}}}\n"
        hub_yaml.write_text(text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env |= {"HUB_DATABASE_URL": f"sqlite:///{self.project / 'hub.db'}", "HUB_MOTCUA_API_KEY": self.key}
        if hub_path is not None:
            shim = self.project / "pythonpath"
            shim.mkdir()
            (shim / "lienthong").symlink_to(hub_path / "hub", target_is_directory=True)
            (shim / "lienthong_adapters").symlink_to(hub_path / "adapters", target_is_directory=True)
            env["PYTHONPATH"] = str(shim)
        command = [sys.executable, "-c", "from lienthong.cli import main; main()", "serve"]
        command += ["--config", str(config), "--port", str(self.port)]
        self.log = (self.project / "hub.log").open("w")
        self.proc = subprocess.Popen(
            command, cwd=self.project, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=600, headers={"X-API-Key": self.key})
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.get("/healthz", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the hub did not start: see {self.project / 'hub.log'}") from None
                time.sleep(0.2)

    def rss_mib(self) -> float:
        return _status_kib(self.proc.pid, "VmRSS") / 1024

    def peak_mib(self) -> float:
        return _status_kib(self.proc.pid, "VmHWM") / 1024

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def submit(self, document: bytes) -> str:
        """Submit as a document system does (raw XML); the hub's message id."""
        headers = {
            "Content-Type": "application/xml",
            "X-Hub-Sender-Message-Id": f"qlvb-{uuid.uuid4()}",
            "X-Hub-Kind": "document",
            "X-Hub-Recipient": AXIS,
            "X-Hub-Document-Type": "edxml",
        }
        response = self.client.post("/api/v1/messages", content=document, headers=headers)
        if response.status_code != 202:
            log = (self.project / "hub.log").read_text(errors="replace")[-3000:]
            status, text = response.status_code, response.text[:500]
            raise RuntimeError(f"the hub refused the document: {status} {text}\n{log}")
        message_id: str = response.json()["message_id"]
        return message_id

    def delivered(self) -> int:
        """Deliveries to the stand-in recorded as delivered, from ``/healthz``: its counts cost the hub
        nothing, where the status API (``GET /api/v1/messages/{id}``) loads the message with its
        payload and every attempt's request bytes, ~200 MB per call for this document (see
        docs/benchmarks.md), and would be measured instead of the delivery."""
        counts = self.client.get("/healthz").json()["deliveries"].get("axis", {})
        dead = counts.get("dead", 0)
        if dead:
            raise RuntimeError(f"{dead} delivery to the stand-in is dead: see {self.project / 'hub.log'}")
        return int(counts.get("delivered", 0))

    def wait_delivered(self, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.delivered() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not delivered after {timeout}s: see {self.project / 'hub.log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_hub(workdir: Path, endpoint: str, hub_path: Path | None, sign: bool) -> Iterator[HubProcess]:
    hub = HubProcess(workdir, endpoint, hub_path=hub_path, sign=sign)
    try:
        yield hub
    finally:
        hub.stop()


# ---------------------------------------------------------------- measuring


@dataclass
class Result:
    document_bytes: int
    attachment_bytes: int
    idle_mib: float
    intake_peak_mib: float
    delivery_before_mib: float
    delivery_peak_mib: float
    whole_peak_mib: float
    intake_seconds: float
    delivery_seconds: float
    received_intact: bool

    @property
    def whole_above_idle_mib(self) -> float:
        return self.whole_peak_mib - self.idle_mib

    @property
    def ratio_to_document(self) -> float:
        return self.whole_above_idle_mib * MiB / self.document_bytes

    @property
    def ratio_to_attachments(self) -> float:
        return self.whole_above_idle_mib * MiB / self.attachment_bytes


def measure(workdir: Path, document: bytes, attachments: int, hub_path: Path | None, *, sign: bool) -> Result:
    receiver = Receiver()
    try:
        with running_hub(workdir, receiver.url, hub_path, sign) as hub:
            warm, _ = edxml_document(100_000, seed=1)
            hub.submit(warm)
            hub.wait_delivered(1)
            time.sleep(1.0)  # let the allocator settle
            idle = hub.rss_mib()
            hub.reset_peak()
            started = time.monotonic()
            hub.submit(document)
            accepted = time.monotonic()
            intake_peak = hub.peak_mib()
            # The delivery phase's own peak from here; the whole pass's is the larger of the two.
            before_delivery = hub.rss_mib()
            hub.reset_peak()
            hub.wait_delivered(2)
            delivered = time.monotonic()
            delivery_peak = hub.peak_mib()
            digest, size = receiver.received[-1]
            # Signed, the document sent is the hub's (its signature added); unsigned, the one received.
            intact = sign or (digest == hashlib.sha256(document).hexdigest() and size == len(document))
            return Result(
                document_bytes=len(document),
                attachment_bytes=attachments,
                idle_mib=idle,
                intake_peak_mib=intake_peak,
                delivery_before_mib=before_delivery,
                delivery_peak_mib=delivery_peak,
                whole_peak_mib=max(intake_peak, delivery_peak),
                intake_seconds=accepted - started,
                delivery_seconds=delivered - accepted,
                received_intact=intact,
            )
    finally:
        receiver.stop()


def table(result: Result, title: str) -> Table:
    out = Table(title=title)
    for column in ("phase", "peak MiB", "above idle MiB", "× document", "× attachments", "seconds"):
        out.add_column(column, justify="left" if column == "phase" else "right")
    doc, att = result.document_bytes, result.attachment_bytes
    for name, peak, seconds in (
        ("intake (to the 202)", result.intake_peak_mib, result.intake_seconds),
        ("delivery (to the record)", result.delivery_peak_mib, result.delivery_seconds),
        ("whole pass", result.whole_peak_mib, result.intake_seconds + result.delivery_seconds),
    ):
        above = peak - result.idle_mib
        out.add_row(
            name,
            f"{peak:,.0f}",
            f"{above:,.0f}",
            f"{above * MiB / doc:.2f}",
            f"{above * MiB / att:.2f}",
            f"{seconds:.1f}",
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attachments-mb", type=float, default=50, help="attachments in MB (default 50)")
    parser.add_argument("--hub-path", type=Path, help="run the hub from this checkout instead")
    parser.add_argument(
        "--sign", action="store_true", help="the stand-in signs as the axis adapter will (policy edxml)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        parser.error("this benchmark reads /proc: Linux only")
    console = Console(width=max(Console().width, 110))
    document, attachments = edxml_document(int(args.attachments_mb * 1_000_000))
    console.print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, hub from {args.hub_path or ROOT}; "
        f"edXML document {len(document) / 1e6:.1f} MB with {attachments / 1e6:.1f} MB of attachments"
    )
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-edxml-", dir=ROOT / "var") as tmp:
        result = measure(Path(tmp), document, attachments, args.hub_path, sign=args.sign)
    title = f"Hub process memory, idle {result.idle_mib:,.0f} MiB (RSS of the hub alone)"
    console.print(table(result, title))
    console.print(
        f"received by the axis stand-in byte for byte: {'yes' if result.received_intact else 'NO'}; "
        f"whole pass {result.whole_above_idle_mib:,.0f} MiB above idle = "
        f"{result.ratio_to_document:.2f} × the document, {result.ratio_to_attachments:.2f} × its attachments"
    )
    if args.json:
        data = asdict(result) | {
            "whole_above_idle_mib": result.whole_above_idle_mib,
            "ratio_to_document": result.ratio_to_document,
            "ratio_to_attachments": result.ratio_to_attachments,
        }
        args.json.write_text(json.dumps(data, indent=2))
    return 0 if result.received_intact else 1


if __name__ == "__main__":
    sys.exit(main())
