"""The ``hub`` command. Errors reach the user here as one clear line (or one per config problem)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong.audit.cli import archive, audit_app
from lienthong.cli_errors import cli_errors as _errors
from lienthong.cli_errors import fail as _fail
from lienthong.config.files import load_configuration, read_configuration, write_json_schemas
from lienthong.config.models import Configuration
from lienthong.envelope import MessageKind
from lienthong.errors import ConfigError
from lienthong.reconcile.cli import reconcile_app
from lienthong.reconcile.trail import findings_table
from lienthong.reports.cli import report
from lienthong.store import DeliveryState, MessageFilter, MessageRecord

app = typer.Typer(
    help="Trục liên thông — interoperability hub for provincial e-government.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(
    help="Check the YAML configuration and export its JSON Schema.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.command("archive")(archive)

console = Console()
err = Console(stderr=True)

ConfigDir = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="HUB_CONFIG",
        help="Configuration directory (hub.yaml, adapters/, routes.yaml).",
    ),
]
DEFAULT_CONFIG = Path("config")


def _load(config_dir: Path) -> Configuration:
    return load_configuration(config_dir)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# ---------------------------------------------------------------- config


@config_app.command("check")
def config_check(config: ConfigDir = DEFAULT_CONFIG) -> None:
    """Report every configuration error with file, line, column and key."""
    from lienthong.adapter import discover_plugins
    from lienthong.compose import check_configuration

    with _errors():
        # Every stage runs on whatever loaded, so one run lists the errors of every file and check.
        loaded = read_configuration(config)
        issues = list(loaded.issues)
        cfg = loaded.config
        if cfg is not None:
            try:
                check_configuration(cfg, discover_plugins(), loaded.unloaded_adapters)
            except ConfigError as exc:
                issues += exc.issues
        if issues or cfg is None:
            raise ConfigError(issues)
    console.print(
        f"[green]OK[/] {config}: hub {cfg.hub.hub.agency}, {len(cfg.adapters)} adapter(s), "
        f"{len(cfg.routes.routes)} route(s)"
    )


@config_app.command("schema")
def config_schema(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the *.schema.json files.")] = Path(
        "config/schema"
    ),
) -> None:
    """Write JSON Schemas for hub.yaml, adapter files and routes.yaml, for editor autocompletion."""
    for path in write_json_schemas(out):
        console.print(f"wrote {path}")


@config_app.command("reference")
def config_reference(
    out: Annotated[Path, typer.Option("--out", "-o", help="Markdown file to write.")] = Path(
        "docs/reference/configuration.md"
    ),
) -> None:
    """Write the configuration reference (Markdown) generated from the configuration models."""
    from lienthong.config.reference import configuration_reference

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(configuration_reference(), encoding="utf-8")
    console.print(f"wrote {out}")


# ---------------------------------------------------------------- keys and signing

keys_app = typer.Typer(help="Signing keys and development certificates.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


class SignPolicy(StrEnum):
    XMLDSIG = "xmldsig"
    XADES_BES = "xades-bes"
    EDXML = "edxml"


def _relative(path: Path, root: Path) -> str:
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


@keys_app.command("dev-ca")
def keys_dev_ca(
    config: ConfigDir = DEFAULT_CONFIG,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the keys and certificates.")] = Path(
        "var/keys"
    ),
    force: Annotated[bool, typer.Option(help="Re-create every file, even those that exist.")] = False,
) -> None:
    """Create a development CA, the hub's RSA and ECDSA certificates and one per ministry agency.

    For development, the demo and tests only: the private keys are written unencrypted.
    """
    from lienthong.trust.keys import create_dev_ca

    with _errors():
        cfg = _load(config)
        agencies: dict[str, str] = {}
        for adapter in cfg.adapters.values():
            # "Đăng ký đất đai — tiếp nhận hồ sơ …": the part before the dash names the system
            agencies.setdefault(adapter.agency, adapter.description.split(" — ")[0] or adapter.name)
        for adapter in cfg.adapters.values():  # the ministries an edXML simulator plays sign too
            for code, played in (adapter.simulator.agencies if adapter.simulator else {}).items():
                agencies.setdefault(code, played.name or code)
        ca = create_dev_ca(out, cfg.hub.hub.agency, agencies, hub_name=cfg.hub.hub.name, force=force)
    files = [
        ca.ca_certificate,
        ca.ca_key,
        ca.hub_certificate,
        ca.hub_key,
        ca.hub_ec_certificate,
        ca.hub_ec_key,
    ]
    files += [p for pair in ca.agencies.values() for p in pair]
    for path in files:
        state = "[green]wrote[/]" if path in ca.written else "kept "
        console.print(f"{state} {escape(str(path))}", highlight=False)
    lines = ["keys:", "  signing:"]
    for ref in ca.key_references():
        lines += [
            f"    - id: {ref.id}",
            f"      key_file: {_relative(ref.key_file, cfg.root)}",
            f"      certificate_file: {_relative(ref.certificate_file or ref.key_file, cfg.root)}",
        ]
    # One CA issues every certificate here, so each agency says which are its own (the code in OU);
    # the province's own systems are verified when they sign, and need not.
    lines += ["trust:", "  agencies:"]
    for code in [cfg.hub.hub.agency, *ca.agencies]:
        lines += [
            f'    "{code}":',
            f"      anchors: [{_relative(ca.ca_certificate, cfg.root)}]",
            f'      signers: [{{subject: {{OU: "{code}"}}}}]',
        ]
        if code == cfg.hub.hub.agency and code not in ca.agencies:
            lines.append("      require_signature: false")
    console.print(
        "\nDevelopment keys only (unencrypted, from a CA nobody else trusts). Paste into "
        f"{escape(str(config / 'hub.yaml'))}, then set signing.policy in the adapters that should sign:\n",
        highlight=False,
        soft_wrap=True,
    )
    console.print("\n".join(lines), highlight=False, markup=False)


@app.command("sign")
def sign_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="XML document to sign.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    policy: Annotated[
        SignPolicy | None,
        typer.Option(help="Signature shape; default: edxml for an edXML document, else xmldsig."),
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Signing key id (keys.signing); default: the first.")
    ] = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Sign an XML document with the hub's key, as an adapter with that signing policy would."""
    from lxml import etree

    from lienthong.trust.keys import Keystore
    from lienthong.trust.sign import Policy, XmlSigner, edxml_header
    from lienthong.xml import parse_xml

    with _errors():
        cfg = _load(config)
        keystore = Keystore.load(cfg.hub.keys.signing, cfg.root)
        signing_key = keystore.get(key) if key else keystore.current
        root = parse_xml(file.read_bytes(), what=str(file))
        chosen: Policy = "edxml" if edxml_header(root) is not None else "xmldsig"
        if policy is not None:
            chosen = policy.value
        signer = XmlSigner(chosen, signing_key.algorithm, signing_key)
        signer.check_validity()
        data = etree.tostring(signer.sign(root), xml_declaration=True, encoding="UTF-8")
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(data)
    err.print(
        f"signed {escape(str(file))} ({chosen}, {signing_key.algorithm}, key {escape(signing_key.id)})"
        + (f" → {escape(str(out))}" if out else ""),
        highlight=False,
        soft_wrap=True,
    )


