"""``hub demo``: the whole path on one machine — REST intake, SQLite store, workers, a SOAP ministry
simulator that is down for a while and then recovers — with a table of what went where.

Everything runs over real sockets on loopback; nothing is faked inside the hub. The demo only
shortens the land adapter's retry timings so that the outage and recovery fit in a minute, and
gives the one-stop system an API key made for this run only.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from cryptography import x509
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lienthong.compose import build_hub
from lienthong.config.files import load_configuration
from lienthong.config.models import (
    Caller,
    CircuitBreakerConfig,
    Configuration,
    RetryPolicyConfig,
    SigningPolicyConfig,
)
from lienthong.devtools.background import BackgroundServer
from lienthong.devtools.samples import sample_dossiers
from lienthong.devtools.simulator import create_simulator_app, simulator_spec
from lienthong.errors import HubError, SignatureError
from lienthong.intake.callers import API_KEY_HEADER, api_key_digest
from lienthong.intake.rest import create_app
from lienthong.store import DeliveryState
from lienthong.trust.keys import DevCa, create_dev_ca
from lienthong.trust.verify import AgencyPolicy, TrustStore, XmlVerifier
from lienthong.xml import parse_xml

DEMO_ADAPTER = "land"
PROVINCE = "000.00.00.H49"
REGISTRY_NS = "urn:lienthong:tnmt:dangkydatdai:1"
HOSO_NS = "urn:lienthong:province:hoso:1"


def project_root() -> Path:
    """The checkout this hub runs from: the current directory if it has config/, else the package's."""
    cwd = Path.cwd()
    if (cwd / "config" / "hub.yaml").is_file():
        return cwd
    return Path(__file__).resolve().parents[2]


def demo_callers(callers: list[Caller], api_key: str) -> list[Caller]:
    """The configured callers, where the one-stop system (the province's agency) also has ``api_key``."""
    digest = api_key_digest(api_key)
    out = [
        c.model_copy(update={"api_key_sha256": [*c.api_key_sha256, digest]}) if c.agency == PROVINCE else c
        for c in callers
    ]
    if not any(c.agency == PROVINCE for c in callers):
        out.append(
            Caller(
                agency=PROVINCE,
                name="Một cửa điện tử (demo)",
                api_key_sha256=[digest],
                services=["rest:submit", "rest:read"],
            )
        )
    return out


def demo_configuration(
    config: Configuration, *, database: Path, endpoint: str, api_key: str
) -> Configuration:
    """The project's own configuration, with a fresh database, demo-sized retry timings and
    ``api_key`` for the one-stop system."""
    land = config.adapters[DEMO_ADAPTER].model_copy(
        update={
            "endpoint": endpoint,
            "retry": RetryPolicyConfig(
                max_attempts=20,
                max_age=timedelta(minutes=5),
                initial_backoff=timedelta(milliseconds=500),
                max_backoff=timedelta(seconds=3),
                multiplier=2.0,
                jitter=timedelta(milliseconds=300),
            ),
            "circuit_breaker": CircuitBreakerConfig(failure_threshold=3, reset_after=timedelta(seconds=2)),
        }
    )
    hub = config.hub.model_copy(
        update={
            "database": config.hub.database.model_copy(update={"url": f"sqlite:///{database}"}),
            "api": config.hub.api.model_copy(update={"port": 0}),
            "workers": config.hub.workers.model_copy(update={"poll_interval": timedelta(milliseconds=200)}),
            "callers": demo_callers(config.hub.callers, api_key),
        }
    )
    return config.model_copy(update={"hub": hub, "adapters": {**config.adapters, DEMO_ADAPTER: land}})


def demo_signing(config: Configuration, keys_dir: Path) -> tuple[Configuration, DevCa]:
    """The configuration with development keys made in ``keys_dir`` (``hub keys dev-ca``) and the land
    adapter signing what it sends (xmldsig, RSA-SHA256 with the first key)."""
    land = config.adapters[DEMO_ADAPTER]
    ca = create_dev_ca(
        keys_dir,
        config.hub.hub.agency,
        {land.agency: "Văn phòng đăng ký đất đai"},
        hub_name=config.hub.hub.name,
    )
    keys = config.hub.keys.model_copy(update={"signing": ca.key_references()})
    land = land.model_copy(update={"signing": SigningPolicyConfig(policy="xmldsig")})
    hub = config.hub.model_copy(update={"keys": keys})
    return config.model_copy(update={"hub": hub, "adapters": {**config.adapters, DEMO_ADAPTER: land}}), ca


