"""Shared test helpers: the dev corpus (read by relative path, never copied) and the core objects."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dsnworker.analyser import Analyser

# The tests' own rule-pack cache (dsnworker/classify/pack_cache.py): never the user's ~/.cache. Set
# before any test module loads packs; processes the tests start inherit it.
_CACHE = tempfile.mkdtemp(prefix="dsnworker-test-cache-")
os.environ["DSNWORKER_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "sisimai"
EXTERNAL = ROOT.parent / "shared" / "corpus" / "external"
IN_CI = os.environ.get("CI", "").lower() == "true"


def corpus_dir() -> Path:
    """The labelled corpus folder; skips the test where it is absent (a user's clone), fails in CI."""
    if not (CORPUS / "expected.json").is_file():
        message = f"the dev corpus is not at {CORPUS} (it lives beside the repo in ../shared/)"
        if IN_CI:
            pytest.fail(message + "; under CI=true it must be there")
        pytest.skip(message)
    return CORPUS


def corpus_file(name: str) -> bytes:
    return (corpus_dir() / "emails" / name).read_bytes()


def external_corpus_dirs() -> list[Path]:
    """Every `emails` folder of the external corpora (../shared/corpus/external/*/emails); skips the
    test where there is none, fails in CI."""
    folders = sorted(p for p in EXTERNAL.glob("*/emails") if p.is_dir())
    if not folders:
        message = f"no external corpus at {EXTERNAL}/*/emails (it lives beside the repo in ../shared/)"
        if IN_CI:
            pytest.fail(message + "; under CI=true it must be there")
        pytest.skip(message)
    return folders


def run_scorer(name: str, *args: str) -> dict[str, Any]:
    """Run ../shared/tools/NAME with --json on this interpreter's `dsnworker` (the scorers take the
    one on PATH) and return its summary line."""
    scorer = ROOT.parent / "shared" / "tools" / name
    if not scorer.is_file():
        message = f"the scorer is not at {scorer} (it lives beside the repo in ../shared/)"
        if IN_CI:
            pytest.fail(message + "; under CI=true it must be there")
        pytest.skip(message)
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        [sys.executable, str(scorer), *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def analyser() -> Analyser:
    return Analyser.with_rules()


@pytest.fixture
def failing_parser(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType], None]:
    """Call it with a format parser module: that parser then raises on every message, as a bug in it would."""
    import dsnworker.parse

    def make_failing(module: ModuleType) -> None:
        def parse(mail: object) -> None:
            raise ValueError("an injected bug")

        monkeypatch.setattr(module, "parse", parse)
        # the pipeline looks every parser's `parse` up once, at import: look them up again
        pipeline = tuple((parser, parser.parse) for parser in dsnworker.parse.PIPELINE)
        monkeypatch.setattr(dsnworker.parse, "_PARSE_FUNCTIONS", pipeline)

    return make_failing


# -- a private Dovecot for the IMAP tests (tests/dovecot.py) --------------------------------------

DOVECOT_INSTALL = "apt-get install -y dovecot-imapd openssl"


def _dovecot_missing() -> str | None:
    """Why the Dovecot tests cannot run here, or None."""
    from tests.dovecot import find_program

    if not (find_program("dovecot") and find_program("openssl")):
        return f"dovecot and openssl are needed for the IMAP tests (Debian: {DOVECOT_INSTALL})"
    if os.geteuid() != 0:
        return "the IMAP tests run a private Dovecot, which needs root (its mail files belong to uid 5000)"
    return None


@pytest.fixture(scope="session")
def dovecot():
    """A private Dovecot on 127.0.0.1 for the whole session; skips where absent, fails under CI=true."""
    import tempfile

    from tests.dovecot import Dovecot

    # not under pytest's tmp_path: its folders are private to root, Dovecot's auth process reads as 'dovecot'
    yield from _session_server(_dovecot_missing(), lambda: Dovecot(Path(tempfile.mkdtemp(prefix="dsnworker-dovecot-"))))


@pytest.fixture
def imap_account(dovecot):
    """A fresh Dovecot user with an empty INBOX (tests/dovecot.py's Account)."""
    return dovecot.add_user()


# -- a private PostgreSQL for the PostgreSQL state tests (tests/postgres.py) --------------------------


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL cluster on 127.0.0.1 for the whole session; skips where absent, fails under CI=true."""
    from tests.postgres import Postgres, missing

    yield from _session_server(missing(), lambda: Postgres(Path(tempfile.mkdtemp(prefix="dsnworker-postgres-"))))


def _session_server(problem: str | None, make: Callable[[], Any]) -> Iterator[Any]:
    """A server started for the session and closed after it; where it cannot run, the tests that need it
    skip, or fail under CI=true (CI must never pass by skipping them)."""
    if problem:
        if IN_CI:
            pytest.fail(problem + "; under CI=true it must be there")
        pytest.skip(problem)
    server = make()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_database(postgres, monkeypatch):
    """A fresh database of the session's cluster (tests/postgres.py's Database), its password in the
    environment variable that `state_password_env` names in the tests' configurations."""
    from tests.postgres import PASSWORD_ENV

    database = postgres.new_database()
    monkeypatch.setenv(PASSWORD_ENV, database.password)
    return database