@app.command("verify")
def verify_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Signed XML document.")],
    agency: Annotated[
        str | None, typer.Option(help="Agency the document claims to come from; default: any trusted one.")
    ] = None,
    at: Annotated[
        datetime | None,
        typer.Option(help="Verify as of this time (ISO 8601, UTC if no offset); default: now."),
    ] = None,
    anchor: Annotated[
        list[Path] | None,
        typer.Option(help="Extra trust anchor PEM (CA or pinned signer), for that agency or any."),
    ] = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Verify an XML signature under the hub's trust policy; exit 1 when it is not valid."""
    from lienthong.config.models import AgencyTrust, TrustSettings
    from lienthong.errors import SignatureError
    from lienthong.trust.verify import TrustStore, error_report, report, verify_file

    when = at if at is None or at.tzinfo is not None else at.replace(tzinfo=UTC)
    with _errors():
        cfg = _load(config)
        trust = cfg.hub.trust
        if anchor:
            extra = [p.resolve() for p in anchor]
            if agency:
                current = trust.agencies.get(agency, AgencyTrust())
                agencies = {
                    **trust.agencies,
                    agency: current.model_copy(update={"anchors": [*current.anchors, *extra]}),
                }
                trust = TrustSettings(agencies=agencies, default=trust.default)
            else:
                trust = TrustSettings(
                    agencies=trust.agencies,
                    default=trust.default.model_copy(update={"anchors": [*trust.default.anchors, *extra]}),
                )
        store = TrustStore.from_settings(trust, cfg.root)
        try:
            rows = report(verify_file(file, store, agency, when))
            ok = True
        except SignatureError as exc:
            rows = error_report(exc)
            ok = False
    table = Table(show_header=False, box=None)
    for label, value in rows:
        table.add_row(f"[bold]{escape(label)}[/]", escape(value))
    console.print(table)
    console.print("[green]VALID / hợp lệ[/]" if ok else "[red]NOT VALID / không hợp lệ[/]")
    if not ok:
        raise typer.Exit(1)


