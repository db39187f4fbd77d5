"""A throwaway PostgreSQL server for the test suite.

`TemporaryPostgresServer` runs `initdb` into a temporary directory, starts the
server on a free loopback port with trust authentication, and removes it all on
exit. `create_database` and `drop_database` give each test its own database.

The fixtures in `conftest.py` use this module; set `LABELQUORUM_TEST_POSTGRES_URL`
to run the tests against an existing server instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from sqlalchemy.engine import make_url

ENV_URL = "LABELQUORUM_TEST_POSTGRES_URL"
INSTALL_HINT = (
    "Install the server with `apt-get install postgresql` (Debian/Ubuntu), or set "
    f"{ENV_URL} to the URL of a server the tests may create databases on."
)
SUPERUSER = "postgres"
DATABASE = "labelquorum_test"


class PostgresUnavailable(Exception):
    """No PostgreSQL server binaries can be used here; the tests skip (or fail under CI)."""


def find_bin_dir() -> Path:
    """Return the directory holding `initdb` and `pg_ctl`, newest Debian version first."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: _version_key(Path(d).parent.name),
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        directory = Path(candidate)
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise PostgresUnavailable(
        f"No PostgreSQL server binaries (initdb, pg_ctl) found. {INSTALL_HINT}"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def sqlalchemy_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver named, as SQLAlchemy expects it."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """Return `url` in the `postgresql://` form that psycopg and libpq accept."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """Return `url` pointing at another database on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url` and return its SQLAlchemy URL."""
    from psycopg import sql

    with _admin_connection(server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return sqlalchemy_url(with_database(server_url, name))


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name`, closing any connections a test left open (PostgreSQL 13+)."""
    from psycopg import sql

    with _admin_connection(server_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _admin_connection(server_url: str):
    try:
        import psycopg
    except ImportError as exc:
        raise PostgresUnavailable(
            "The PostgreSQL tests need psycopg 3; install it with `pip install -e '.[test]'`."
        ) from exc
    return psycopg.connect(libpq_url(server_url), autocommit=True, connect_timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryPostgresServer:
    """A PostgreSQL server in a temporary directory, for the length of a `with` block.

    As root the server runs as the `postgres` OS user, since `initdb` refuses root.
    Durability is switched off (`fsync=off`): the data is thrown away anyway.
    """

    start_timeout_s = 60

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir if bin_dir is not None else find_bin_dir()
        self.run_as = self._os_user()
        self.base_dir: Path | None = None
        self.port: int | None = None

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "the server has not been started"
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "the server has not been started"
        return self.base_dir / "server.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database created at start-up."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        # Under /tmp rather than pytest's tmp_path: that one is private to root,
        # and the `postgres` user must reach its directory.
        self.base_dir = Path(tempfile.mkdtemp(prefix="labelquorum-pg-"))
        try:
            if self.run_as is not None:
                os.chown(self.base_dir, self.run_as.pw_uid, self.run_as.pw_gid)
            self._initdb()
            for attempt in range(3):
                self.port = _free_port()
                if self._pg_ctl_start():
                    break
                if "already in use" not in self._log_tail() or attempt == 2:
                    raise RuntimeError(
                        f"PostgreSQL did not start (pg_ctl start failed); its log ends:\n"
                        f"{self._log_tail()}"
                    )
            self._wait_until_ready()
            create_database(self._admin_url(), DATABASE)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.base_dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self._run(
                [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w"],
                check=False,
            )
        shutil.rmtree(self.base_dir, ignore_errors=True)
        self.base_dir = None

    def _admin_url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _initdb(self) -> None:
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        # Trust, and only over the socket in base_dir and IPv4 loopback.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost  all all 127.0.0.1/32 trust\n"
        )

    def _pg_ctl_start(self) -> bool:
        options = (
            f"-k {self.base_dir} -h 127.0.0.1 -p {self.port} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        result = self._run(
            [
                self._bin("pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(self.start_timeout_s),
                "-o",
                options,
            ],
            check=False,
        )
        return result.returncode == 0

    def _wait_until_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                psycopg.connect(self._admin_url(), connect_timeout=5).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL on port {self.port} accepted no connection within "
                        f"{self.start_timeout_s} s; its log ends:\n{self._log_tail()}"
                    ) from None
                time.sleep(0.1)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log written)"

    def _bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        if self.run_as is not None:
            argv = ["runuser", "-u", self.run_as.pw_name, "--", *argv]
        result = subprocess.run(
            argv,
            check=False,
            cwd=self.base_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(argv)}` exited with status {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result

    @staticmethod
    def _os_user() -> pwd.struct_passwd | None:
        """The user to run the server as: `postgres` when we are root, else ourselves."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "Running as root, but there is no `postgres` OS user to run the server as "
                f"(initdb refuses root). {INSTALL_HINT}"
            ) from None
