"""A private Dovecot 2.3 on 127.0.0.1 for tests (see ../shared/docs/dovecot-testbed.md).

`Dovecot(root)` writes a config under `root`, a self-signed certificate for localhost/127.0.0.1, a
passwd-file of users, and serves the token introspection that Dovecot's `oauth2` passdb asks about
XOAUTH2 / OAUTHBEARER tokens. It listens on two free ports: plain IMAP (STARTTLS offered; from
loopback Dovecot also allows a plaintext login) and IMAPS. Test mail is written straight into the
maildirs (tmp/ then rename into new/), thousands of messages per second, instead of APPENDed.

Needs root (mail files belong to uid 5000, Dovecot refuses uid 0) and the `dovecot` binary.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAIL_UID = 5000
START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


def find_program(name: str) -> str | None:
    """The path of `name` on PATH or in the sbin folders (where Debian puts dovecot), else None."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not reaped yet) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


class _JsonServer:
    """A threaded HTTP server on 127.0.0.1 answering form POSTs with JSON from `answer(form) -> (status, dict)`."""

    def __init__(self, answer) -> None:
        outer = self
        self.requests: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                outer.requests.append(form)
                status, body = answer(form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class TokenEndpoint(_JsonServer):
    """An OAuth2 token endpoint (client credentials grant) for one client; hands out `token` on each grant.

    `requests` records every form received; `fail_with` makes it answer an error (status, json body).
    """

    def __init__(self, client_id: str, client_secret: str, token: str, expires_in: int = 3600) -> None:
        self.client_id, self.client_secret, self.token, self.expires_in = client_id, client_secret, token, expires_in
        self.fail_with: tuple[int, dict] | None = None
        super().__init__(self._answer)
        self.url = f"http://127.0.0.1:{self.port}/oauth2/v2.0/token"

    def _answer(self, form: dict[str, str]) -> tuple[int, dict]:
        if self.fail_with:
            return self.fail_with
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}
        return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": self.token}


