"""`dsnworker migrate`: a SQLite state copied into the tests' private PostgreSQL (tests/postgres.py).

Every table of the SQLite schema, found from the file itself (not from the migrate code's own list),
must hold the same rows in PostgreSQL; a state left by a worker killed mid-poll moves, and `poll` on
PostgreSQL then finishes its work with the outputs of a run never interrupted, and goes on.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dsnworker.cli import main
from dsnworker.worker.config import load_settings
from dsnworker.worker.state import SCHEMA_VERSION, Store
from dsnworker.worker.state_url import parse_state_url
from tests import mailgen, processes
from tests.postgres import PASSWORD_ENV, Database
from tests.test_worker_crash import outputs, poll, setup

BIG = 2**40  # beyond 32 bits: IMAP UIDs reach 2^32
HOSTILE = 'it\'s 100% "quoted" ? %s :name \\ é 漢字 🙂'


def migrate(source: Path, database: Database, *more: str) -> Any:
    return processes.run(
        "migrate", "--from", f"sqlite:{source}", "--to", database.url, "--to-password-env", PASSWORD_ENV, *more
    )


def sqlite_tables(path: Path) -> list[str]:
    """The tables of the SQLite state, as the file itself lists them."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        return [name for (name,) in db.execute(query)]


def sqlite_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        columns = [column[1] for column in db.execute(f"PRAGMA table_info({table})")]
        return sorted(db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)


