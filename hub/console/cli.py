"""``hub users``: who may sign in to the web console (docs/console.md).

A password comes from a prompt (asked twice, never echoed), a file (``--password-file``, its first line)
or the environment variable ``HUB_CONSOLE_PASSWORD``: never from the command line, where other users of
the machine can read it, and never from YAML. Only its argon2 hash is stored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong.console.users import ConsoleUsers, Role
from lienthong.errors import HubError

PASSWORD_ENV = "HUB_CONSOLE_PASSWORD"

users_app = typer.Typer(help="People who may sign in to the web console (/console).", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

ConfigDir = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="HUB_CONFIG", help="Configuration directory (hub.yaml, …)."),
]


def _users(config: Path) -> tuple[ConsoleUsers, object]:
    from lienthong.compose import open_store
    from lienthong.config.files import load_configuration

    store = open_store(load_configuration(config))
    return ConsoleUsers(store.engine), store


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise HubError(f"{password_file}: cannot read the password file: {exc.strerror}") from None
        if not lines or not lines[0]:
            raise HubError(f"{password_file}:1: the password file is empty (tệp mật khẩu trống)")
        return lines[0]
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    password: str = typer.prompt("Mật khẩu / Password", hide_input=True, confirmation_prompt=True)
    return password


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(1)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")],
    role: Annotated[Role, typer.Option(help="admin, operator (replays, re-routes) or auditor (read-only).")],
    password_file: Annotated[
        Path | None,
        typer.Option(
            help=f"Read the password from this file's first line (else ${PASSWORD_ENV}, else a prompt)."
        ),
    ] = None,
    config: ConfigDir = Path("config"),
) -> None:
    """Add a console user with a role; the password is asked for, or read from a file or the environment."""
    try:
        password = _password(password_file)
        users, store = _users(config)
        try:
            user = users.add(name, role, password)
        finally:
            store.close()  # type: ignore[attr-defined]
    except HubError as exc:
        raise _fail(exc.message) from exc
    console.print(f"added {escape(user.name)} ({user.role.value}) / đã thêm người dùng", highlight=False)


@users_app.command("list")
def users_list(config: ConfigDir = Path("config")) -> None:
    """List console users, their roles and whether they are disabled."""
    try:
        users, store = _users(config)
        try:
            rows = users.users()
        finally:
            store.close()  # type: ignore[attr-defined]
    except HubError as exc:
        raise _fail(exc.message) from exc
    table = Table("name", "role", "created", "disabled")
    for user in rows:
        table.add_row(
            escape(user.name),
            user.role.value,
            user.created_at.isoformat(timespec="seconds"),
            user.disabled_at.isoformat(timespec="seconds") if user.disabled_at else "",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")], config: ConfigDir = Path("config")
) -> None:
    """Refuse a user's sign-ins from now on and end their open sessions (the user stays on the record)."""
    try:
        users, store = _users(config)
        try:
            users.disable(name)
        finally:
            store.close()  # type: ignore[attr-defined]
    except HubError as exc:
        raise _fail(exc.message) from exc
    console.print(f"disabled {escape(name)} / đã khóa người dùng", highlight=False)