# ---------------------------------------------------------------- edXML

edxml_app = typer.Typer(help="Official documents in edXML (QCVN 102:2016), read as the hub reads them.")
app.add_typer(edxml_app, name="edxml")


@edxml_app.command("inspect")
def edxml_inspect(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="edXML document or status package.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (format edxml-inspect/1) for scripts.")
    ] = False,
) -> None:
    """Show an edXML file's header as a person reads it, its signature's verdict and its quirks.

    Needs no hub configuration. Exit 0: readable (warnings allowed); 2: refused, as intake would.
    """
    from lienthong.edxml.inspect import inspect_file, render_json, render_text

    inspection = inspect_file(file)
    if as_json:
        typer.echo(render_json(inspection))
    elif inspection.readable:
        typer.echo(render_text(inspection))
    else:
        typer.echo(render_text(inspection), err=True)
    if not inspection.readable:
        raise typer.Exit(2)


# ---------------------------------------------------------------- database


@db_app.command("upgrade")
def db_upgrade(config: ConfigDir = DEFAULT_CONFIG) -> None:
    """Migrate the configured database to the current schema (run once per release on PostgreSQL)."""
    from lienthong.store.migrate import current_revision, upgrade
    from lienthong.store.sql import create_store_engine

    with _errors():
        cfg = _load(config)
        url = cfg.database_url()
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_store_engine(url)
        upgrade(engine)
        console.print(f"database at revision {current_revision(engine)}")
        engine.dispose()


# ---------------------------------------------------------------- running


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@app.command()
def serve(
    config: ConfigDir = DEFAULT_CONFIG,
    host: Annotated[str | None, typer.Option(help="Override api.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Override api.port.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            "-p",
            min=1,
            help="Hub processes sharing the port and the database (one core each; docs/processes.md).",
        ),
    ] = 1,
) -> None:
    """Run the REST API and the delivery workers."""
    import uvicorn

    from lienthong._allocator import tune_allocator
    from lienthong.compose import build_hub
    from lienthong.intake.callers import server_tls_options
    from lienthong.intake.rest import create_app

    _setup_logging(verbose)
    if processes > 1:
        _serve_processes(config, processes, host, port, verbose)
        return
    tune_allocator()  # before the first large allocation: request bodies, payloads, their trees
    with _errors():
        cfg = _load(config)
        tls = server_tls_options(cfg)
        hub = build_hub(cfg)
    api = cfg.hub.api
    # uvicorn stops gracefully on SIGTERM, then raises the signal again for the handler it found.
    # Python's default handler would end the process there: status 143 instead of 0, store left open.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.run(
            create_app(hub),
            host=host or api.host,
            port=api.port if port is None else port,
            log_level="info" if verbose else "warning",
            loop=api.event_loop,
            timeout_graceful_shutdown=int(cfg.hub.workers.shutdown_grace.total_seconds()) + 5,
            **tls,
        )
    finally:
        hub.close()  # the lookups' HTTP clients too, not only the store