def _verified(payloads: list[bytes], ca: DevCa) -> int:
    """How many payloads verify as a ministry trusting the demo CA for the province would see them."""
    anchor = x509.load_pem_x509_certificate(ca.ca_certificate.read_bytes())
    verifier = XmlVerifier(TrustStore({PROVINCE: AgencyPolicy(anchors=(anchor,))}))
    count = 0
    for payload in payloads:
        try:
            verifier.verify(payload, agency=PROVINCE, expect=lambda root: root)
        except SignatureError:
            continue
        count += 1
    return count


def signature_check(payloads: list[bytes], ca: DevCa) -> tuple[bool, str]:
    """The demo's verdict on what it sent, and the line that says it. A tick means every payload was
    checked and verified: nothing checked (0/0) is a failure, never a pass."""
    verified = _verified(payloads, ca)
    ok = 0 < verified == len(payloads)
    mark = "[green]✓[/]" if ok else "[red]✗[/]"
    return (
        ok,
        f"{mark} {verified}/{len(payloads)} payloads sent carry an XML signature that verifies "
        "against the demo CA",
    )


def _submit(client: httpx.Client, body: dict[str, object]) -> httpx.Response:
    return client.post("/api/v1/messages", json=body)


def dossier_body(
    code: str, procedure: str, xml: bytes, sender_message_id: str | None = None
) -> dict[str, object]:
    """An intake request as the provincial one-stop system sends it (also used by the tests)."""
    return {
        "sender_message_id": sender_message_id or f"motcua-{code}",
        "kind": "dossier",
        "sender": PROVINCE,
        "procedure_code": procedure,
        "dossier_code": code,
        "content_type": "application/xml",
        "payload_base64": base64.b64encode(xml).decode("ascii"),
    }


def _text(xml: bytes, ns: str, local: str) -> str:
    try:
        el = parse_xml(xml).find(f".//{{{ns}}}{local}")
    except HubError:
        return ""
    return (el.text or "") if el is not None else ""