@dataclass
class Account:
    """One mail user of the test Dovecot, with its own maildir."""

    server: Dovecot
    username: str
    password: str
    maildir: Path
    _serial: int = field(default=0, repr=False)
    _time: int = field(default=0, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def imap_port(self) -> int:
        return self.server.imap_port

    @property
    def imaps_port(self) -> int:
        return self.server.imaps_port

    @property
    def ca_file(self) -> Path:
        return self.server.ca_file

    def folder_path(self, folder: str = "INBOX") -> Path:
        """The maildir of `folder` (Maildir++: INBOX is the root, another folder is `.Folder`)."""
        return self.maildir if folder == "INBOX" else self.maildir / f".{folder}"

    def deliver(self, messages: Iterable[bytes], folder: str = "INBOX") -> int:
        """Write messages into the folder's maildir (tmp/, then rename into new/); returns how many.

        Dovecot gives them UIDs, in this order, the next time a client looks at the folder.
        """
        staged = self.stage(messages, folder)
        for written, delivered in staged:
            os.rename(written, delivered)
        return len(staged)

    def stage(self, messages: Iterable[bytes], folder: str = "INBOX") -> list[tuple[Path, Path]]:
        """Write messages into the folder's maildir tmp/ only (Dovecot does not look there): the (tmp, new)
        pairs whose renames deliver them, in the order Dovecot will give them UIDs."""
        path = self.folder_path(folder)
        self._make_maildir(path)
        tmp, new = path / "tmp", path / "new"
        self._time = max(self._time, int(time.time()))
        pid = os.getpid()
        staged = []
        for data in messages:
            self._serial += 1
            # Dovecot orders new files by the time and then the microseconds of their names
            name = f"{self._time}.M{self._serial:07d}P{pid}.dsntest"
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fchown(fd, MAIL_UID, MAIL_UID)
            finally:
                os.close(fd)
            staged.append((tmp / name, new / name))
        return staged

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        """The messages the folder holds now (new/ and cur/, expunged ones excluded), in delivery order."""
        return [file.read_bytes() for file in self._files(folder)]

    def flags(self, folder: str = "INBOX") -> list[str]:
        """The maildir flags of each message, in delivery order ('S' seen, 'T' deleted; '' for new/)."""
        return [file.name.partition(":2,")[2] for file in self._files(folder)]

    def _files(self, folder: str) -> list[Path]:
        path = self.folder_path(folder)
        files = [file for sub in ("new", "cur") if (path / sub).is_dir() for file in (path / sub).iterdir()]
        return sorted(files, key=lambda file: file.name.split(":")[0])

    @staticmethod
    def _make_maildir(path: Path) -> None:
        for sub in ("", "cur", "new", "tmp"):
            directory = path / sub
            if not directory.is_dir():
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chown(directory, MAIL_UID, MAIL_UID)


class Dovecot:
    """A private Dovecot under `root`: `start()`, `stop()`, `restart()`, `add_user()`, `tokens`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # the login and imap processes run as other users
        self.conf = root / "dovecot.conf"
        self.log = root / "dovecot.log"
        self.users_dir = root / "users"
        self.mail_root = root / "mail"
        self.ca_file = root / "cert.pem"
        self.imap_port = self.imaps_port = 0
        # Accepted XOAUTH2 / OAUTHBEARER tokens: token -> username; a token absent here is inactive.
        self.tokens: dict[str, str] = {}
        self.introspection_down = False
        self._introspection = _JsonServer(self._introspect)
        self._make_certificate()
        self.mail_root.mkdir(exist_ok=True)
        os.chown(self.mail_root, MAIL_UID, MAIL_UID)
        self.users_dir.mkdir(exist_ok=True)
        os.chown(self.users_dir, 0, _dovecot_gid())
        os.chmod(self.users_dir, 0o750)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and wait for its greeting: on new free ports the first time, the same ones after."""
        first = not self.imap_port
        for attempt in range(5):
            if not self.imap_port or (first and attempt):
                self.imap_port, self.imaps_port = free_port(), free_port()
                self._write_config()
            with open(self.log, "ab") as log:  # never capture its output: the daemon keeps pipes open
                done = subprocess.run(
                    [find_program("dovecot") or "dovecot", "-c", str(self.conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    check=False,
                )
            if done.returncode == 0 and self._wait_for_greeting():
                return
            self.stop()
            time.sleep(0.3)  # after a restart a port may still be held for a moment: try the same again
        raise RuntimeError(f"dovecot did not start; see {self.log}:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server and wait until none of its processes is left (the IMAP sessions included).

        The master alone takes 1-3 s (it waits for its log process); children it leaves behind are ended
        too, so a stop is what a client of a real server sees at a restart: its connection is gone.
        """
        pid_file = self.root / "base" / "master.pid"
        try:
            master = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        processes = [master, *_children(master)]
        _signal(processes, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _process_alive(master) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal([pid for pid in processes if _process_alive(pid)], signal.SIGTERM)
        deadline = time.monotonic() + 2
        while any(map(_process_alive, processes)) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal([pid for pid in processes if _process_alive(pid)], signal.SIGKILL)
        with contextlib.suppress(OSError):
            pid_file.unlink()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and the introspection endpoint and remove everything under `root`."""
        self.stop()
        self._introspection.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- users and tokens ------------------------------------------------------------------------

    def add_user(self) -> Account:
        """A fresh user with a random password and an empty INBOX (Dovecot re-reads the passwd-file)."""
        username = "u" + secrets.token_hex(5)
        password = secrets.token_urlsafe(12)
        maildir = self.mail_root / username
        Account._make_maildir(maildir)
        self._write_user(username, f"{username}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_UID}::{maildir}")
        return Account(self, username, password, maildir)

    def add_token(self, username: str, token: str | None = None) -> str:
        """Make the introspection endpoint call `token` active for `username`; returns the token."""
        token = token or secrets.token_urlsafe(24)
        self.tokens[token] = username
        return token

    @property
    def introspection_requests(self) -> list[dict[str, str]]:
        return self._introspection.requests

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict]:
        if self.introspection_down:
            return 503, {"error": "temporarily_unavailable"}
        username = self.tokens.get(form.get("token", ""))
        return 200, ({"active": True, "username": username} if username else {"active": False})

    # -- files -----------------------------------------------------------------------------------

    def _write_user(self, username: str, line: str) -> None:
        """One passwd-file per user (`users/%u`): a new user is a new file, nothing cached has to be re-read."""
        tmp = self.users_dir / f".{username}.new"
        tmp.write_text(line + "\n")
        os.chown(tmp, 0, _dovecot_gid())
        os.chmod(tmp, 0o640)
        os.replace(tmp, self.users_dir / username)

    def _make_certificate(self) -> None:
        key = self.root / "key.pem"
        subprocess.run(
            [
                find_program("openssl") or "openssl", "req", "-x509",
                "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", str(key), "-out", str(self.ca_file),
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
        )  # fmt: skip

    def _write_config(self) -> None:
        r = self.root
        (r / "oauth2.conf.ext").write_text(
            "introspection_mode = post\n"
            f"introspection_url = http://127.0.0.1:{self._introspection.port}/introspect\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        self.conf.write_text(f"""\
base_dir = {r}/base
state_dir = {r}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.ca_file}
ssl_key = <{r}/key.pem
mail_location = maildir:{self.mail_root}/%u
mail_max_userip_connections = 100
auth_failure_delay = 0
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = {self.users_dir}/%u
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {r}/oauth2.conf.ext
}}
userdb {{
  driver = passwd-file
  args = {self.users_dir}/%u
}}
# No anvil socket for auth penalties: else after a failed login the next login from 127.0.0.1, whatever
# its credentials, waits 2-15 s (auth_failure_delay = 0 does not prevent that).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
}}
""")

    def _wait_for_greeting(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False


def _dovecot_gid() -> int:
    return grp.getgrnam("dovecot").gr_gid


@contextlib.contextmanager
def running(root: Path) -> Iterator[Dovecot]:
    server = Dovecot(root)
    try:
        server.start()
        yield server
    finally:
        server.close()
