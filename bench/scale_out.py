"""Scale out: W `dsnworker run` processes on one PostgreSQL state, the same load for each W, and what
every message costs the database.

Starts a private PostgreSQL (tests/postgres.py) with durability on, as a real server has it (fsync,
synchronous_commit, full_page_writes) and `pg_stat_statements` loaded, and a private Dovecot
(tests/dovecot.py: root, `apt-get install dovecot-imapd openssl postgresql`) with M mailboxes. For
each W of --workers, in every round (--runs; the order of the Ws turns from round to round), on a
fresh database and M fresh mailboxes:

1. W `dsnworker run` processes start on one configuration (passes every second, `[cluster] lease`
   short so that the mailboxes are spread within seconds), and the bench waits until every mailbox
   is leased and spread evenly (ceil(M / W) at most each);
2. idle: the database's work for --idle-seconds while the workers poll empty mailboxes (passes,
   heartbeats): what a mailbox costs without mail;
3. load: the N bounces (written beforehand into each maildir's tmp/) are renamed into new/ at once,
   and the clock runs until the `processed` table holds all N (polled every 0.1 s on a connection
   pg_stat_statements does not track; a watchdog against a hang).

Printed per round and as medians: wall time, messages/s, the scaling ratio to W=1, CPU of the
workers, of the PostgreSQL server's processes and of Dovecot's (from /proc: user + sys, reaped
children included); per message, the database's execution time (pg_stat_statements' total over every
statement the workers ran, the advisory locks' waits apart) and the time threads waited for the
writers' advisory lock (its `pg_advisory_xact_lock` row); how long that lock is held (pg_locks sampled
every 20 ms: the share of samples in which a transaction holds it, times the wall time), per write
transaction and per message, which gives the lock's ceiling; statements, write transactions, rows
written (INSERT/UPDATE/DELETE rows) and WAL bytes (pg_current_wal_lsn's advance) per message, the
time of a WAL flush (pg_stat_wal, track_wal_io_timing) and the database's growth per 1,000 bounces
(pg_database_size). Then the idle figures per pass, and for the last round the statements by time
and each table's size.

The machine's cores are shared by Dovecot, PostgreSQL, the workers (and other people's jobs): the
absolute throughput is this machine's; what transfers is the per-message database cost.

    .venv/bin/python bench/scale_out.py [--mailboxes 20] [--messages 10000] [--workers 1 2 4] [--runs 3]
        [--lease 6] [--idle-seconds 5]
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.imap_end_to_end import messages  # noqa: E402
from dsnworker.worker.state_pg import _WRITER_LOCK  # noqa: E402
from tests import processes  # noqa: E402
from tests.dovecot import Account, Dovecot  # noqa: E402
from tests.postgres import PASSWORD_ENV, Database, Postgres  # noqa: E402

WATCHDOG = 600.0  # seconds: only against a hang
SPREAD_WATCHDOG = 120.0
SAMPLE_EVERY = 0.02  # seconds between looks at pg_locks (who holds the writers' lock, who waits)
TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU from /proc ---------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks: user + sys of the process and of its reaped children), or None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), sum(int(value) for value in fields[11:15])


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants, those they reaped included."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _stat(int(entry))) is not None:
            table[int(entry)] = found
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, (parent, _) in table.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(table[pid][1] for pid in tree if pid in table) / TICKS


# -- the database's counters ------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    query: str
    calls: int
    ms: float
    rows: int


class Observer:
    """The bench's own connection to the round's database, untracked by pg_stat_statements."""

    def __init__(self, database: Database) -> None:
        self.db = database.connect()
        self.db.execute("SET pg_stat_statements.track = 'none'")
        self.name = database.name

    def one(self, sql: str, *args: object) -> Any:
        return self.db.execute(sql, args or None).fetchone()[0]

    def reset(self) -> tuple[int, int]:
        """Empty pg_stat_statements and pg_stat_wal; (the WAL position, the database's size) now."""
        self.db.execute("SELECT pg_stat_statements_reset()")
        self.db.execute("SELECT pg_stat_reset_shared('wal')")
        return self.wal(), self.size()

    def writers_lock(self) -> tuple[bool, int]:
        """(whether a transaction holds the writers' advisory lock, how many wait for it) now."""
        held, waiting = self.db.execute(
            "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted) FROM pg_locks "
            "WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND objsubid = 1",
            (_WRITER_LOCK >> 32, _WRITER_LOCK & 0xFFFFFFFF),
        ).fetchone()
        return bool(held), int(waiting)

    def wal_syncs(self) -> tuple[int, float]:
        """pg_stat_wal's (WAL flushes to disk, ms they took) since the reset (a backend reports its
        counts when it goes idle or exits: read after the workers stopped)."""
        syncs, ms = self.db.execute("SELECT wal_sync, wal_sync_time FROM pg_stat_wal").fetchone()
        return int(syncs), float(ms)

    def wal(self) -> int:
        return int(self.one("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))

    def size(self) -> int:
        return int(self.one("SELECT pg_database_size(current_database())"))

    def statements(self) -> list[Statement]:
        rows = self.db.execute(
            "SELECT query, calls, total_exec_time, rows FROM pg_stat_statements s JOIN pg_database d "
            "ON d.oid = s.dbid WHERE d.datname = current_database() ORDER BY total_exec_time DESC"
        ).fetchall()
        return [Statement(" ".join(query.split()), int(calls), float(ms), int(n)) for query, calls, ms, n in rows]

    def processed(self) -> int:
        import psycopg

        try:
            return int(self.one("SELECT count(*) FROM processed"))
        except psycopg.errors.UndefinedTable:  # the first worker has not made the tables yet
            return 0

    def files_caught_up(self) -> bool:
        """Both file sinks have written every event of the outbox."""
        last = self.one("SELECT coalesce(max(seq), 0) FROM outbox")
        marks = self.db.execute("SELECT last_seq FROM sink_progress").fetchall()
        return len(marks) == 2 and all(mark >= last for (mark,) in marks)

    def spread(self, workers: int, mailboxes: int) -> bool:
        """Every mailbox leased, to W live workers, none holding more than its share."""
        import psycopg

        try:
            owners = self.db.execute(
                "SELECT owner, count(*) FROM dsnworker_lease WHERE name LIKE 'mailbox:%' "
                "AND owner IS NOT NULL AND expires_at > clock_timestamp() GROUP BY owner"
            ).fetchall()
        except psycopg.errors.UndefinedTable:  # the first worker has not made the tables yet
            return False
        counts = [count for _, count in owners]
        return sum(counts) == mailboxes and len(counts) == workers and max(counts) <= math.ceil(mailboxes / workers)

    def table_sizes(self) -> list[tuple[str, int, int]]:
        """(table, bytes with its indexes and TOAST, rows), largest first."""
        tables = self.db.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 2 DESC"
        ).fetchall()
        return [(name, int(size), int(self.one(f'SELECT count(*) FROM "{name}"'))) for name, size in tables]

    def close(self) -> None:
        self.db.close()


@dataclass(frozen=True)
class Work:
    """What the database did over a window: from pg_stat_statements and the WAL position."""

    statements: list[Statement]
    wal_bytes: int

    @property
    def ms(self) -> float:
        return sum(s.ms for s in self.statements)

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.statements)

    def of(self, prefix: str) -> list[Statement]:
        return [s for s in self.statements if s.query.upper().startswith(prefix)]

    @property
    def lock_ms(self) -> float:
        """Time waiting for (and taking) the writers' lock, summed over every waiting thread."""
        return sum(s.ms for s in self.statements if "pg_advisory_xact_lock" in s.query)

    @property
    def write_transactions(self) -> int:
        return sum(s.calls for s in self.statements if "pg_advisory_xact_lock" in s.query)

    @property
    def exec_ms(self) -> float:
        """Execution time of every statement but the advisory locks' (waits, not work)."""
        return sum(s.ms for s in self.statements if "pg_advisory" not in s.query)

    @property
    def rows_written(self) -> int:
        return sum(s.rows for verb in ("INSERT", "UPDATE", "DELETE") for s in self.of(verb))

    @property
    def passes(self) -> int:
        return sum(s.calls for s in self.of("INSERT INTO PASS_LOG"))


# -- one round --------------------------------------------------------------------------------------


def config_text(accounts: dict[str, Account], database: Database, lease: float) -> str:
    text = f'jobs = 1\nstate = "{database.url}"\nstate_password_env = "{PASSWORD_ENV}"\n'
    text += f'[cluster]\nlease = "{lease:g}s"\n'
    for name, account in accounts.items():
        text += (
            f'[[mailbox]]\nname = "{name}"\ninterval = "1s"\n'
            f'[mailbox.server]\nhost = "127.0.0.1"\nport = {account.imap_port}\ntls = "starttls"\n'
            f'ca_file = "{account.ca_file}"\n'
            f'[mailbox.auth]\nusername = "{account.username}"\npassword_env = "PW_{name.upper()}"\n'
        )
    text += '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
    text += '[[sink]]\nname = "suppressions"\ntype = "suppression_file"\npath = "suppressions.csv"\n'
    return text


@dataclass(frozen=True)
class Round:
    workers: int
    seconds: float
    worker_cpu: float
    postgres_cpu: float
    dovecot_cpu: float
    load: Work
    idle: Work
    idle_seconds: float
    growth: int  # bytes the database grew by over the load
    lock_busy: float  # share of the load's samples in which a transaction held the writers' lock
    idle_lock_busy: float  # the same while the mailboxes were empty
    idle_cpu: tuple[float, ...]  # CPU seconds of the workers, PostgreSQL, Dovecot while they were
    lock_queue: float  # threads waiting for it, on average over the samples
    wal_syncs: int
    wal_sync_ms: float

    def rate(self, count: int) -> float:
        return count / self.seconds


class Bench:
    def __init__(self, root: Path, postgres: Postgres, dovecot: Dovecot, args: argparse.Namespace) -> None:
        self.root, self.postgres, self.dovecot, self.args = root, postgres, dovecot, args
        self.mail = messages(args.messages)
        self.last_tables: list[tuple[str, int, int]] = []
        self._rounds = 0

    def round(self, workers: int) -> Round:
        self._rounds += 1
        work = self.root / f"round{self._rounds}-w{workers}"
        work.mkdir()
        names = [f"m{n:03d}" for n in range(self.args.mailboxes)]
        accounts = {name: self.dovecot.add_user() for name in names}
        share = [self.mail[n :: len(names)] for n in range(len(names))]  # the same load, spread evenly
        moves = [move for n, name in enumerate(names) for move in accounts[name].stage(share[n])]
        database = self.postgres.new_database()
        with database.connect() as db:
            db.execute("CREATE EXTENSION pg_stat_statements")
        config = work / "config.toml"
        config.write_text(config_text(accounts, database, self.args.lease))
        env = {f"PW_{name.upper()}": account.password for name, account in accounts.items()}
        env[PASSWORD_ENV] = database.password
        observer = Observer(database)
        running: list[subprocess.Popen[str]] = []
        try:
            for number in range(workers):
                with open(work / f"worker{number}.log", "w") as log:
                    running.append(
                        processes.start(
                            "run", "-c", config, env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=work, text=True
                        )
                    )
            if not processes.wait_until(lambda: observer.spread(workers, len(names)), SPREAD_WATCHDOG):
                raise RuntimeError(f"the mailboxes were not spread over {workers} worker(s): see {work}/worker*.log")

            wal, _ = observer.reset()
            idle_cpu = self._cpu(running)
            idle_started = time.perf_counter()
            idle_samples = []
            while time.perf_counter() - idle_started < self.args.idle_seconds:
                idle_samples.append(observer.writers_lock())
                time.sleep(SAMPLE_EVERY)
            idle = Work(observer.statements(), observer.wal() - wal)
            idle_seconds = time.perf_counter() - idle_started
            idle_cpu = tuple(after - before for before, after in zip(idle_cpu, self._cpu(running), strict=True))

            wal, size = observer.reset()
            cpu = self._cpu(running)
            started = time.perf_counter()
            for tmp, new in moves:
                os.rename(tmp, new)
            samples = self._load(observer, work)
            seconds = time.perf_counter() - started
            load = Work(observer.statements(), observer.wal() - wal)
            done = self._cpu(running)
            growth = observer.size() - size
            if not processes.wait_until(observer.files_caught_up, WATCHDOG):
                raise RuntimeError(f"the file sinks did not catch up: see {work}/worker*.log")
        finally:
            for process in running:
                process.send_signal(signal.SIGTERM)
            for process in running:
                process.wait(timeout=60)
        try:
            syncs, sync_ms = observer.wal_syncs()
            self.last_tables = observer.table_sizes()
        finally:
            observer.close()
        return Round(
            workers,
            seconds,
            *(after - before for before, after in zip(cpu, done, strict=True)),
            load=load,
            idle=idle,
            idle_seconds=idle_seconds,
            growth=growth,
            lock_busy=statistics.fmean(held for held, _ in samples),
            idle_lock_busy=statistics.fmean(held for held, _ in idle_samples),
            idle_cpu=idle_cpu,
            lock_queue=statistics.fmean(waiting for _, waiting in samples),
            wal_syncs=syncs,
            wal_sync_ms=sync_ms,
        )

    def _load(self, observer: Observer, work: Path) -> list[tuple[bool, int]]:
        """Sample the writers' lock until every message is processed (counted every fifth sample)."""
        samples: list[tuple[bool, int]] = []
        deadline = time.monotonic() + WATCHDOG
        while time.monotonic() < deadline:
            samples.append(observer.writers_lock())
            if len(samples) % 5 == 0 and observer.processed() >= len(self.mail):
                return samples
            time.sleep(SAMPLE_EVERY)
        raise RuntimeError(f"not every message was processed: see {work}/worker*.log")

    def _cpu(self, running: list[subprocess.Popen[str]]) -> tuple[float, float, float]:
        """CPU seconds so far: the workers, the PostgreSQL server, Dovecot."""
        master = int((self.dovecot.root / "base" / "master.pid").read_text().strip())
        return sum(tree_cpu(p.pid) for p in running), tree_cpu(self.postgres.pid), tree_cpu(master)


# -- the report -------------------------------------------------------------------------------------


def per_message(result: Round, count: int) -> dict[str, float]:
    """The round's figures: per message, per write transaction, shares."""
    load = result.load
    held_seconds = result.lock_busy * result.seconds  # the writers' lock was held this long in all
    transactions = max(1, load.write_transactions)
    return {
        "rate": result.rate(count),
        "worker_cpu_ms": result.worker_cpu * 1000 / count,
        "pg_cpu_ms": result.postgres_cpu * 1000 / count,
        "dovecot_cpu_ms": result.dovecot_cpu * 1000 / count,
        "pg_cpu_share": result.postgres_cpu / max(1e-9, result.postgres_cpu + result.worker_cpu),
        "exec_ms": load.exec_ms / count,
        "exec_share": load.exec_ms / 1000 / (result.seconds * result.workers),
        "lock_wait_ms": load.lock_ms / count,
        "lock_busy": result.lock_busy,
        "lock_queue": result.lock_queue,
        "txns": load.write_transactions / count,
        "held_ms_txn": held_seconds * 1000 / transactions,
        "held_ms_msg": held_seconds * 1000 / count,
        "statements": load.calls / count,
        "rows": load.rows_written / count,
        "wal": load.wal_bytes / count,
        "sync_ms": result.wal_sync_ms / max(1, result.wal_syncs),
        "syncs": result.wal_syncs / count,
        "per_1000": result.growth / count * 1000 / 1e6,
    }


def print_round(result: Round, count: int) -> None:
    f = per_message(result, count)
    print(
        f"  W={result.workers}: {result.seconds:6.2f} s {f['rate']:6,.0f} msg/s | CPU s: workers "
        f"{result.worker_cpu:5.1f}, postgres {result.postgres_cpu:4.1f}, dovecot {result.dovecot_cpu:4.1f} | "
        f"writers' lock busy {f['lock_busy']:.0%} (queue {f['lock_queue']:.1f}), held {f['held_ms_txn']:.1f} ms "
        f"per write txn | per msg: DB exec {f['exec_ms']:.3f} ms, lock wait {f['lock_wait_ms']:.2f} ms, "
        f"{f['statements']:.2f} stmts, {f['txns']:.3f} write txns, {f['rows']:.2f} rows, {f['wal']:,.0f} B WAL"
    )


_COLUMNS = (  # key, heading, format
    ("rate", "msg/s", "{:,.0f}"),
    ("scaling", "xW1", "{:.2f}"),
    ("worker_cpu_ms", "wkCPUms", "{:.3f}"),
    ("pg_cpu_ms", "pgCPUms", "{:.3f}"),
    ("dovecot_cpu_ms", "dvCPUms", "{:.3f}"),
    ("pg_cpu_share", "pgCPU%", "{:.1%}"),
    ("exec_ms", "DBexecms", "{:.3f}"),
    ("exec_share", "DBexec%", "{:.1%}"),
    ("lock_wait_ms", "waitms", "{:.2f}"),
    ("lock_busy", "lock%", "{:.0%}"),
    ("lock_queue", "queue", "{:.1f}"),
    ("held_ms_txn", "ms/txn", "{:.2f}"),
    ("held_ms_msg", "ms/msg", "{:.3f}"),
    ("txns", "txn/msg", "{:.3f}"),
    ("statements", "stmt/msg", "{:.2f}"),
    ("rows", "rows/msg", "{:.2f}"),
    ("wal", "WAL B", "{:,.0f}"),
    ("sync_ms", "syncms", "{:.2f}"),
    ("syncs", "sync/msg", "{:.3f}"),
    ("per_1000", "MB/1000", "{:.2f}"),
)


def print_medians(rounds: list[Round], count: int, workers: list[int]) -> dict[int, dict[str, float]]:
    medians = {}
    for w in workers:
        figures = [per_message(r, count) for r in rounds if r.workers == w]
        medians[w] = {key: statistics.median(f[key] for f in figures) for key in figures[0]}
    for w in workers:
        medians[w]["scaling"] = medians[w]["rate"] / medians[workers[0]]["rate"]
    print(f"\nmedians over the rounds ({count:,} bounces each):")
    print(" W " + " ".join(f"{heading:>9}" for _, heading, _ in _COLUMNS))
    for w, m in medians.items():
        print(f"{w:>2} " + " ".join(f"{form.format(m[key]):>9}" for key, _, form in _COLUMNS))
    print(
        "wkCPU/pgCPU/dvCPU: CPU ms per message of the workers, the PostgreSQL server, Dovecot; pgCPU%: the server's "
        "share of workers + server CPU; DBexec: pg_stat_statements' execution time of every statement but the "
        "advisory locks, per message and as a share of the workers' wall time (W x wall); wait: time threads waited "
        "for the writers' lock, summed over threads; lock%: share of pg_locks samples in which a transaction held "
        "it, queue: threads waiting on average; ms/txn and ms/msg: the lock's hold time (lock% x wall) per write "
        "transaction and per message (its ceiling is 1000 / (ms/msg) messages/s); syncms: pg_stat_wal's time per "
        "WAL flush (a durable commit waits for one); MB/1000: pg_database_size's growth per 1,000 bounces"
    )
    return medians


def print_idle(rounds: list[Round], mailboxes: int) -> None:
    print(f"\nidle ({mailboxes} empty mailboxes passed every second; heartbeats), medians per W:")
    for w in sorted({r.workers for r in rounds}):
        mine = [r for r in rounds if r.workers == w]
        passes = statistics.median(r.idle.passes / r.idle_seconds for r in mine)
        per_pass = statistics.median(r.idle.exec_ms / max(1, r.idle.passes) for r in mine)
        commits = statistics.median(r.idle.write_transactions / r.idle_seconds for r in mine)
        stmts = statistics.median(r.idle.calls / max(1, r.idle.passes) for r in mine)
        wal = statistics.median(r.idle.wal_bytes / max(1, r.idle.passes) for r in mine)
        busy = statistics.median(r.idle_lock_busy for r in mine)
        cpu = [statistics.median(r.idle_cpu[n] * 1000 / max(1, r.idle.passes) for r in mine) for n in range(3)]
        held = statistics.median(
            r.idle_lock_busy * r.idle_seconds * 1000 / max(1, r.idle.write_transactions) for r in mine
        )
        print(
            f"  W={w}: {passes:5.1f} passes/s, {commits:5.1f} write txns/s, writers' lock busy {busy:.0%}, held "
            f"{held:.2f} ms per write txn; per pass: DB exec {per_pass:.3f} ms, {stmts:.1f} statements, "
            f"{wal:,.0f} B WAL, CPU ms workers {cpu[0]:.2f}, postgres {cpu[1]:.2f}, dovecot {cpu[2]:.2f}"
        )


def print_statements(result: Round, count: int) -> None:
    print(f"\nstatements by DB time, last round (W={result.workers}), per message and per call:")
    total = result.load.ms or 1.0
    for s in result.load.statements[:14]:
        print(
            f"  {s.ms / total:6.1%} {s.ms / count:7.4f} ms/msg {s.calls / count:6.3f} calls/msg "
            f"{s.ms / max(1, s.calls):7.3f} ms/call {s.rows / max(1, s.calls):7.1f} rows/call  {s.query[:100]}"
        )


def print_tables(tables: list[tuple[str, int, int]], count: int) -> None:
    print(f"\ntables after the last round ({count:,} bounces; the outbox not pruned yet: pruning runs hourly):")
    for name, size, rows in tables:
        if size:
            print(f"  {name:22} {size / 1e6:7.2f} MB {rows:>7,} rows {size / count * 1000 / 1e6:6.2f} MB per 1,000")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--mailboxes", type=int, default=20)
    options.add_argument("--messages", type=int, default=10_000)
    options.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--lease", type=float, default=6.0, help="[cluster] lease, seconds (heartbeat a third)")
    options.add_argument("--idle-seconds", type=float, default=5.0)
    args = options.parse_args()

    print(
        f"{args.messages:,} bounces over {args.mailboxes} mailboxes; workers {args.workers}; {args.runs} round(s); "
        f"lease {args.lease:g} s; {os.cpu_count()} cores shared by Dovecot, PostgreSQL, the workers and others' jobs: "
        "the throughput is this machine's, the per-message database cost is what transfers"
    )
    print(f"load average before: {os.getloadavg()}")
    postgres = Postgres(
        Path(tempfile.mkdtemp(prefix="dsnworker-postgres-")),
        durable=True,
        settings={"shared_preload_libraries": "pg_stat_statements", "track_wal_io_timing": "on"},
    )
    dovecot = Dovecot(Path(tempfile.mkdtemp(prefix="dsnworker-dovecot-")))
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="dsnworker-scale-") as temp:
        try:
            postgres.start()
            dovecot.start()
            with postgres.admin() as db:
                shown = {
                    name: db.execute(f"SHOW {name}").fetchone()[0]
                    for name in ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level")
                }
            print("PostgreSQL:", ", ".join(f"{k} {v}" for k, v in shown.items()), "(durable, as a real server)")
            bench = Bench(Path(temp), postgres, dovecot, args)
            for run in range(args.runs):
                print(f"round {run + 1}:")
                order = args.workers[run % len(args.workers) :] + args.workers[: run % len(args.workers)]
                for workers in order:
                    rounds.append(bench.round(workers))
                    print_round(rounds[-1], args.messages)
        finally:
            dovecot.close()
            postgres.close()
    print(f"load average after: {os.getloadavg()}")
    print_medians(rounds, args.messages, args.workers)
    print_idle(rounds, args.mailboxes)
    print_statements(rounds[-1], args.messages)
    print_tables(bench.last_tables, args.messages)


if __name__ == "__main__":
    main()
