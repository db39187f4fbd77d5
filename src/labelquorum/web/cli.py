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

UrlOpt = Annotated[str | None, typer.Option(
    help="Base URL of the server, for the link (default: web.public_url, else "
         "http://127.0.0.1:8000).")]
LOCAL = {"127.0.0.1", "localhost", "::1"}

user_app = typer.Typer(no_args_is_help=True,
                       help="Accounts of the web app: annotators, reviewers, admins.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _base(project, url: str | None) -> str:
    return (url or project.config.web.public_url or "http://127.0.0.1:8000").rstrip("/")


def register(app: typer.Typer, clean: Callable, open_project: Callable, console) -> None:
    """Add ``serve`` and the ``user`` group to the main CLI."""

    @app.command()
    @clean
    def serve(project: ProjectOpt = Path("."),
              host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
              port: Annotated[int, typer.Option(help="Port to listen on (0: any free one; "
                                                     "the one taken is printed).")] = 8000):
        """Serve the web app: annotate, review, dashboard and the JSON API."""
        from . import listen
        from . import serve as run_server

        p = open_project(project)
        sock = listen(host, port)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        console.print(f"Serving [bold]{p.config.project.name}[/] on http://{shown}:{bound}/ "
                      "(Ctrl-C stops)", highlight=False)
        if p.config.web.public_url is None and host not in LOCAL:
            console.print("[yellow]note:[/] web.public_url is not set: invite links can only "
                          "be made from this machine (http://127.0.0.1); set it to the "
                          "address people open this server at.", highlight=False)
        run_server(p, sock=sock)

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
            url: UrlOpt = None,
            project: ProjectOpt = Path(".")):
        """Create an account (asks for a password, or prints an invite link)."""
        from .auth import Accounts

        password = None if invite else _password(password_stdin)
        p = open_project(project)
        secret = Accounts(p.store).add_user(name, role, password)
        if secret:
            console.print(f"Created {role} [bold]{name}[/]. Invite link (valid 72 hours, "
                          f"once):\n{_base(p, url)}/invite?token={secret}", soft_wrap=True)
        else:
            console.print(f"Created {role} [bold]{name}[/].")

    @user_app.command("list")
    @clean
    def list_(project: ProjectOpt = Path(".")):
        """List the accounts, their roles and states (active, paused, deactivated)."""
        from .auth import Accounts

        for u in Accounts(open_project(project).store).users():
            state = "deactivated" if not u["active"] else "paused" if u["paused"] else "active"
            console.print(f"{u['name']:<24} {u['role']:<10} {state}", highlight=False)

    @user_app.command("token")
    @clean
    def token(name: Annotated[str, typer.Argument(help="User the token acts as.")],
              label: Annotated[str, typer.Option(help="A name for the token.")] = "script",
              scope: Annotated[str | None, typer.Option(
                  help="read, annotate, review or admin, within the user's role "
                       "(default: the role's).")] = None,
              days: Annotated[float, typer.Option(
                  help="Days until it expires (0: never).", min=0)] = 90.0,
              project: ProjectOpt = Path(".")):
        """Create an API token for scripts (printed once)."""
        from .auth import Accounts

        accounts = Accounts(open_project(project).store)
        console.print(accounts.create_token(accounts.user_id(name), label, scope,
                                            days or None), soft_wrap=True)

    @user_app.command("tokens")
    @clean
    def tokens(name: Annotated[str | None, typer.Argument(
                   help="Only this user's tokens (default: everyone's).")] = None,
               project: ProjectOpt = Path(".")):
        """List API tokens: id, user, name, scope, expiry, state."""
        from .auth import Accounts

        accounts = Accounts(open_project(project).store)
        rows = accounts.tokens(None if name is None else accounts.user_id(name))
        for t in rows:
            state = "revoked" if t["revoked"] else "expired" if t["expired"] else "live"
            expires = t["expires"].strftime("%Y-%m-%d") if t["expires"] else "never"
            console.print(f"{t['id']:<6} {t['user']:<20} {t['name']:<20} {t['scope']:<9} "
                          f"{expires:<10} {state}", highlight=False)
        if not rows:
            console.print("No API tokens.")

    @user_app.command("revoke")
    @clean
    def revoke(token_id: Annotated[int, typer.Argument(
                   help="The token's id (see 'labelquorum user tokens').")],
               project: ProjectOpt = Path(".")):
        """Revoke an API token for good."""
        from .auth import Accounts

        Accounts(open_project(project).store).revoke_token(token_id)
        console.print(f"Revoked API token {token_id}.")

    def _change(name: str, project: Path, done: str, **change) -> None:
        from .auth import Accounts

        accounts = Accounts(open_project(project).store)
        uid = accounts.user_id(name)
        for method, value in change.items():
            getattr(accounts, method)(uid, value)
        console.print(done, highlight=False)

    @user_app.command("role")
    @clean
    def role(name: Annotated[str, typer.Argument(help="User name.")],
             new_role: Annotated[str, typer.Argument(metavar="ROLE",
                                                     help="annotator, reviewer or admin.")],
             project: ProjectOpt = Path(".")):
        """Change a user's role."""
        _change(name, project, f"{name} is now {new_role}.", set_role=new_role)

    @user_app.command("pause")
    @clean
    def pause(name: Annotated[str, typer.Argument(help="User name.")],
              project: ProjectOpt = Path(".")):
        """Pause a user: no items; their sessions and tokens read nothing until resumed."""
        _change(name, project, f"Paused {name}.", set_paused=True)

    @user_app.command("resume")
    @clean
    def resume(name: Annotated[str, typer.Argument(help="User name.")],
               project: ProjectOpt = Path(".")):
        """Resume a paused user."""
        _change(name, project, f"Resumed {name}.", set_paused=False)

    @user_app.command("deactivate")
    @clean
    def deactivate(name: Annotated[str, typer.Argument(help="User name.")],
                   project: ProjectOpt = Path(".")):
        """Deactivate an account: no login, sessions end, tokens open nothing."""
        _change(name, project, f"Deactivated {name}.", set_active=False)

    @user_app.command("activate")
    @clean
    def activate(name: Annotated[str, typer.Argument(help="User name.")],
                 project: ProjectOpt = Path(".")):
        """Reactivate a deactivated account."""
        _change(name, project, f"Reactivated {name}.", set_active=True)

    @user_app.command("password")
    @clean
    def password(name: Annotated[str, typer.Argument(help="User name.")],
                 password_stdin: Annotated[bool, typer.Option(
                     "--password-stdin", help="Read the password from standard input.")]
                 = False,
                 project: ProjectOpt = Path(".")):
        """Set a new password (asks for it); the user's sessions end."""
        _change(name, project, f"Set a new password for {name}.",
                set_password=_password(password_stdin))

    @user_app.command("reset")
    @clean
    def reset(name: Annotated[str, typer.Argument(help="User name.")],
              url: UrlOpt = None,
              project: ProjectOpt = Path(".")):
        """Forget a password and print a one-time link to set a new one."""
        from .auth import Accounts

        p = open_project(project)
        accounts = Accounts(p.store)
        secret = accounts.reset_password(accounts.user_id(name))
        console.print(f"The password of [bold]{name}[/] no longer works. Link to set a new "
                      f"one (valid 72 hours, once):\n{_base(p, url)}/invite?token={secret}",
                      soft_wrap=True)

    app.add_typer(user_app, name="user")
