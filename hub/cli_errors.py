"""How every ``hub`` command turns the hub's errors into one clear message and an exit code.

Shared by the main command and its sub-apps (``hub audit``, …), which the main command imports: a
sub-app cannot import this from ``lienthong.cli`` without a cycle, and a copy would drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from lienthong.errors import ConfigError, HubError

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Configuration problems (exit 2, one line each, at their file and line) and the hub's errors
    (exit 1, one line), never a traceback."""
    try:
        yield
    except ConfigError as exc:
        for issue in exc.issues:
            # escaped: the "[key]" in an issue is not rich markup, and would vanish as such
            err.print(f"[red]{escape(str(issue))}[/]", highlight=False, soft_wrap=True)
        err.print(f"{len(exc.issues)} configuration error(s) / lỗi cấu hình", highlight=False)
        raise typer.Exit(2) from exc
    except HubError as exc:
        raise fail(exc.message) from exc
