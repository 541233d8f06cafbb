"""Re-creating the status counters' SQLite triggers (0006) after a migration that remade
executions_execution, which drops them."""

from importlib import import_module

_0006 = import_module("executions.migrations.0006_status_counts")


def recreate_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for sql in [*_0006.SQLITE_DOWN, *_0006.SQLITE_UP, "DELETE FROM executions_statuscount"]:
        schema_editor.execute(sql)
    schema_editor.execute(_0006.FILL)
