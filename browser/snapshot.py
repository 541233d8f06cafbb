"""One moment of the mirror per answer: every part of a page (an execution's header, graph,
tree, counts and buttons; the list's rows, counts and bulk buttons) read in one database
snapshot, so a sync that commits while the answer is being rendered shows in all of its
parts or in none.

The sync writes what belongs together in one transaction (executions/history.py
store_events: events, operations and the execution's counts); a read transaction sees
either all of such a write or none of it:

- PostgreSQL: REPEATABLE READ (READ COMMITTED, its default, takes a new snapshot per
  statement);
- SQLite in WAL mode: a deferred transaction reads from the snapshot its first read
  took. Django's atomic() would begin it IMMEDIATE (console/settings.py, for writers),
  which takes the write lock: a page must not queue the sync behind it, so it is begun
  here as a reader.

Only for views that read: nothing inside may write to the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def one_moment() -> Iterator[None]:
    if connection.in_atomic_block:
        # Already inside a transaction (a test's, or a caller's): its reads are its own.
        yield
        return
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            # Ended already when SQLite rolled it back itself (an error inside).
            if connection.connection.in_transaction:
                with connection.cursor() as cursor:
                    cursor.execute("COMMIT")
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield
