"""`erase` on a PostgreSQL state: the tables that hold addresses are rewritten once the rows are gone.

PostgreSQL keeps a deleted or updated row's old version in the table's file until a vacuum, and even
a plain VACUUM only marks its space free: its bytes stay on the page until reused. `VACUUM FULL`
writes each table (its indexes and TOAST data too) into new files and drops the old ones, so the
erased address leaves the database's files; ANALYZE replaces the planner's sampled values of its
columns. Every such table is rewritten at each run, not only those the run changed: a run killed
after the deletions and before the rewrite is finished by the next, which deletes nothing.

What stays, for as long as the server keeps it: the write-ahead log (until its segments are
recycled), WAL archives and base backups, and replicas' own copies (until they replay the rewrite
and vacuum). A transaction open elsewhere while it runs keeps the rows it can see (VACUUM FULL
copies them): the next erase, or autovacuum, removes them.

Each rewrite takes the table's exclusive lock for a moment (a worker's pass waits for it); the
tables are small (the outbox is pruned, soft bounces are kept for their window).
"""

from __future__ import annotations

from dsnworker.worker.state import Store

# every table with a column that may hold an address (recipient, ordering, an event's or incident's
# JSON, an error text)
ADDRESS_TABLES = ("outbox", "webhook_queue", "soft_bounce", "suppression_history", "incident")


def rewrite_tables(store: Store) -> list[str]:
    """VACUUM FULL and ANALYZE each table that may hold an address; the tables rewritten."""
    for table in ADDRESS_TABLES:
        store.db.execute(f"VACUUM (FULL, ANALYZE) {table}")  # outside a transaction: VACUUM refuses one
    return list(ADDRESS_TABLES)
