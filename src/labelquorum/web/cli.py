"""``labelquorum serve`` and ``labelquorum user ...``: thin shells over the web package.

Nothing here imports FastAPI until ``serve`` runs, so the core CLI works without the
``web`` extra.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

ProjectOpt = Annotated[Path, typer.Option("--project", "-p",
                                          help="Project directory (default: current).")]

user_app = typer.Typer(no_args_is_help=True,
                       help="Accounts of the web app: annotators, reviewers, admins.")


def register(app: typer.Typer, clean: Callable, open_project: Callable, console) -> None:
    """Add ``serve`` and the ``user`` group to the main CLI."""

    @app.command()
    @clean
    def serve(project: ProjectOpt = Path("."),
              host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
              port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000):
        """Serve the web app: annotate, review, dashboard and the JSON API."""
        from . import serve as run_server

        p = open_project(project)
        console.print(f"Serving [bold]{p.config.project.name}[/] on http://{host}:{port}/ "
                      "(Ctrl-C stops)")
        run_server(p, host=host, port=port)

    @user_app.command("add")
    @clean
    def add(name: Annotated[str, typer.Argument(help="User name (no spaces).")],
            role: Annotated[str, typer.Option(help="annotator, reviewer or admin.")]
            = "annotator",
            password_stdin: Annotated[bool, typer.Option(
                "--password-stdin", help="Read the password from standard input.")] = False,
            invite: Annotated[bool, typer.Option(
                "--invite", help="Print a one-time invite link instead of setting a "
                                 "password.")] = False,
            url: Annotated[str, typer.Option(help="Base URL of the server, for the invite "
                                                  "link.")] = "http://127.0.0.1:8000",
            project: ProjectOpt = Path(".")):
        """Create an account (asks for a password, or prints an invite link)."""
        from .auth import Accounts

        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif not invite:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        p = open_project(project)
        secret = Accounts(p.store).add_user(name, role, password)
        if secret:
            console.print(f"Created {role} [bold]{name}[/]. Invite link (valid 72 hours, "
                          f"once):\n{url.rstrip('/')}/invite?token={secret}", soft_wrap=True)
        else:
            console.print(f"Created {role} [bold]{name}[/].")

    @user_app.command("list")
    @clean
    def list_(project: ProjectOpt = Path(".")):
        """List the accounts and their roles."""
        from .auth import Accounts

        for u in Accounts(open_project(project).store).users():
            state = "paused" if u["paused"] else "active"
            console.print(f"{u['name']:<24} {u['role']:<10} {state}", highlight=False)

    @user_app.command("token")
    @clean
    def token(name: Annotated[str, typer.Argument(help="User the token acts as.")],
              label: Annotated[str, typer.Option(help="A name for the token.")] = "script",
              project: ProjectOpt = Path(".")):
        """Create an API token for scripts (printed once)."""
        from .auth import Accounts

        accounts = Accounts(open_project(project).store)
        console.print(accounts.create_token(accounts.user_id(name), label), soft_wrap=True)

    app.add_typer(user_app, name="user")