def run_demo(
    console: Console, *, count: int, outage_seconds: float, keep_running: bool, sign: bool = True
) -> int:
    root = project_root()
    config = load_configuration(root / "config")
    # the registry, as config/adapters/land.yaml declares it; its records kept for this run only
    spec = simulator_spec(config, DEMO_ADAPTER, store=":memory:")

    workdir = root / "var" / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    console.rule("[bold]Trục liên thông — demo")
    console.print(
        "Một cửa điện tử (Quảng Ninh) → hub → Văn phòng đăng ký đất đai (simulated SOAP service)\n"
        f"The land registry is [bold red]down for {outage_seconds:.0f}s[/] at the start; the hub keeps every "
        "dossier and retries until it is back.\n"
    )
    simulator = BackgroundServer(create_simulator_app(spec)).start()
    sim = httpx.Client(base_url=simulator.url, timeout=10)
    sim.put("/_sim/faults", json={"outage_seconds": outage_seconds, "mode": "503"}).raise_for_status()
    endpoint = simulator.url + spec.path
    api_key = secrets.token_urlsafe(32)
    demo = demo_configuration(config, database=workdir / "hub.db", endpoint=endpoint, api_key=api_key)
    ca: DevCa | None = None
    if sign:
        demo, ca = demo_signing(demo, workdir / "keys")
        console.print(
            f"Signing: every payload for the registry is signed (xmldsig, RSA-SHA256) with a development "
            f"key made in {ca.directory.relative_to(root)}/ by 'hub keys dev-ca'\n"
        )
    hub = build_hub(demo)
    server = BackgroundServer(create_app(hub)).start()
    api = httpx.Client(base_url=server.url, timeout=30, headers={API_KEY_HEADER: api_key})
    console.print(f"hub API  {server.url}/docs   ·   land registry simulator {endpoint}")
    started = time.monotonic()
    try:
        samples = sample_dossiers(count)
        accepted: dict[str, tuple[str, str]] = {}  # hub message id → (dossier code, applicant)
        for s in samples:
            r = _submit(api, dossier_body(s.dossier_code, s.procedure_code, s.xml))
            r.raise_for_status()
            accepted[r.json()["message_id"]] = (s.dossier_code, _text(s.xml, HOSO_NS, "ChuHoSo"))
        console.print(f"[green]✓[/] {len(samples)} dossiers accepted (HTTP 202) while the registry is down")

        first = samples[0]
        again = _submit(api, dossier_body(first.dossier_code, first.procedure_code, first.xml)).json()
        console.print(
            f"[green]✓[/] resent {first.dossier_code} with the same id: duplicate={again['duplicate']}, "
            "same hub message id, nothing entered twice"
        )
        broken = first.xml.replace(b"<ChuHoSo>", b"<ChuHoSoX>").replace(b"</ChuHoSo>", b"</ChuHoSoX>")
        bad = _submit(
            api, dossier_body("000.00.00.H49-000000-9999", first.procedure_code, broken, "motcua-bad")
        )
        console.print(
            f"[yellow]✗[/] an invalid dossier is refused: HTTP {bad.status_code} {bad.json()['title']}"
        )
        other = _submit(
            api,
            dossier_body(
                f"{PROVINCE}-000000-0001", "2.000488", first.xml, sender_message_id=f"motcua-{uuid.uuid4()}"
            ),
        ).json()
        console.print(
            f"[yellow]?[/] a dossier for a procedure with no route is kept as '{other['route']['status']}'"
            f" (message {other['message_id']}); fix routes.yaml, then 'hub replay --unroutable'\n"
        )

        _wait_for_deliveries(console, api, len(samples), timeout=max(60.0, outage_seconds * 4))
        # Fits 80 columns: light borders, and the applicant's name is the column that wraps.
        table = Table(title=f"Hồ sơ đã chuyển / what went where (→ {DEMO_ADAPTER})", box=box.SIMPLE_HEAD)
        table.add_column("dossier (mã hồ sơ)", no_wrap=True)
        table.add_column("applicant (chủ hồ sơ)", ratio=1, min_width=12)
        for column in ("state", "tries", "registry case"):
            table.add_column(column, no_wrap=True)
        delivered = 0
        for message_id, (code, applicant) in accepted.items():
            record = hub.store.get_message(uuid.UUID(message_id))
            for d in record.deliveries:
                delivered += d.state is DeliveryState.DELIVERED
                case = _text(d.response, REGISTRY_NS, "MaHoSoDatDai") if d.response else ""
                colour = "green" if d.state is DeliveryState.DELIVERED else "red"
                table.add_row(code, applicant, f"[{colour}]{d.state.value}[/]", str(d.attempts), case)
        console.print(table)
        stats = sim.get("/_sim/stats").json()
        console.print(
            f"delivered {delivered}/{len(accepted)} in {time.monotonic() - started:.1f}s · simulator saw "
            f"{stats['total']} calls, {stats['unique']} unique dossiers, {stats['duplicates']} duplicates, "
            f"{stats['faults_served']} refused during the outage"
        )
        signatures_ok = True
        if ca is not None:
            sent = [d.payload for m in accepted for d in hub.store.get_message(uuid.UUID(m)).deliveries]
            signatures_ok, line = signature_check(sent, ca)
            console.print(f"{line} ({ca.ca_certificate.relative_to(root)})")
        if keep_running:
            console.print(f"\nHub still running: API docs {server.url}/docs — press Ctrl-C to stop.")
            console.print(f"This run's API key of the one-stop system ({API_KEY_HEADER}): {api_key}")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
        return 0 if delivered == len(accepted) and signatures_ok else 1
    finally:
        api.close()
        sim.close()
        server.stop()
        hub.store.close()
        simulator.stop()


def _wait_for_deliveries(console: Console, api: httpx.Client, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("delivering to the land registry", total=expected)
        while time.monotonic() < deadline:
            counts = api.get("/healthz").json()["deliveries"].get(DEMO_ADAPTER, {})
            done = counts.get("delivered", 0) + counts.get("dead", 0)
            retrying = counts.get("failed", 0)
            progress.update(
                task,
                completed=done,
                description=f"delivering to the land registry ({retrying} waiting to retry)",
            )
            if done >= expected:
                return
            time.sleep(0.25)