def _serve_processes(config: Path, processes: int, host: str | None, port: int | None, verbose: bool) -> None:
    """``hub serve --processes N`` (lienthong.serving): checked and migrated here, once, before they start."""
    from lienthong.compose import open_store
    from lienthong.intake.callers import server_tls_options
    from lienthong.serving import serve_processes

    with _errors():
        cfg = _load(config)
        tls = server_tls_options(cfg)
        open_store(cfg).close()  # the embedded SQLite migrates itself: once, not in N processes at once
    api = cfg.hub.api
    console.print(f"starting {processes} hub processes / khởi động {processes} tiến trình trục")
    signal.signal(signal.SIGTERM, lambda *_: None)  # see serve: uvicorn raises it again once stopped
    serve_processes(
        config,
        processes,
        host=host or api.host,
        port=api.port if port is None else port,
        verbose=verbose,
        grace=int(cfg.hub.workers.shutdown_grace.total_seconds()) + 5,
        loop=api.event_loop,
        tls=tls,
    )


@app.command()
def worker(
    config: ConfigDir = DEFAULT_CONFIG, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False
) -> None:
    """Run delivery workers (and the adapters' polls) only: more processes sharing one PostgreSQL database."""
    from lienthong._allocator import tune_allocator
    from lienthong.compose import build_hub

    _setup_logging(verbose)
    tune_allocator()
    with _errors():
        hub = build_hub(_load(config))
    hub.start()
    console.print(f"workers running as {hub.workers.identity}; Ctrl-C stops them gracefully")
    _wait_for_signal()
    hub.close()


@app.command()
def simulate(
    adapter: Annotated[
        str,
        typer.Argument(help="Adapter whose ministry system to simulate (its YAML's simulator:), e.g. land."),
    ],
    config: ConfigDir = DEFAULT_CONFIG,
    host: str = "127.0.0.1",
    port: int = 8701,
    store: Annotated[
        str | None,
        typer.Option(
            help="SQLite file of its records (':memory:' forgets); default: the YAML's store, "
            "or var/sim/<adapter>.db."
        ),
    ] = None,
    hub_url: Annotated[
        str | None,
        typer.Option(
            envvar="HUB_URL",
            help="Hub its callbacks go to (POST <url>/soap/<adapter>; QLVB's status packages: POST "
            "<url>/api/v1/messages); none: no callbacks.",
        ),
    ] = None,
    sign_key: Annotated[
        Path | None, typer.Option(help="Private key (PEM or PKCS#12) signing its callbacks, as its agency.")
    ] = None,
    sign_cert: Annotated[Path | None, typer.Option(help="PEM certificate chain for --sign-key.")] = None,
) -> None:
    """Run an adapter's ministry simulator (real SOAP or REST services, or the edXML axis and QLVB of
    kind edxml-axis / edxml-qlvb, e.g. vpcp, qlvb) on loopback, as its YAML says."""
    from lienthong.devtools.simulator import run_simulator, simulator_spec

    with _errors():
        cfg = _load(config)
        settings = cfg.adapters.get(adapter)
        if settings is not None and settings.simulator is not None and settings.simulator.is_edxml:
            _simulate_edxml(cfg, adapter, host, port, store, hub_url)
            return
        spec = simulator_spec(
            cfg,
            adapter,
            store=store,
            hub_url=hub_url,
            sign_key=sign_key,
            sign_certificate=sign_cert,
        )
        for service in spec.services:
            console.print(
                f"simulating {spec.name} at http://{host}:{port}{service.path} ({service.protocol})"
            )
        console.print(
            f"records in {spec.store}; "
            + (f"callbacks to {spec.callbacks.url}" if spec.callbacks else "no callbacks (no --hub-url)")
        )
        run_simulator(spec, host, port)