def pg_rows(database: Database, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    with database.connect() as db:
        return sorted(db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)


def pg_counts(database: Database, tables: list[str]) -> dict[str, int]:
    with database.connect() as db:
        return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


def filled_state(path: Path) -> None:
    """A state of this version with three rows in every table, made from the table's own columns (a table
    a later version adds is filled too), text with quotes, placeholders and non-ASCII; the outbox's last
    row deleted, so its AUTOINCREMENT counter is past its rows, as after a prune."""
    Store(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        for table in sqlite_tables(path):
            columns = list(db.execute(f"PRAGMA table_info({table})"))
            for n in range(1, 4):
                values = [_value(table, column[1], column[2], n) for column in columns]
                marks = ", ".join("?" * len(values))
                db.execute(f"INSERT INTO {table} ({', '.join(c[1] for c in columns)}) VALUES ({marks})", values)
        db.execute("DELETE FROM outbox WHERE seq = ?", (BIG,))
        db.commit()


def _value(table: str, column: str, kind: str, n: int) -> object:
    if kind == "INTEGER":
        return n * 1000 + 7 if n < 3 else BIG
    if kind == "REAL":
        return n + 0.25
    return f"{table}.{column}.{n} {HOSTILE}" if n == 2 else f"{table}.{column}.{n}"


def test_every_table_of_the_schema_moves_row_for_row_and_the_outbox_seq_goes_on(tmp_path, pg_database, capsys):
    source = tmp_path / "state.sqlite"
    filled_state(source)
    assert (
        main(["migrate", "--from", f"sqlite:{source}", "--to", pg_database.url, "--to-password-env", PASSWORD_ENV]) == 0
    )
    said = capsys.readouterr().out

    tables = sqlite_tables(source)
    assert len(tables) >= 12  # every table the schema has now; a new one is checked as well
    for table in tables:
        with contextlib.closing(sqlite3.connect(source)) as db:
            columns = [column[1] for column in db.execute(f"PRAGMA table_info({table})")]
        expected = sqlite_rows(source, table)
        assert expected and pg_rows(pg_database, table, columns) == expected, table
        assert f"{table} " in said and f"{len(expected)} row(s)" in said
    assert f"outbox.seq continues after {BIG}" in said

    from dsnworker.worker.state_pg import PostgresStore

    store = PostgresStore(parse_state_url(pg_database.url, PASSWORD_ENV, None))
    try:
        with store.transaction():
            store.add_event("jp", {"id": "evt_new", "type": "recipient.bounced", "data": {}})
        (new,) = store.events_after(2007)
        assert (new.id, new.seq) == ("evt_new", BIG + 1)  # after the deleted one: a sink past it must see this
    finally:
        store.close()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The outputs of one poll never interrupted, on SQLite (as test_worker_crash.py's reference)."""
    root = tmp_path_factory.mktemp("uninterrupted")
    result = poll(setup(root))
    assert result.returncode == 0, result.stderr
    return outputs(root)


def test_a_killed_workers_state_moves_and_poll_on_postgresql_finishes_and_goes_on(tmp_path, pg_database, uninterrupted):
    config = setup(tmp_path)
    killed = poll(config, "after_commit:3")  # the third batch committed, not delivered
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    source = tmp_path / "state.sqlite"
    with contextlib.closing(sqlite3.connect(source)) as db:
        last_seq = db.execute("SELECT max(seq) FROM outbox").fetchone()[0]
        delivered = db.execute("SELECT min(last_seq) FROM sink_progress").fetchone()[0]
        outbox = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert delivered < last_seq  # committed events the sinks have not taken yet

    moved = migrate(source, pg_database)
    assert moved.returncode == 0, moved.stderr
    assert f"outbox               {outbox:>9} row(s)" in moved.stdout
    text = config.read_text().replace(
        'state = "state.sqlite"\n', f'state = "{pg_database.url}"\nstate_password_env = "{PASSWORD_ENV}"\n'
    )
    config.write_text(text)

    resumed = poll(config)
    assert resumed.returncode == 0, resumed.stderr
    done = outputs(tmp_path)  # asserts that no event and no address was written twice
    expected = dict(uninterrupted)
    expected_counts = expected.pop("report")
    done.pop("report")  # read from state.sqlite, which the migration left as it was
    assert done == expected
    with pg_database.connect() as db:
        counts = db.execute(
            "SELECT mailbox, provider, reason, action, hard, sum(count) FROM outcome_day GROUP BY 1, 2, 3, 4, 5"
        ).fetchall()
    assert sorted((*row[:5], int(row[5])) for row in counts) == expected_counts

    before = (tmp_path / "events.jsonl").read_text().splitlines()
    for number, data in enumerate([mailgen.dsn("later@example.jp", "user_unknown", 900), mailgen.personal(901)]):
        (tmp_path / "mail" / "new" / f"1800000000.M{number}P9.test").write_bytes(data)
    later = poll(config)
    assert later.returncode == 0, later.stderr
    assert "new=2 bounces=1" in later.stdout  # nothing read twice
    after = (tmp_path / "events.jsonl").read_text().splitlines()
    assert after[: len(before)] == before and [
        json.loads(line)["data"]["recipient"] for line in after[len(before) :]
    ] == ["later@example.jp"]
    # (the outbox was pruned: every sink took it) a seq restarted at 1 would be one the sinks had passed
    with pg_database.connect() as db:
        assert db.execute("SELECT min(last_seq) FROM sink_progress").fetchone()[0] > last_seq


def test_a_source_a_worker_holds_is_refused(tmp_path, pg_database):
    from dsnworker.worker.runner import Worker
    from tests.test_worker_cli import write_config

    config = write_config(tmp_path, ["jp"])
    (tmp_path / "jp").mkdir()
    holder = Worker(load_settings(config))
    try:
        refused = migrate(tmp_path / "state.sqlite", pg_database)
    finally:
        holder.store.close()
    assert refused.returncode == 2
    assert f"state file {tmp_path / 'state.sqlite'} is in use by a running dsnworker (run or poll): stop it" in (
        refused.stderr
    )
    with pg_database.connect() as db:  # the target was not even opened
        assert db.execute("SELECT to_regclass('outbox')").fetchone() == (None,)


def test_a_target_a_live_worker_is_registered_on_is_refused(tmp_path, pg_database):
    from dsnworker.worker.leases import Leases
    from dsnworker.worker.state_pg import PostgresStore

    source = tmp_path / "state.sqlite"
    filled_state(source)
    store = PostgresStore(parse_state_url(pg_database.url, PASSWORD_ENV, None))
    try:
        Leases(store, "worker-elsewhere", period=600).beat("mail.example.jp", 4242)  # as a running worker does
    finally:
        store.close()
    refused = migrate(source, pg_database)
    assert refused.returncode == 2
    assert f"PostgreSQL state {pg_database.url} is in use by 1 running dsnworker worker(s): stop them" in refused.stderr
    with pg_database.connect() as db:  # nothing copied
        assert db.execute("SELECT count(*) FROM cursor").fetchone() == (0,)


def test_a_target_holding_a_state_is_refused_unless_replace(tmp_path, pg_database):
    source = tmp_path / "state.sqlite"
    filled_state(source)
    assert migrate(source, pg_database).returncode == 0
    again = migrate(source, pg_database)
    assert again.returncode == 2
    assert f"PostgreSQL state {pg_database.url} already holds a dsnworker state (rows: cursor 3," in again.stderr
    assert "--replace" in again.stderr
    with contextlib.closing(sqlite3.connect(source)) as db:
        db.execute("DELETE FROM cursor WHERE last_uid > 2000")
        db.commit()
    replaced = migrate(source, pg_database, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "replaced: " in replaced.stdout
    assert pg_rows(pg_database, "cursor", ["mailbox", "uidvalidity", "last_uid"]) == sqlite_rows(source, "cursor")


@pytest.mark.parametrize(("version", "said"), [(SCHEMA_VERSION - 1, "older"), (SCHEMA_VERSION + 1, "newer")])
def test_a_source_of_another_schema_version_is_refused(tmp_path, pg_database, version, said):
    source = tmp_path / "state.sqlite"
    Store(source).close()
    with contextlib.closing(sqlite3.connect(source)) as db:
        db.execute(f"PRAGMA user_version={version}")
    refused = migrate(source, pg_database)
    assert refused.returncode == 2
    assert f"state file {source} has schema version {version}, {said} than this dsnworker" in refused.stderr
    with pg_database.connect() as db:
        assert db.execute("SELECT to_regclass('outbox')").fetchone() == (None,)


def test_a_kill_mid_copy_leaves_the_target_without_a_row_and_a_rerun_completes(tmp_path, pg_database):
    source = tmp_path / "state.sqlite"
    filled_state(source)
    killed = processes.run(
        "migrate",
        "--from",
        f"sqlite:{source}",
        "--to",
        pg_database.url,
        "--to-password-env",
        PASSWORD_ENV,
        crash_at="migrate_table_copied:5",
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    tables = sqlite_tables(source)
    assert set(pg_counts(pg_database, tables).values()) == {0}
    assert migrate(source, pg_database).returncode == 0  # an empty target is no state: no --replace needed
    assert pg_counts(pg_database, tables)["outbox"] == 2


def test_a_row_the_target_refuses_is_one_error_and_leaves_no_row(tmp_path, pg_database):
    source = tmp_path / "state.sqlite"
    filled_state(source)
    with contextlib.closing(sqlite3.connect(source)) as db:  # PostgreSQL's text holds no NUL character
        db.execute("UPDATE pass_log SET error = ?", ("a\x00b",))
        db.commit()
    failed = migrate(source, pg_database)
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"dsnworker: PostgreSQL state {pg_database.url}: failed (")
    assert "nothing was copied" in failed.stderr and "Traceback" not in failed.stderr
    assert set(pg_counts(pg_database, sqlite_tables(source)).values()) == {0}


def test_the_target_from_a_configuration_and_what_is_refused_on_the_command_line(tmp_path, pg_database, capsys):
    source = tmp_path / "state.sqlite"
    filled_state(source)
    from tests.test_worker_cli import write_config

    config = write_config(tmp_path, ["jp"])
    text = config.read_text().replace('"state.sqlite"', f'"{pg_database.url}"\nstate_password_env = "{PASSWORD_ENV}"')
    config.write_text(text)
    assert main(["migrate", "--from", f"sqlite:{source}", "-c", str(config)]) == 0
    assert pg_counts(pg_database, ["outbox"]) == {"outbox": 2}
    capsys.readouterr()

    secret_url = f"postgresql://{pg_database.user}:hunter2-secret@127.0.0.1/x"
    for argv, expected in [
        (["--from", f"sqlite:{source}", "--to", secret_url], "--to: expected postgresql://USER@HOST:PORT/DATABASE"),
        (["--from", pg_database.url, "--to", pg_database.url], "--from: expected sqlite:PATH"),
        (["--from", f"sqlite:{tmp_path / 'none.sqlite'}", "-c", str(config)], "none.sqlite does not exist"),
    ]:
        assert main(["migrate", *argv]) == 2
        error = capsys.readouterr().err
        assert expected in error and "hunter2" not in error
