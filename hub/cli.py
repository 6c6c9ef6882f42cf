"""The ``hub`` command. Errors reach the user here as one clear line (or one per config problem)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import Configuration
from .configfile import load_configuration, write_json_schemas
from .envelope import MessageKind
from .errors import ConfigError, HubError
from .store import DeliveryState, MessageFilter, MessageRecord

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


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn the hub's errors into CLI messages with an exit code, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        for issue in exc.issues:
            # escaped: the "[key]" in an issue is not rich markup, and would vanish as such
            err.print(f"[red]{escape(str(issue))}[/]", highlight=False, soft_wrap=True)
        err.print(f"{len(exc.issues)} configuration error(s) / lỗi cấu hình", highlight=False)
        raise typer.Exit(2) from exc
    except HubError as exc:
        raise _fail(exc.message) from exc


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
    from .adapter import discover_plugins
    from .compose import check_configuration

    with _errors():
        cfg = _load(config)
        check_configuration(cfg, discover_plugins())
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
    from .configdoc import configuration_reference

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(configuration_reference(), encoding="utf-8")
    console.print(f"wrote {out}")


# ---------------------------------------------------------------- database


@db_app.command("upgrade")
def db_upgrade(config: ConfigDir = DEFAULT_CONFIG) -> None:
    """Migrate the configured database to the current schema (run once per release on PostgreSQL)."""
    from .store.migrate import current_revision, upgrade
    from .store.sql import create_store_engine

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
) -> None:
    """Run the REST API and the delivery workers."""
    import uvicorn

    from .api import create_app
    from .compose import build_hub

    _setup_logging(verbose)
    with _errors():
        cfg = _load(config)
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
            timeout_graceful_shutdown=int(cfg.hub.workers.shutdown_grace.total_seconds()) + 5,
        )
    finally:
        hub.store.close()


@app.command()
def worker(
    config: ConfigDir = DEFAULT_CONFIG, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False
) -> None:
    """Run delivery workers only (more processes sharing one PostgreSQL database)."""
    from .compose import build_hub

    _setup_logging(verbose)
    with _errors():
        hub = build_hub(_load(config))
    hub.workers.start()
    console.print(f"workers running as {hub.workers.identity}; Ctrl-C stops them gracefully")
    _wait_for_signal()
    hub.close()


@app.command()
def simulate(
    plugin: Annotated[
        str, typer.Argument(help="Adapter plugin whose ministry system to simulate, e.g. land.")
    ],
    host: str = "127.0.0.1",
    port: int = 8701,
) -> None:
    """Run an adapter's ministry simulator (a real SOAP service) on loopback."""
    from .adapter import discover_plugins
    from .simulator import run_simulator

    with _errors():
        spec = discover_plugins().get(plugin)
        if spec is None or spec.simulator is None:
            raise _fail(f"no simulator for adapter plugin '{plugin}'")
        console.print(f"simulating {spec.simulator.name} at http://{host}:{port}{spec.simulator.path}")
        run_simulator(spec.simulator, host, port)


@app.command()
def demo(
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the hub up afterwards to explore the API docs.")
    ] = False,
    count: Annotated[int, typer.Option(help="Number of sample dossiers to send.")] = 24,
    outage: Annotated[float, typer.Option(help="Seconds the land registry is down at the start.")] = 6.0,
) -> None:
    """Run the hub and a simulated land registry on loopback and watch dossiers flow through."""
    from .demo import run_demo

    with _errors():
        code = run_demo(console, count=count, outage_seconds=outage, keep_running=keep_running)
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
    message_id: Annotated[str | None, typer.Option(help="Sender's message id (default: new UUID).")] = None,
    procedure: Annotated[str | None, typer.Option(help="Procedure code (mã TTHC).")] = None,
    dossier_code: Annotated[str | None, typer.Option(help="Dossier code (mã hồ sơ).")] = None,
    content_type: str = "application/xml",
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
            "message_id": message_id or str(uuid.uuid4()),
            "kind": kind.value,
            "sender": sender,
            "procedure_code": procedure,
            "dossier_code": dossier_code,
            "content_type": content_type,
            "payload_base64": base64.b64encode(raw).decode("ascii"),
        }
    try:
        response = httpx.post(f"{url.rstrip('/')}/api/v1/messages", json=body, timeout=30)
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
        if not d.history:
            table.add_row(d.target, d.state.value, "-", "-", "-", d.last_error or "")
        for a in d.history:
            table.add_row(
                d.target,
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
    from .compose import open_store

    with _errors():
        store = open_store(_load(config))
        try:
            _print_record(store.get_message(message_id))
        finally:
            store.close()


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
    from .compose import build_hub

    if not (message or target or unroutable):
        console.print("no filter given: re-queuing every dead delivery")
    with _errors():
        hub = build_hub(_load(config))
        try:
            if unroutable:
                ids = hub.intake.reroute_unroutable(message or (), limit=limit)
                console.print(f"re-routed {len(ids)} message(s)")
                return
            flt = MessageFilter(
                message_ids=message or (), targets=target or (), states=(DeliveryState.DEAD,), limit=limit
            )
            replayed = hub.store.replay_dead(flt)
            console.print(f"re-queued {len(replayed)} dead deliver{'y' if len(replayed) == 1 else 'ies'}")
        finally:
            hub.store.close()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