class StateBackend:
    """Where a test's state lives: a SQLite file in its tmp_path, or a fresh PostgreSQL database (one per
    folder the test keeps a state in, as each folder has its own SQLite file). The stores it opens are
    closed when the test ends (a PostgreSQL one holds a pool of connections)."""

    def __init__(self, name: str, server: Any = None, database: Any = None) -> None:
        self.name, self.server, self.database = name, server, database
        self._databases: dict[Path, Any] = {}
        self._opened: list[Any] = []

    def location(self, tmp: Path) -> Any:
        if self.database is None:
            return tmp / "state.sqlite"
        from dsnworker.worker.state_url import parse_state_url
        from tests.postgres import PASSWORD_ENV

        if tmp not in self._databases:  # the same password for all: the cluster's one user
            self._databases[tmp] = self.database if not self._databases else self.server.new_database()
        return parse_state_url(self._databases[tmp].url, PASSWORD_ENV, None)

    def open(self, tmp: Path, **options: Any) -> Any:
        """A Store on this backend (reopened: the same state again)."""
        from dsnworker.worker.state import Store

        if self.database is None:
            store = Store(self.location(tmp), **options)
        else:
            from dsnworker.worker.state_pg import PostgresStore

            store = PostgresStore(self.location(tmp), **options)
        self._opened.append(store)
        return store

    def read_only(self, tmp: Path) -> Any:
        from dsnworker.worker.state import Store
        from dsnworker.worker.state_pg import PostgresStore

        cls = Store if self.database is None else PostgresStore
        store = cls.read_only(self.location(tmp))
        self._opened.append(store)
        return store

    def close(self) -> None:
        for store in self._opened:
            store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_backend(request):
    """Each test that takes it runs on SQLite and on PostgreSQL (tests/postgres.py's private cluster)."""
    if request.param == "sqlite":
        backend = StateBackend("sqlite")
    else:
        backend = StateBackend(
            "postgresql", request.getfixturevalue("postgres"), request.getfixturevalue("pg_database")
        )
    yield backend
    backend.close()


# -- headless Chromium, for the report's HTML page ---------------------------------------------------

CHROMIUM_INSTALL = "apt-get install -y chromium"


def chromium_program() -> str:
    """The Chromium to render pages with; skips where absent, fails under CI=true (.ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = f"chromium is needed to render the report's HTML page (Debian: {CHROMIUM_INSTALL})"
        if IN_CI:
            pytest.fail(message + "; under CI=true it must be there")
        pytest.skip(message)
    return found


# -- small or read-only file systems, for the disk-full and read-only tests ------------------------


class Tmpfs:
    """A tmpfs mounted on a folder of the test's, of a chosen size; can be grown or made read-only."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.mounted = False

    def mount(self, size: str) -> Path:
        self.where.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.where)], capture_output=True, text=True
        )
        if result.returncode != 0:
            message = f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {result.stderr.strip()}"
            if IN_CI:
                pytest.fail(message + "; under CI=true the disk-fault tests must run")
            pytest.skip(message)
        self.mounted = True
        return self.where

    def remount(self, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.where)], check=True)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.where)], check=False)
            self.mounted = False


@pytest.fixture
def tmpfs(tmp_path: Path):
    """`tmpfs.mount("300k")` mounts a small file system on tmp_path/small (skips where mounting is not
    allowed, fails in CI)."""
    mount = Tmpfs(tmp_path / "small")
    try:
        yield mount
    finally:
        mount.unmount()
