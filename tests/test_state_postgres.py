"""`state = "postgresql://..."`: the configuration, the refusals, and what is PostgreSQL's own (the
schema's version table, the advisory locks). The Store's queries themselves run on both backends in
test_worker_state.py and test_worker_pipeline.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsnworker.errors import DsnworkerError
from dsnworker.worker.config import load_settings
from dsnworker.worker.settings import PostgresState
from dsnworker.worker.state import SCHEMA_VERSION, Cursor, StateError
from tests.postgres import PASSWORD_ENV, Database
from tests.test_config import config_text, load_error, write


def state_config(tmp_path: Path, state: str, extra: str = f'state_password_env = "{PASSWORD_ENV}"') -> Path:
    return write(tmp_path, config_text(top=f'state = "{state}"\n{extra}'))


# -- configuration ------------------------------------------------------------------------------------


def test_a_postgresql_url_selects_the_database_and_names_where_the_password_is(tmp_path):
    settings = load_settings(state_config(tmp_path, "postgresql://dsn@db.example:6543/bounces?sslmode=verify-full"))
    assert settings.state == PostgresState(
        "db.example", 6543, "bounces", "dsn", PASSWORD_ENV, None, (("sslmode", "verify-full"),)
    )
    assert str(settings.state) == "postgresql://dsn@db.example:6543/bounces"
    assert isinstance(load_settings(write(tmp_path, config_text())).state, Path)  # the default stays SQLite


def test_a_password_in_the_url_is_refused_naming_the_key_and_where_it_goes_without_echoing_it(tmp_path):
    error = load_error(state_config(tmp_path, "postgresql://dsn:hunter2-secret@db.example/bounces"))
    assert error.file == str(tmp_path / "config.toml") and error.key == "state"
    assert "without a password" in error.problem and "state_password_env" in error.problem
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    ("state", "extra", "key", "expected"),
    [
        ("postgresql://db.example/bounces", "", "state", "user, host and database all named"),
        ("postgresql://dsn@db.example/bounces?password=x", "", "state", "expected only these options"),
        ("s.sqlite", 'state_password_env = "X"', "state_password_env", 'applies only with state = "postgresql://'),
        (
            "postgresql://dsn@db.example/b",
            'state_password_env = "X"\nstate_password_file = "f"',
            "state_password_file",
            "set only one of",
        ),
        ("postgresql://dsn@db.example/b", 'state_password_env = "not a name!"', "state_password_env", "not the secret"),
        ("s.sqlite", '[cluster]\nlease = "30s"', "cluster", "a SQLite state has one worker"),
        ("postgresql://dsn@db.example/b", '[cluster]\nlease = "soon"', "cluster.lease", "expected a duration"),
        ("postgresql://dsn@db.example/b", '[cluster]\nlease = "0.5s"', "cluster.lease", "expected at least 1s"),
        ("postgresql://dsn@db.example/b", '[cluster]\nlease = "2h"', "cluster.lease", "expected at most 1h"),
        ("postgresql://dsn@db.example/b", '[cluster]\nleases = "2m"', "cluster.leases", "allowed here: "),
        ("postgresql://dsn@db.example/b", "[cluster]\nconnections = 1", "cluster.connections", "integer 2-1000"),
        ("postgresql://dsn@db.example/b", '[cluster]\nconnections = "ten"', "cluster.connections", "integer 2-1000"),
    ],
)
def test_a_bad_postgresql_state_names_the_key_and_what_is_expected(tmp_path, state, extra, key, expected):
    error = load_error(state_config(tmp_path, state, extra))
    assert error.key == key and expected in error.problem


def test_the_lease_period_defaults_to_a_minute_and_heartbeats_come_at_a_third_of_it(tmp_path):
    assert load_settings(state_config(tmp_path, "postgresql://dsn@db.example/b")).cluster.lease == 60.0
    cluster = load_settings(state_config(tmp_path, "postgresql://dsn@db.example/b", '[cluster]\nlease = "90s"')).cluster
    assert (cluster.lease, cluster.heartbeat) == (90.0, 30.0)


def test_a_worker_opens_at_most_cluster_connections_whatever_its_mailboxes(tmp_path, postgres, pg_database):
    from dsnworker.worker.stores import open_store

    many = "".join(f'[[mailbox]]\nname = "m{n}"\nsource = "maildir:m{n}"\n' for n in range(40))
    config = state_config(
        tmp_path, pg_database.url, f'state_password_env = "{PASSWORD_ENV}"\n[cluster]\nconnections = 4\n'
    )
    config.write_text(config.read_text() + many)
    settings = load_settings(config)
    assert len(settings.mailboxes) > 40
    store = open_store(settings)
    try:
        assert store._pool.max_size == 4  # was one per mailbox: 40 mailboxes, 40-odd connections
    finally:
        store.close()


def test_a_world_readable_password_file_is_refused(tmp_path):
    secret = tmp_path / "db-password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    error = load_error(state_config(tmp_path, "postgresql://dsn@db.example/b", 'state_password_file = "db-password"'))
    assert error.key == "state_password_file" and "chmod 600" in error.problem


# -- connecting ---------------------------------------------------------------------------------------


def open_state(tmp_path: Path, database: Database, **kwargs):
    from dsnworker.worker.stores import open_store

    return open_store(load_settings(state_config(tmp_path, database.url)), **kwargs)


def test_a_missing_password_variable_is_one_error_naming_it(tmp_path, pg_database, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(StateError) as caught:
        open_state(tmp_path, pg_database)
    assert str(caught.value) == (
        f"PostgreSQL state {pg_database.url}: state password: environment variable {PASSWORD_ENV} is not set"
    )


def test_a_wrong_password_names_host_port_database_and_user_never_the_password(tmp_path, pg_database, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong-password-xyz")
    with pytest.raises(StateError) as caught:
        open_state(tmp_path, pg_database)
    message = str(caught.value)
    assert f"host 127.0.0.1, port {pg_database.port}, database {pg_database.name} as user {pg_database.user}" in message
    assert "password authentication failed" in message
    assert "wrong-password-xyz" not in message and pg_database.password not in message


def test_an_unreachable_server_is_one_clear_error(tmp_path, pg_database):
    from tests.dovecot import free_port

    unreachable = Database("127.0.0.1", free_port(), "bounces", "dsn", pg_database.password)
    with pytest.raises(
        StateError, match=r"cannot connect to host 127\.0\.0\.1, port \d+, database bounces as user dsn"
    ):
        open_state(tmp_path, unreachable)


# -- what is PostgreSQL's own -------------------------------------------------------------------------


def test_several_workers_open_the_same_database_at_once(tmp_path, pg_database):
    first = open_state(tmp_path, pg_database)
    second = open_state(tmp_path, pg_database)  # leases, not a lock on the database, keep them apart
    try:
        first.set_sink_progress("events", 3)
        assert second.sink_progress("events") == 3
    finally:
        second.close()
        first.close()


def test_new_state_is_refused_with_what_to_do_instead(tmp_path, pg_database):
    with pytest.raises(DsnworkerError, match="drop and create the database"):
        open_state(tmp_path, pg_database, new_state=True)


def test_the_schema_version_is_kept_and_a_newer_one_refused(tmp_path, pg_database):
    open_state(tmp_path, pg_database).close()
    with pg_database.connect() as db:
        assert db.execute("SELECT version FROM dsnworker_schema").fetchall() == [(SCHEMA_VERSION,)]
        db.execute("UPDATE dsnworker_schema SET version = version + 1")
    with pytest.raises(StateError, match="newer than this dsnworker"):
        open_state(tmp_path, pg_database)


def test_an_older_schema_is_migrated_and_keeps_its_data(tmp_path, pg_database):
    from dsnworker.worker.state import _MIGRATIONS
    from dsnworker.worker.state_pg import postgres_ddl

    with pg_database.connect() as db:  # a database as the first schema version left it
        db.execute(postgres_ddl(_MIGRATIONS[0]))
        db.execute("CREATE TABLE dsnworker_schema (version BIGINT NOT NULL)")
        db.execute("INSERT INTO dsnworker_schema VALUES (1)")
        db.execute("INSERT INTO cursor (mailbox, uidvalidity, last_uid) VALUES ('jp', 7, 42)")
    store = open_state(tmp_path, pg_database)
    try:
        assert store.cursor("jp") == Cursor(7, 42)
        assert store.webhook_counts("app") == (0, 0)  # the later tables exist
    finally:
        store.close()


def test_a_read_only_state_reads_beside_the_writer_and_refuses_to_write(tmp_path, pg_database):
    from dsnworker.worker.stores import open_read_only

    settings = load_settings(state_config(tmp_path, pg_database.url))
    with pytest.raises(StateError, match="holds no dsnworker state yet"):
        open_read_only(settings)
    writer = open_state(tmp_path, pg_database)
    reader = open_read_only(settings)
    try:
        writer.record_pass("jp", 1000.0, 1.0, None)
        assert reader.passes()["jp"].outcome == "ok"
        with pytest.raises(StateError, match="read-only transaction"):
            reader.record_pass("jp", 3000.0, 1.0, None)
    finally:
        reader.close()
        writer.close()
