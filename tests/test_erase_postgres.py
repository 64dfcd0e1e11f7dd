"""`dsnworker erase` on a PostgreSQL state: the address leaves the rows and the database's files.

The state is the tests' private PostgreSQL (tests/postgres.py), whose data folder the test reads: after
the erase and a CHECKPOINT (so that every page is written to its file), no file of the state's tables,
indexes or TOAST data holds the address's bytes, while another address is still there.
"""

from __future__ import annotations

from pathlib import Path

from tests import processes
from tests.postgres import PASSWORD_ENV, Database
from tests.test_suppression_lifecycle import FULL, GONE, emails, events, suppressed_config


def relation_files(database: Database, data: Path) -> list[Path]:
    """Every file of the state's relations: tables, their indexes and TOAST tables (all segments)."""
    with database.connect() as db:
        db.execute("CHECKPOINT")
        paths = db.execute(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN (current_schema(), 'pg_toast') AND c.relkind IN ('r', 'i', 't') "
            "AND pg_relation_filepath(c.oid) IS NOT NULL"
        ).fetchall()
    files = []
    for (relative,) in paths:
        main = data / relative
        files += [main, *sorted(main.parent.glob(main.name + ".*"))] if main.exists() else []
    return files


def holding(files: list[Path], text: str) -> list[Path]:
    return [path for path in files if text.encode() in path.read_bytes()]


def test_erase_on_postgresql_removes_the_rows_and_their_bytes_from_the_database_files(
    tmp_path: Path, postgres, pg_database: Database
) -> None:
    config = suppressed_config(tmp_path)
    config.write_text(
        config.read_text().replace(
            'state = "state.sqlite"\n', f'state = "{pg_database.url}"\nstate_password_env = "{PASSWORD_ENV}"\n'
        )
    )
    polled = processes.run("poll", "-c", config)
    assert polled.returncode == 0, polled.stderr
    assert FULL in emails(tmp_path) and GONE in emails(tmp_path)
    others = [e for e in events(tmp_path) if e["data"].get("recipient") != FULL]
    files = relation_files(pg_database, postgres.data)
    assert holding(files, FULL)  # the soft bounces and suppression history hold it before

    result = processes.run("erase", "-c", config, FULL)
    assert result.returncode == 0, result.stderr
    assert "2 soft bounce(s), 1 suppression record(s)" in result.stdout
    assert "events.jsonl: 2 line(s) removed" in result.stdout and "suppressions.csv: 1 row(s) removed" in result.stdout
    assert "rewrote outbox, webhook_queue, soft_bounce, suppression_history, incident (VACUUM FULL)" in result.stdout
    assert "write-ahead log" in result.stdout  # what is not erased is said
    assert events(tmp_path) == others and FULL not in emails(tmp_path)

    with pg_database.connect() as db:
        assert db.execute("SELECT count(*) FROM soft_bounce WHERE recipient = %s", (FULL,)).fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM suppression_history WHERE recipient = %s", (FULL,)).fetchone() == (0,)
    files = relation_files(pg_database, postgres.data)
    assert holding(files, FULL) == []  # not in a dead row version, an index entry or a free page
    assert holding(files, GONE)  # the others' rows are still there: the files were read

    again = processes.run("erase", "-c", config, FULL)
    assert again.returncode == 0 and "0 soft bounce(s)" in again.stdout
