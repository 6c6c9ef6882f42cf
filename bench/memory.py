#!/usr/bin/env python3
"""Memory of the hub process under large requests: one 9 MB request, then 8 at once, over SOAP and REST.

    python bench/memory.py [--size 9000000] [--parallel 8] [--budget 36MB] [--json out.json]
    python3 dev.py bench memory [same options]

Each protocol gets a fresh hub: ``hub serve`` in a process of its own (so its resident set is its
own), on a fresh SQLite file, with the project's configuration, no delivery workers (this measures
intake: authentication, reading, parsing, validation, routing, translation and the store commit) and
random API keys. After a warm-up request (schemas compiled, threads started) the phases are:

* **one**: one request of ``--size`` bytes on the wire;
* **parallel**: ``--parallel`` such requests sent at the same moment, each on its own connection.

For each phase: the resident set before (VmRSS) and the peak during it (VmHWM, reset between
phases through /proc/<pid>/clear_refs), the growth peak − before, that growth per request byte,
and the answers' HTTP statuses. A last run, **over budget**, starts the hub with
``api.memory_budget`` = ``--budget`` (default: 4 requests) and sends the parallel phase again: the
503 count is how many were refused instead of swelling the process. ``--hub-path DIR`` runs the hub
from another checkout (a directory holding ``hub/`` and ``adapters/``), to measure code as it was;
``--budget 0`` skips the over-budget run (for code that has no budget).

REST requests are ``POST /api/v1/messages`` with a land dossier whose ``TaiLieuNop`` list makes the
XML payload ~3/4 of the size (it travels base64 in JSON); SOAP requests are ``TraKetQuaHoSo``
results with a long ``DanhSachGiayToKetQua``. Both are valid and accepted (202 / 200). Linux only.
"""

from __future__ import annotations

import argparse
import base64
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
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
PROVINCE = "000.00.00.H49"
LAND_NS = "urn:lienthong:tnmt:dangkydatdai:1"
HUB_NS = "urn:lienthong:hub:1"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
RESULT_ACTION = f"{LAND_NS}/TraKetQuaHoSo"
MiB = 1024 * 1024


# ---------------------------------------------------------------- requests


def rest_request(size: int, message_id: str) -> bytes:
    """A dossier submission of ``size`` bytes (±1 KB): a sample dossier with many submitted papers."""
    from lienthong.devtools.samples import sample_dossiers

    sample = sample_dossiers(1, agency=PROVINCE)[0]
    paper = (
        "<TaiLieuNop><TenTaiLieu>Bản sao công chứng giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở "
        "và tài sản khác gắn liền với đất, kèm trích lục bản đồ địa chính và sơ đồ thửa đất</TenTaiLieu>"
        "<MaTaiLieu>TL-{:06d}</MaTaiLieu></TaiLieuNop>"
    )
    xml, _, tail = sample.xml.rpartition(b"</HoSo>")
    parts, total, target = [xml], len(xml), size * 3 // 4 - 600
    while total < target:
        piece = paper.format(len(parts)).encode()
        parts.append(piece)
        total += len(piece)
    payload = b"".join([*parts, b"</HoSo>", tail])
    body = {
        "sender_message_id": message_id,
        "kind": "dossier",
        "sender": PROVINCE,
        "procedure_code": sample.procedure_code,
        "dossier_code": sample.dossier_code,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(payload).decode("ascii"),
    }
    return json.dumps(body).encode()


def soap_request(size: int, message_id: str) -> bytes:
    """A SOAP 1.1 TraKetQuaHoSo of ``size`` bytes (±1 KB): a result with a long list of papers."""
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP11_NS}" '
        f'xmlns:lt="{HUB_NS}"><soap:Header><lt:messageId>{message_id}</lt:messageId></soap:Header>'
        f'<soap:Body><dd:TraKetQuaHoSo xmlns:dd="{LAND_NS}"><dd:MaHoSoMotCua>000.00.00.H49-261121-0001'
        "</dd:MaHoSoMotCua><dd:MaHoSoDatDai>DD-2026-000123</dd:MaHoSoDatDai><dd:KetQua>DaCapGiayChungNhan"
        "</dd:KetQua><dd:ThoiGian>2026-12-05T15:30:00+07:00</dd:ThoiGian><dd:DanhSachGiayToKetQua>"
    )
    tail = "</dd:DanhSachGiayToKetQua></dd:TraKetQuaHoSo></soap:Body></soap:Envelope>\n"
    paper = (
        "<dd:GiayTo><dd:TenGiayTo>Giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác "
        "gắn liền với đất, bản chính kèm sơ đồ thửa đất</dd:TenGiayTo><dd:MaGiayTo>GT-{:06d}</dd:MaGiayTo>"
        "</dd:GiayTo>"
    )
    parts, total = [head.encode()], len(head.encode()) + len(tail)
    while total < size - 300:
        piece = paper.format(len(parts)).encode()
        parts.append(piece)
        total += len(piece)
    return b"".join([*parts, tail.encode()])


