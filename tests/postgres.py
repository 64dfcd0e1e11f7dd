"""A private PostgreSQL cluster on 127.0.0.1 for tests, made with Debian's `initdb` and `pg_ctl`.

`Postgres(root)` initialises a cluster in `root/data` (owned by the `postgres` system user when the
tests run as root: initdb and the server refuse to run as root), with one superuser that logs in with
a password over TCP (scram-sha-256), and starts it on a free port of 127.0.0.1; its Unix socket lives
in `root` too, never in the system's /var/run/postgresql. `new_database()` gives each test a database
of its own (CREATE DATABASE is a file copy of template1: a few milliseconds).

Durability is off (fsync, synchronous_commit, full_page_writes): a test cluster never outlives a power
cut, and the crash tests kill dsnworker, never the server. A benchmark asks for `durable=True` (a real
server's defaults: every commit flushed to disk), and may add server settings (`settings`), such as
`shared_preload_libraries`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

USER = "dsnworker_test"
PASSWORD_ENV = "DSNWORKER_TEST_PG_PASSWORD"
START_TIMEOUT = 30  # seconds: pg_ctl's own wait; a watchdog, not an assertion
POSTGRES_INSTALL = "apt-get install -y postgresql"
# what a test cluster turns off; a durable one leaves them at the server's defaults (on)
NOT_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def find_bin() -> Path | None:
    """Debian's versioned folder of the server programs (the newest, when several are installed)."""
    found = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").is_file()]
    return max(found, key=lambda path: int(path.parent.name), default=None) if found else None


def missing() -> str | None:
    """Why no test cluster can run here, or None."""
    if find_bin() is None:
        return f"PostgreSQL's initdb and pg_ctl are needed for the PostgreSQL tests (Debian: {POSTGRES_INSTALL})"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return f"the tests run PostgreSQL as the 'postgres' system user, which is missing ({POSTGRES_INSTALL})"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Database:
    """One test's database: its URL (no password, as a configuration writes it) and the password."""

    host: str
    port: int
    name: str
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"

    def connect(self):  # psycopg is imported only by the tests that use a database
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, dbname=self.name, user=self.user, password=self.password, autocommit=True
        )


class Postgres:
    """`durable`: commits flushed to disk as on a real server (slower; for benchmarks). `settings`: more
    server settings (`-c NAME=VALUE`), after the harness's own."""

    def __init__(self, root: Path, *, durable: bool = False, settings: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.durable = durable
        self.settings = {"max_connections": "200", **({} if durable else NOT_DURABLE), **dict(settings or {})}
        self.data = root / "data"
        self.log = root / "server.log"
        self.bin = find_bin()
        self.port = _free_port()
        self.password = secrets.token_urlsafe(18)
        self._serial = itertools.count(1)
        self._as: dict[str, int] = {}
        if os.geteuid() == 0:  # initdb refuses root: the server runs as the Debian package's user
            account = pwd.getpwnam("postgres")
            self._as = {"user": account.pw_uid, "group": account.pw_gid}
            os.chown(root, account.pw_uid, account.pw_gid)
        root.chmod(0o700)

    def _run(self, *argv: str) -> None:
        assert self.bin is not None
        done = subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=START_TIMEOUT * 2,
            check=False,
            **self._as,  # type: ignore[arg-type]
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def start(self) -> None:
        password_file = self.root / "pwfile"
        password_file.write_text(self.password + "\n")
        if self._as:
            os.chown(password_file, self._as["user"], self._as["group"])
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth-local=trust",  # the socket is in our own folder, mode 700
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        password_file.unlink()
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root}"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT), "-o", options, "start"
        )

    @property
    def pid(self) -> int:
        """The postmaster's process id (its children are the server's other processes)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def admin(self):
        """An autocommit connection to the `postgres` database, as the superuser."""
        return Database("127.0.0.1", self.port, "postgres", USER, self.password).connect()

    def new_database(self) -> Database:
        name = f"test_{os.getpid()}_{next(self._serial)}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return Database("127.0.0.1", self.port, name, USER, self.password)
