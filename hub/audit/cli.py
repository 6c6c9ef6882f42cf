"""``hub audit …`` and ``hub archive``: the auditor's and the operator's commands on the log.

Registered in lienthong.cli with one line each. Every message is one line, Vietnamese then English;
a failed check exits 1, a configuration problem 2 (as the rest of ``hub``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong.audit.bundle_cli import register as register_bundle_commands
from lienthong.cli_errors import cli_errors as _errors
from lienthong.config.files import load_configuration
from lienthong.config.models import Configuration

if TYPE_CHECKING:  # imported when a command runs: `hub --help` stays free of SQLAlchemy
    from cryptography import x509

    from lienthong.audit.log import AuditLog

audit_app = typer.Typer(
    help="Sổ kiểm toán / the auditor's record: verify the log, its signed heads, export bundles.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

ConfigDir = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="HUB_CONFIG", help="Configuration directory (hub.yaml, adapters/)."
    ),
]
DEFAULT_CONFIG = Path("config")


@contextmanager
def _opened(config_dir: Path) -> Iterator[tuple[Configuration, AuditLog]]:
    from lienthong.audit.log import AuditLog
    from lienthong.compose import open_store

    config = load_configuration(config_dir)
    store = open_store(config)
    try:
        yield config, AuditLog(store.engine)
    finally:
        store.close()


@audit_app.command("verify")
def verify(
    config: ConfigDir = DEFAULT_CONFIG,
    sources: Annotated[
        bool, typer.Option(help="Also check entries against the rows and payloads they were sealed from.")
    ] = True,
    trust: Annotated[
        list[str] | None,
        typer.Option(help="SHA-256 fingerprint of a certificate heads must be signed with (repeatable)."),
    ] = None,
) -> None:
    """Recompute the whole log and name the first altered, missing or reordered entry (exit 1)."""
    from lienthong.audit.verify import verify_log

    with _errors(), _opened(config) as (cfg, audit_log):
        pins = frozenset(t.replace(":", "").lower() for t in trust) if trust else None
        report = verify_log(audit_log, sources=sources, trusted_fingerprints=pins, tsa_roots=_tsa_roots(cfg))
    if report.ok:
        console.print(
            f"sổ kiểm toán toàn vẹn / the log verifies: {report.size} entries, "
            f"{report.heads} signed head(s), {report.timestamps} timestamp(s), "
            f"{report.sources_checked} source row(s) checked",
            highlight=False,
        )
        if report.heads == 0 and report.size:
            console.print(
                "no signed head yet / chưa có đầu cây đã ký: nothing binds the hub to these entries"
            )
        return
    first = report.first
    assert first is not None
    err.print(f"[bold red]KHÔNG TOÀN VẸN / NOT INTACT:[/] {escape(first.message)}", highlight=False)
    total = len(report.problems) + report.more_problems
    if total > 1:
        err.print(f"{total} problem(s) in all / vấn đề; then:", highlight=False)
        for problem in sorted(report.problems, key=lambda p: (p.index is None, p.index or 0))[1:10]:
            err.print(f"  {escape(problem.message)}", highlight=False)
    raise typer.Exit(1)


def _tsa_roots(config: Configuration) -> list[x509.Certificate]:
    from cryptography import x509

    settings = config.hub.audit.timestamping
    if settings is None or settings.certificate_file is None:
        return []
    path = settings.certificate_file
    return x509.load_pem_x509_certificates((path if path.is_absolute() else config.root / path).read_bytes())


@audit_app.command("seal")
def seal(config: ConfigDir = DEFAULT_CONFIG) -> None:
    """Seal what is not sealed yet and sign a head now (the running hub does both on its own)."""
    from lienthong.audit.seal import head_key, make_head

    with _errors(), _opened(config) as (cfg, audit_log):
        sealed = 0
        while count := audit_log.seal():
            sealed += count
        key = head_key(cfg)
        head = make_head(audit_log, key) if key is not None else None
    console.print(f"sealed {sealed} entr{'y' if sealed == 1 else 'ies'} / đã niêm phong", highlight=False)
    if head is not None:
        console.print(f"signed head of size {head.head.size}, root {head.head.root.hex()}", highlight=False)
    elif key is None:
        console.print("no signing key (audit.signing or keys.signing): no head signed / không có khóa ký")


@audit_app.command("heads")
def heads(config: ConfigDir = DEFAULT_CONFIG, last: int = 20) -> None:
    """The signed tree heads, newest last."""
    from lienthong.audit.heads import TreeHead, certificate_fingerprint

    with _errors(), _opened(config) as (_cfg, audit_log):
        stored = audit_log.heads()[-last:]
    table = Table("size", "at (UTC)", "root", "head hash", "signer (SHA-256)", "timestamp")
    for head in stored:
        table.add_row(
            str(head.size),
            head.at.isoformat(timespec="seconds"),
            head.root.hex()[:16] + "…",
            TreeHead.from_canonical(head.head).hash().hex()[:16] + "…",
            certificate_fingerprint(head.certificate)[:16] + "…",
            "yes" if head.timestamp_token else "-",
        )
    console.print(table)


def archive(
    config: ConfigDir = DEFAULT_CONFIG,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go, write and remove nothing.")
    ] = False,
) -> None:
    """Write payloads and rows older than their retention (audit: in hub.yaml) to files, then remove them."""
    from lienthong.audit.retention import archive_old

    with _errors(), _opened(config) as (cfg, audit_log):
        result = archive_old(audit_log, cfg.hub.audit, root=cfg.root, dry_run=dry_run)
    verb = "would archive" if dry_run else "archived"
    console.print(
        f"{verb} {result.payloads} payload(s) and {result.messages} message(s) with their rows"
        + (f" to {result.path}" if result.path else "")
        + " / lưu trữ",
        highlight=False,
    )


register_bundle_commands(audit_app)  # hub audit export | verify-bundle (lienthong.audit.bundle_cli)