# ---------------------------------------------------------------- the hub process


@dataclass
class Phase:
    protocol: str
    phase: str
    requests: int
    request_bytes: int
    rss_before_mib: float
    peak_mib: float
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.rss_before_mib

    @property
    def growth_per_byte(self) -> float:
        """Peak growth over the bytes of the requests that were accepted (refused ones cost ~nothing)."""
        accepted = sum(n for s, n in self.statuses.items() if s in (200, 202)) or 1
        return self.growth_mib * MiB / (accepted * self.request_bytes)


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


class HubProcess:
    """``hub serve`` in a child process, on a copy of the project's configuration."""

    def __init__(self, workdir: Path, *, budget: str | None, hub_path: Path | None) -> None:
        self.port = _free_port()
        self.keys = {"motcua": secrets.token_urlsafe(24), "land": secrets.token_urlsafe(24)}
        project = workdir / f"project-{uuid.uuid4().hex[:8]}"
        shutil.copytree(ROOT / "config", project / "config")
        for shared in ("schemas", "mappings"):
            (project / shared).symlink_to(ROOT / shared, target_is_directory=True)
        hub_yaml = project / "config" / "hub.yaml"
        text = hub_yaml.read_text(encoding="utf-8").replace("  count: 4\n", "  count: 0\n")
        if budget:
            text = text.replace(
                "  max_payload_size: 10MiB\n", f"  max_payload_size: 10MiB\n  memory_budget: {budget}\n"
            )
        hub_yaml.write_text(text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_") and k != "LAND_ENDPOINT"}
        env |= {
            "HUB_DATABASE_URL": f"sqlite:///{project / 'hub.db'}",
            "HUB_MOTCUA_API_KEY": self.keys["motcua"],
            "HUB_LAND_API_KEY": self.keys["land"],
            "LAND_ENDPOINT": "http://127.0.0.1:9/unused",
        }
        if hub_path is not None:
            shim = project / "pythonpath"
            shim.mkdir()
            (shim / "lienthong").symlink_to(hub_path / "hub", target_is_directory=True)
            (shim / "lienthong_adapters").symlink_to(hub_path / "adapters", target_is_directory=True)
            env["PYTHONPATH"] = str(shim)
        command = [sys.executable, "-c", "from lienthong.cli import main; main()", "serve"]
        command += ["--config", str(project / "config"), "--port", str(self.port)]
        self.log = (project / "hub.log").open("w")
        self.proc = subprocess.Popen(command, cwd=project, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the hub did not start: see {project / 'hub.log'}") from None
                time.sleep(0.2)

    def rss_mib(self) -> float:
        return _status_kib(self.proc.pid, "VmRSS") / 1024

    def peak_mib(self) -> float:
        return _status_kib(self.proc.pid, "VmHWM") / 1024

    def reset_peak(self) -> None:
        """Set the peak back to the current resident set (Linux 4.0+: write 5 to clear_refs)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
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
def running_hub(workdir: Path, *, budget: str | None, hub_path: Path | None) -> Iterator[HubProcess]:
    hub = HubProcess(workdir, budget=budget, hub_path=hub_path)
    try:
        yield hub
    finally:
        hub.stop()


# ---------------------------------------------------------------- sending


def send(hub: HubProcess, protocol: str, bodies: Sequence[bytes]) -> Counter[int]:
    """POST every body at once, each from its own thread and connection; count the statuses."""
    if protocol == "rest":
        path, headers = (
            "/api/v1/messages",
            {"Content-Type": "application/json", "X-API-Key": hub.keys["motcua"]},
        )
    else:
        path = "/soap/land"
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{RESULT_ACTION}"'}
        headers["X-API-Key"] = hub.keys["land"]
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(len(bodies))

    def one(body: bytes) -> None:
        with httpx.Client(base_url=hub.url, timeout=300) as client:
            barrier.wait()
            try:
                status = client.post(path, content=body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=one, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def bodies(protocol: str, size: int, count: int) -> list[bytes]:
    make = rest_request if protocol == "rest" else soap_request
    return [make(size, f"bench-mem-{uuid.uuid4()}") for _ in range(count)]


def phase(hub: HubProcess, protocol: str, name: str, batch: list[bytes]) -> Phase:
    time.sleep(1.0)  # let the allocator settle after the previous phase
    hub.reset_peak()
    before = hub.rss_mib()
    statuses = send(hub, protocol, batch)
    peak = hub.peak_mib()
    return Phase(protocol, name, len(batch), len(batch[0]), before, peak, dict(sorted(statuses.items())))


def measure(
    workdir: Path, protocol: str, *, size: int, parallel: int, budget: str | None, hub_path: Path | None
) -> list[Phase]:
    with running_hub(workdir, budget=budget, hub_path=hub_path) as hub:
        warm = send(hub, protocol, bodies(protocol, 200_000, 1))
        if set(warm) - {200, 202}:
            raise RuntimeError(f"warm-up {protocol} request refused: {dict(warm)}")
        if budget:
            return [
                phase(
                    hub, protocol, f"{parallel} parallel, budget {budget}", bodies(protocol, size, parallel)
                )
            ]
        return [
            phase(hub, protocol, "one", bodies(protocol, size, 1)),
            phase(hub, protocol, f"{parallel} parallel", bodies(protocol, size, parallel)),
        ]


# ---------------------------------------------------------------- output


def table(phases: Sequence[Phase], title: str) -> Table:
    out = Table(title=title)
    for column in (
        "protocol",
        "phase",
        "request MB",
        "RSS before MiB",
        "peak MiB",
        "growth MiB",
        "growth/byte",
        "answers",
    ):
        out.add_column(column, justify="left" if column in ("protocol", "phase", "answers") else "right")
    for p in phases:
        out.add_row(
            p.protocol,
            p.phase,
            f"{p.request_bytes / 1e6:.1f}",
            f"{p.rss_before_mib:,.0f}",
            f"{p.peak_mib:,.0f}",
            f"{p.growth_mib:,.0f}",
            f"{p.growth_per_byte:.1f}",
            ", ".join(f"{n}x {s or 'error'}" for s, n in p.statuses.items()),
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", type=int, default=9_000_000, help="bytes per request on the wire (default 9 MB)"
    )
    parser.add_argument("--parallel", type=int, default=8, help="requests sent at once (default 8)")
    parser.add_argument(
        "--budget", default="36MB", help="api.memory_budget of the over-budget run (default 36MB); 0 skips it"
    )
    parser.add_argument("--protocols", default="soap,rest", help="comma-separated: soap, rest")
    parser.add_argument("--hub-path", type=Path, help="run the hub from this checkout instead")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        parser.error("this benchmark reads /proc: Linux only")
    console = Console(width=max(Console().width, 130))
    console.print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, hub from {args.hub_path or ROOT}"
    )
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    results: list[Phase] = []
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-memory-", dir=ROOT / "var") as tmp:
        for protocol in protocols:
            console.print(f"{protocol}: one {args.size / 1e6:.1f} MB request, then {args.parallel} at once")
            results += measure(
                Path(tmp),
                protocol,
                size=args.size,
                parallel=args.parallel,
                budget=None,
                hub_path=args.hub_path,
            )
        if args.budget not in ("0", ""):
            for protocol in protocols:
                console.print(f"{protocol}: {args.parallel} at once with api.memory_budget {args.budget}")
                results += measure(
                    Path(tmp),
                    protocol,
                    size=args.size,
                    parallel=args.parallel,
                    budget=args.budget,
                    hub_path=args.hub_path,
                )
    console.print(table(results, "Hub process memory under large requests (RSS of the hub process alone)"))
    if args.json:
        data = [
            asdict(p) | {"growth_mib": p.growth_mib, "growth_per_byte": p.growth_per_byte} for p in results
        ]
        args.json.write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
