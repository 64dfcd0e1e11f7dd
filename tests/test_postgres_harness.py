"""The private PostgreSQL harness (tests/postgres.py): a test cluster without durability, a
benchmark's with it (a real server's defaults) and the settings it asks for."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.postgres import Postgres, missing


def settings(server: Postgres, *names: str) -> dict[str, str]:
    with server.admin() as db:
        return {name: db.execute(f"SHOW {name}").fetchone()[0] for name in names}


def test_the_test_cluster_runs_without_durability(postgres) -> None:
    shown = settings(postgres, "fsync", "synchronous_commit", "full_page_writes")
    assert shown == {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    assert not postgres.durable


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_a_durable_cluster_flushes_its_commits_and_takes_extra_settings() -> None:
    server = Postgres(
        Path(tempfile.mkdtemp(prefix="dsnworker-postgres-")),
        durable=True,
        settings={"shared_preload_libraries": "pg_stat_statements", "max_connections": "50"},
    )
    try:
        server.start()
        shown = settings(server, "fsync", "synchronous_commit", "full_page_writes", "shared_preload_libraries")
        assert shown == {
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "shared_preload_libraries": "pg_stat_statements",
        }
        assert settings(server, "max_connections") == {"max_connections": "50"}  # a setting given wins
        assert Path(f"/proc/{server.pid}/stat").exists()  # the postmaster, for a benchmark's CPU figures
    finally:
        server.close()
