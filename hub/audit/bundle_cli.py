"""``hub audit export`` and ``hub audit verify-bundle``: a dossier's record out of the hub, and checked
on a machine that has neither the hub's database nor its configuration.

Registered on the ``hub audit`` group by :func:`register` (one line in lienthong.audit.cli). Messages are
one line each, Vietnamese then English; a bundle that does not verify exits 1, naming each failing part.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from cryptography import x509

    from lienthong.audit.bundle import BundleReport
    from lienthong.audit.heads import SignedHead
    from lienthong.audit.log import StoredHead
    from lienthong.config.models import Configuration

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("verify-bundle")(verify_bundle_command)
    app.command("export")(export_command)
    app.command("tsa-simulator")(tsa_simulator_command)


def tsa_simulator_command(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the development TSA keeps its keys (made on first use).")
    ] = Path("var/dev-tsa"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 3161,
) -> None:
    """Run a development RFC 3161 time-stamping authority (for the demo and tests; never production)."""
    import uvicorn

    from lienthong.devtools.background import bound_socket
    from lienthong.devtools.simulator.tsa import DevTsa

    tsa = DevTsa.load_or_create(directory)
    sock = bound_socket(host) if port == 0 else None
    if sock is not None:
        host, port = sock.getsockname()[:2]
    console.print(
        f"TSA phát triển / development TSA at http://{host}:{port}/ — in hub.yaml: audit.timestamping: "
        f"{{url: http://{host}:{port}/, certificate_file: {directory / 'tsa-chain.pem'}}}",
        highlight=False,
        soft_wrap=True,
    )
    server = uvicorn.Server(uvicorn.Config(tsa.app(), host=host, port=port, log_level="warning"))
    server.run(sockets=[sock] if sock is not None else None)


def verify_bundle_command(
    bundle: Annotated[Path, typer.Argument(help="The bundle (.zip) to check.", show_default=False)],
    trust: Annotated[
        list[str] | None,
        typer.Option(
            help="SHA-256 fingerprint of the certificate the hub signs heads with, as its operator published "
            "it (repeatable). Without it the bundle's own certificates are taken, and the report says so."
        ),
    ] = None,
    tsa_root: Annotated[
        list[Path] | None,
        typer.Option(help="PEM file of a time-stamping authority's root you trust (repeatable)."),
    ] = None,
) -> None:
    """Check an audit bundle offline: entries, proofs, heads, timestamps, every byte (exit 1 if not)."""
    from cryptography import x509

    from lienthong.audit.bundle import verify_bundle

    pins = frozenset(t.replace(":", "").lower() for t in trust) if trust else None
    roots: list[x509.Certificate] | None = None
    if tsa_root:
        roots = []
        for path in tsa_root:
            try:
                roots.extend(x509.load_pem_x509_certificates(path.read_bytes()))
            except (OSError, ValueError) as exc:
                err.print(f"{escape(str(path))}: không đọc được chứng thư / unreadable certificate: {exc}")
                raise typer.Exit(2) from exc
    report = verify_bundle(bundle, hub=pins, tsa_roots=roots)
    if not report.ok:
        for problem in report.problems:
            err.print(
                f"[bold red]KHÔNG HỢP LỆ / NOT VALID:[/] {escape(str(bundle))}: {escape(problem.what)}: "
                f"{escape(problem.message)}",
                highlight=False,
                soft_wrap=True,
            )
        err.print(
            f"{len(report.problems)} vấn đề / problem(s): the bundle proves nothing until they are explained",
            highlight=False,
        )
        raise typer.Exit(1)
    _print_report(report)


def _print_report(report: BundleReport) -> None:
    subject = ", ".join(f"{k} {v}" for k, v in sorted(report.subject.items()))
    anchor = report.heads[-1]
    console.print(
        f"gói bằng chứng hợp lệ / the bundle verifies: {len(report.entries)} entr"
        f"{'y' if len(report.entries) == 1 else 'ies'}{' for ' + subject if subject else ''}, in the log of "
        f"{anchor.size} entries signed at {anchor.at.isoformat(timespec='seconds')}",
        highlight=False,
    )
    entries = Table("leaf", "kind", "at", "SHA-256 of the entry")
    for entry in report.entries:
        entries.add_row(str(entry.leaf_index), entry.kind, entry.at, entry.sha256[:16] + "…")
    console.print(entries)
    heads = Table("head size", "signed at (UTC)", "root", "signer (SHA-256)", "timestamp (TSA time)")
    for head in report.heads:
        stamp = "-"
        if head.timestamp is not None:
            stamp = f"{head.timestamp.gen_time.isoformat(timespec='seconds')} {head.timestamp.tsa}"
        heads.add_row(
            str(head.size), head.at.isoformat(timespec="seconds"), head.root[:16] + "…", head.signer, stamp
        )
    console.print(heads)
    if not report.hub_pinned:
        console.print(
            "chưa đối chiếu chứng thư / signer not pinned: compare the signer's SHA-256 above with the "
            "one the hub's operator published, or pass it with --trust",
            highlight=False,
        )
    if any(h.timestamp is not None for h in report.heads) and not report.tsa_pinned:
        console.print(
            "chưa đối chiếu TSA / TSA root not pinned: the bundle's own TSA root was used; pass the root you "
            "trust with --tsa-root",
            highlight=False,
        )


def export_command(
    dossier: Annotated[str, typer.Option("--dossier", help="The dossier code whose record to export.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the bundle (.zip).")],
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", envvar="HUB_CONFIG", help="Configuration directory (hub.yaml, adapters/)."
        ),
    ] = Path("config"),
) -> None:
    """Write a dossier's entries, their proofs, the signed heads, certificates and timestamps to a bundle."""
    from lienthong.audit import merkle
    from lienthong.audit.bundle import BundleEntry, select_heads, write_bundle
    from lienthong.audit.cli import _opened
    from lienthong.audit.heads import TreeHead
    from lienthong.cli_errors import cli_errors as _errors

    with _errors(), _opened(config) as (cfg, audit_log):
        found = {e.leaf_index: e for e in audit_log.entries_for(dossier_code=dossier)}
        ids = sorted({e.message_id for e in found.values() if e.message_id is not None})
        found.update((e.leaf_index, e) for e in audit_log.entries_with_message_ids(ids))
        if not found:
            err.print(
                f"không có mục nào cho hồ sơ / no entry for dossier {escape(dossier)} in the log",
                highlight=False,
            )
            raise typer.Exit(1)
        stored_heads = audit_log.heads()
        signed = [_signed(h) for h in stored_heads]
        newest = max((h.head.size for h in signed), default=0)
        covered = sorted(i for i in found if i < newest)
        waiting = len(found) - len(covered)
        if not covered:
            err.print(
                f"chưa có đầu cây đã ký nào bao gồm các mục này / no signed head covers the {len(found)} "
                "entries yet: wait for the next head or run 'hub audit seal'",
                highlight=False,
            )
            raise typer.Exit(1)
        chosen = select_heads(signed, covered)
        tree = merkle.MerkleTree(audit_log.leaf_hashes(chosen[-1].head.size))
        tokens = {
            TreeHead.from_canonical(h.head).hash(): h.timestamp_token
            for h in stored_heads
            if h.timestamp_token is not None
        }
        tsa_certificates = _tsa_certificates(cfg)
        write_bundle(
            output,
            entries=[BundleEntry(i, found[i].entry) for i in covered],
            heads=chosen,
            tree=tree,
            timestamps=tokens,
            tsa_certificates=tsa_certificates,
            subject={"dossier_code": dossier},
        )
    console.print(
        f"đã xuất / exported {len(covered)} entr{'y' if len(covered) == 1 else 'ies'} of dossier "
        f"{escape(dossier)} under {len(chosen)} signed head(s) to {escape(str(output))}; check it with: "
        f"hub audit verify-bundle {escape(str(output))} --trust {_fingerprint(chosen[-1])}",
        highlight=False,
        soft_wrap=True,
    )
    if any(h.head.hash() in tokens for h in chosen) and not tsa_certificates:
        console.print(
            "audit.timestamping.certificate_file is not set: the bundle carries the timestamps but not "
            "the TSA's root; the auditor needs --tsa-root / thiếu chứng thư gốc của TSA",
            highlight=False,
        )
    if waiting:
        console.print(
            f"{waiting} newer entr{'y is' if waiting == 1 else 'ies are'} not under a signed head yet "
            "and left out / chưa được ký, bỏ qua",
            highlight=False,
        )


def _fingerprint(signed: SignedHead) -> str:
    from lienthong.audit.heads import certificate_fingerprint

    return certificate_fingerprint(signed.certificate)


def _signed(stored: StoredHead) -> SignedHead:
    """A stored head as a SignedHead; the algorithm follows from the certificate's key (heads.sign_head)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    from lienthong.audit.heads import SignedHead, TreeHead

    key = x509.load_der_x509_certificate(stored.certificate).public_key()
    algorithm: Any = "rsa-pkcs1v15-sha256" if isinstance(key, rsa.RSAPublicKey) else "ecdsa-sha256"
    return SignedHead(TreeHead.from_canonical(stored.head), algorithm, stored.signature, stored.certificate)


def _tsa_certificates(config: Configuration) -> list[x509.Certificate]:
    """The TSA's certificates from ``audit.timestamping.certificate_file``, so the bundle carries them."""
    from cryptography import x509

    settings = config.hub.audit.timestamping
    if settings is None or settings.certificate_file is None:
        return []
    path = settings.certificate_file
    return x509.load_pem_x509_certificates((path if path.is_absolute() else config.root / path).read_bytes())