def _simulate_edxml(
    cfg: Configuration, adapter: str, host: str, port: int, store: str | None, hub_url: str | None
) -> None:
    """``hub simulate vpcp`` / ``qlvb``: the axis or the province's document system (edXML)."""
    from lienthong.devtools.simulator.axis import edxml_simulator_spec, run_edxml_simulator

    spec = edxml_simulator_spec(cfg, adapter, store=store, hub_url=hub_url)
    console.print(f"simulating {spec.name} ({spec.kind}) at http://{host}:{port}{spec.base_path}")
    for agency in spec.agencies.values():
        console.print(
            f"  plays {agency.code}: answers {', '.join(agency.answers) or 'nothing'}"
            + (", refuses changes" if agency.refuse_changes else "")
        )
    answers = (
        "status packages to the hub's intake at " + spec.hub.url
        if spec.hub
        else "status packages wait (no --hub-url)"
    )
    console.print(
        f"mailboxes in {spec.store}; "
        + (answers if spec.kind == "edxml-qlvb" else "answers into the senders' mailboxes")
    )
    run_edxml_simulator(spec, host, port)


@app.command()
def demo(
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the hub up afterwards to explore the API docs.")
    ] = False,
    count: Annotated[int, typer.Option(help="Number of sample dossiers to send.")] = 24,
    outage: Annotated[float, typer.Option(help="Seconds the land registry is down at the start.")] = 6.0,
    sign: Annotated[
        bool,
        typer.Option(
            "--sign/--no-sign",
            help="Sign what the land and axis adapters send, and require the simulated ministries' "
            "signatures, with development keys made for the demo.",
        ),
    ] = True,
) -> None:
    """Run the hub and the simulated ministries on loopback and watch dossiers and documents flow."""
    from lienthong.devtools.demo import run_demo

    with _errors():
        code = run_demo(console, count=count, outage_seconds=outage, keep_running=keep_running, sign=sign)
    raise typer.Exit(code)


# ---------------------------------------------------------------- operating


@app.command()
def send(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Payload file, or a JSON message.")
    ],
    url: Annotated[str, typer.Option(help="Hub base URL.")] = "http://127.0.0.1:8600",
    kind: Annotated[MessageKind, typer.Option()] = MessageKind.DOSSIER,
    sender: Annotated[str | None, typer.Option(help="Sender agency code.")] = None,
    sender_message_id: Annotated[
        str | None,
        typer.Option(
            "--sender-message-id",
            "--message-id",  # its name before API 1.1, still taken
            help="The sender's own id for the message (default: a new UUID).",
        ),
    ] = None,
    procedure: Annotated[str | None, typer.Option(help="Procedure code (mã TTHC).")] = None,
    dossier_code: Annotated[str | None, typer.Option(help="Dossier code (mã hồ sơ).")] = None,
    content_type: str = "application/xml",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="HUB_API_KEY", help="API key of the sending system.", show_default=False),
    ] = None,
) -> None:
    """Submit a file to a running hub over its REST API."""
    raw = file.read_bytes()
    if file.suffix == ".json":
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _fail(f"{file}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    else:
        if sender is None:
            raise _fail("--sender is required when sending a payload file")
        import base64

        body = {
            "sender_message_id": sender_message_id or str(uuid.uuid4()),
            "kind": kind.value,
            "sender": sender,
            "procedure_code": procedure,
            "dossier_code": dossier_code,
            "content_type": content_type,
            "payload_base64": base64.b64encode(raw).decode("ascii"),
        }
    import httpx  # only this command talks HTTP; every other `hub` command starts without it

    try:
        headers = {"X-API-Key": api_key} if api_key else {}
        response = httpx.post(f"{url.rstrip('/')}/api/v1/messages", json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the hub at {url}: {exc}") from exc
    data = response.json()
    if response.status_code != 202:
        raise _fail(
            f"{file}: HTTP {response.status_code} {data.get('title', '')}: {data.get('detail', data)}"
        )
    console.print_json(data=data)


def _print_record(record: MessageRecord) -> None:
    env = record.envelope
    console.print(
        f"[bold]{env.message_id}[/] {env.kind.value} from {env.sender} ({env.sender_message_id})\n"
        f"  dossier {env.dossier_code or '-'}  procedure {env.procedure_code or '-'}  "
        f"correlation {env.correlation_id}\n  route: {record.route.status.value} — {record.route.reason}"
    )
    table = Table("target", "state", "attempt", "started", "outcome", "error")
    for d in record.deliveries:
        target = f"{d.target}/{d.operation}" if d.operation else d.target
        if not d.history:
            table.add_row(target, d.state.value, "-", "-", "-", d.last_error or "")
        for a in d.history:
            table.add_row(
                target,
                d.state.value,
                str(a.number),
                a.started_at.strftime("%H:%M:%S.%f")[:-3],
                a.outcome.value if a.outcome else "running",
                (a.error or "")[:80],
            )
    console.print(table)


@app.command()
def status(
    message_id: Annotated[uuid.UUID, typer.Argument(help="Hub message id.")],
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Show a message's route, deliveries and attempt history (read from the database)."""
    from lienthong.compose import open_store

    with _errors():
        store = open_store(_load(config))
        try:
            _print_record(store.get_message(message_id))
        finally:
            store.close()


@app.command()
def trail(
    dossier_code: Annotated[str, typer.Argument(help="Dossier code (mã hồ sơ).")],
    config: ConfigDir = DEFAULT_CONFIG,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the trail as JSON (GET /api/v1/dossiers/{code}'s shape).")
    ] = False,
) -> None:
    """Show every message in and out for one dossier, across all systems, in time order (read from the
    database); exit 1 when there is none."""
    from lienthong.compose import open_store
    from lienthong.intake.rest_models import checked_dossier_code, trail_view
    from lienthong.trail import trail_rows, trail_table

    with _errors():
        cfg = _load(config)
        code = checked_dossier_code(dossier_code)
        store = open_store(cfg)
        try:
            entries = store.dossier_trail(code)
            healed = findings_table(store, code)  # what reconciliation found (docs/reconciliation.md)
        finally:
            store.close()
    if not entries:
        raise _fail(f"no message about dossier {code} in the hub's database")
    if as_json:
        public_url = cfg.hub.api.public_url
        view = trail_view(code, entries, public_url.rstrip("/") if public_url else None)
        sys.stdout.write(view.model_dump_json(indent=2) + "\n")
        return
    agencies = {name: adapter.agency for name, adapter in cfg.adapters.items()}
    console.print(trail_table(code, trail_rows(entries, agencies)))
    if healed is not None:
        console.print(healed)


documents_app = typer.Typer(help="Official documents (edXML): states per agency, unmatched status packages.")
app.add_typer(documents_app, name="documents")


@documents_app.command("show")
def documents_show(
    document_id: Annotated[
        str, typer.Argument(help="DocumentId, e.g. 000.00.00.G22,2015/09/30,7816/VPCP-TTĐT.")
    ],
    config: ConfigDir = DEFAULT_CONFIG,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print as JSON (GET /api/v1/documents/{document_id}'s shape).")
    ] = False,
) -> None:
    """Show one document: what it is, its state with each agency, related documents and every message
    about it, in time order (read from the database); exit 1 when there is none."""
    from lienthong.compose import open_store
    from lienthong.document_table import document_tables
    from lienthong.documents import document_report, document_trail
    from lienthong.intake.document_models import checked_document_id, document_view

    with _errors():
        cfg = _load(config)
        checked = checked_document_id(document_id)
        store = open_store(cfg)
        try:
            entries = document_trail(store, checked)
        finally:
            store.close()
    if not entries:
        raise _fail(f"no message about document {checked} in the hub's database")
    report = document_report(checked, entries)
    if as_json:
        public_url = cfg.hub.api.public_url
        view = document_view(report, public_url.rstrip("/") if public_url else None)
        sys.stdout.write(view.model_dump_json(indent=2, by_alias=True) + "\n")
        return
    for table in document_tables(report):
        console.print(table)


@documents_app.command("unmatched")
def documents_unmatched(
    config: ConfigDir = DEFAULT_CONFIG,
    limit: Annotated[int, typer.Option(help="At most this many, oldest first.")] = 100,
) -> None:
    """List status packages about documents the hub does not know (kept, delivered, reported here)."""
    from lienthong.compose import open_store
    from lienthong.document_table import unmatched_table

    with _errors():
        store = open_store(_load(config))
        try:
            entries = store.unmatched_status_packages(limit=limit)
        finally:
            store.close()
    if not entries:
        console.print("no unmatched status package")
        return
    console.print(unmatched_table(entries))


@app.command()
def replay(
    config: ConfigDir = DEFAULT_CONFIG,
    message: Annotated[
        list[uuid.UUID] | None, typer.Option("--id", help="Only this message (repeatable).")
    ] = None,
    target: Annotated[list[str] | None, typer.Option(help="Only deliveries to this adapter.")] = None,
    unroutable: Annotated[
        bool, typer.Option(help="Route unroutable messages again with the current routes.yaml instead.")
    ] = False,
    limit: int = 1000,
) -> None:
    """Re-queue dead deliveries (one, or by filter), or re-route unroutable messages."""
    from lienthong.compose import build_hub

    if not (message or target or unroutable):
        console.print("no filter given: re-queuing every dead delivery")
    with _errors():
        hub = build_hub(_load(config))
        try:
            if unroutable:
                ids = hub.intake.reroute_unroutable(message or (), limit=limit)
                _record_cli_action(hub.store, "reroute", ids, {"requested": [str(m) for m in message or ()]})
                console.print(f"re-routed {len(ids)} message(s)")
                return
            flt = MessageFilter(
                message_ids=message or (), targets=target or (), states=(DeliveryState.DEAD,), limit=limit
            )
            replayed = hub.store.replay_dead(flt)
            _record_cli_action(hub.store, "replay", replayed, {"targets": list(target or ())})
            console.print(f"re-queued {len(replayed)} dead deliver{'y' if len(replayed) == 1 else 'ies'}")
        finally:
            hub.store.close()


def _record_cli_action(store: object, action: str, done: object, detail: dict[str, object]) -> None:
    """The auditor's log records what an operator did from the command line (lienthong.audit.actions)."""
    from lienthong.audit.actions import cli_actor, record_operator_action

    engine = getattr(store, "engine", None)
    if engine is None:
        return
    items: list[str | None] = [str(item) for item in done] if isinstance(done, list | tuple | set) else []
    for item in items or [None]:
        record_operator_action(engine, cli_actor(), "cli", action, item, {**detail, "count": len(items)})


# ---------------------------------------------------------------- callers

callers_app = typer.Typer(help="Systems allowed to call the hub (callers in hub.yaml).", no_args_is_help=True)
app.add_typer(callers_app, name="callers")
app.add_typer(reconcile_app, name="reconcile")
app.command("report")(report)  # monthly statistics (docs/reports.md)


@callers_app.command("add-key")
def callers_add_key(agency: Annotated[str, typer.Argument(help="Agency code of the caller.")]) -> None:
    """Make a new API key: shown once here; only its SHA-256 digest goes into hub.yaml."""
    import secrets

    from lienthong.intake.callers import api_key_digest

    key = secrets.token_urlsafe(32)
    console.print(
        f"New API key for {escape(agency)} — shown only now; hand it to the calling system "
        "(e.g. in its environment), keep no other copy:",
        highlight=False,
    )
    console.print(f"  {key}", highlight=False, soft_wrap=True)
    console.print(
        f"\nAdd this line under the caller with agency {escape(agency)} in hub.yaml (callers:), "
        "keeping older digests until every system uses the new key:",
        highlight=False,
    )
    console.print(f'  api_key_sha256: ["{api_key_digest(key)}"]', highlight=False, soft_wrap=True)


from lienthong.console.cli import users_app  # noqa: E402  (web console users, docs/console.md)

app.add_typer(users_app, name="users")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
