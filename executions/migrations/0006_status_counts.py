"""Status counts kept by the database, and indexes for searching names and inputs.

StatusCount holds, per function and status, how many executions there are. Triggers on
executions_execution keep it exact whoever writes (the sync, the status events, the
admin, a bulk insert): on PostgreSQL statement-level triggers with transition tables, so
a bulk insert costs one grouped upsert (rows upserted in (function, status) order, so two
writers never lock them in opposite orders); on SQLite row-level triggers (its writers
are serialised anyway). The table is filled from the executions already there.

On PostgreSQL, pg_trgm GIN indexes on UPPER(name) and UPPER(input_payload) serve the
list's "contains" filters (Django's icontains is UPPER(x) LIKE UPPER(pattern)).
"""

import django.db.models.deletion
from django.db import migrations, models

POSTGRES_UP = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE OR REPLACE FUNCTION executions_count_changes() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO executions_statuscount (function_id, status, count)
        SELECT function_id, status, count(*) FROM new_rows
        GROUP BY function_id, status ORDER BY function_id, status
        ON CONFLICT (function_id, status)
        DO UPDATE SET count = executions_statuscount.count + EXCLUDED.count;
    ELSIF TG_OP = 'DELETE' THEN
        -- Only rows still there: deleting a function deletes its counts first.
        UPDATE executions_statuscount c SET count = c.count - d.n
        FROM (SELECT function_id, status, count(*) AS n FROM old_rows
              GROUP BY function_id, status) d
        WHERE c.function_id = d.function_id AND c.status = d.status;
    ELSE
        INSERT INTO executions_statuscount (function_id, status, count)
        SELECT function_id, status, sum(delta) FROM (
            SELECT o.function_id, o.status, -1 AS delta
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status OR n.function_id <> o.function_id
            UNION ALL
            SELECT n.function_id, n.status, 1 AS delta
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status OR n.function_id <> o.function_id
        ) changes
        GROUP BY function_id, status HAVING sum(delta) <> 0 ORDER BY function_id, status
        ON CONFLICT (function_id, status)
        DO UPDATE SET count = executions_statuscount.count + EXCLUDED.count;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER executions_count_inserted AFTER INSERT ON executions_execution
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION executions_count_changes();
CREATE TRIGGER executions_count_deleted AFTER DELETE ON executions_execution
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION executions_count_changes();
CREATE TRIGGER executions_count_updated AFTER UPDATE ON executions_execution
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION executions_count_changes();

CREATE INDEX IF NOT EXISTS exec_name_trgm_idx
    ON executions_execution USING gin (UPPER(name) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS exec_input_trgm_idx
    ON executions_execution USING gin (UPPER(input_payload) gin_trgm_ops);
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS executions_count_inserted ON executions_execution;
DROP TRIGGER IF EXISTS executions_count_deleted ON executions_execution;
DROP TRIGGER IF EXISTS executions_count_updated ON executions_execution;
DROP FUNCTION IF EXISTS executions_count_changes();
DROP INDEX IF EXISTS exec_name_trgm_idx;
DROP INDEX IF EXISTS exec_input_trgm_idx;
"""

SQLITE_UP = [
    """
    CREATE TRIGGER executions_count_inserted AFTER INSERT ON executions_execution
    BEGIN
        INSERT INTO executions_statuscount (function_id, status, count)
        VALUES (NEW.function_id, NEW.status, 1)
        ON CONFLICT (function_id, status) DO UPDATE SET count = count + 1;
    END
    """,
    """
    CREATE TRIGGER executions_count_deleted AFTER DELETE ON executions_execution
    BEGIN
        UPDATE executions_statuscount SET count = count - 1
        WHERE function_id = OLD.function_id AND status = OLD.status;
    END
    """,
    """
    CREATE TRIGGER executions_count_updated AFTER UPDATE OF status, function_id
    ON executions_execution
    WHEN NEW.status IS NOT OLD.status OR NEW.function_id IS NOT OLD.function_id
    BEGIN
        UPDATE executions_statuscount SET count = count - 1
        WHERE function_id = OLD.function_id AND status = OLD.status;
        INSERT INTO executions_statuscount (function_id, status, count)
        VALUES (NEW.function_id, NEW.status, 1)
        ON CONFLICT (function_id, status) DO UPDATE SET count = count + 1;
    END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS executions_count_inserted",
    "DROP TRIGGER IF EXISTS executions_count_deleted",
    "DROP TRIGGER IF EXISTS executions_count_updated",
]

FILL = """
INSERT INTO executions_statuscount (function_id, status, count)
SELECT function_id, status, count(*) FROM executions_execution GROUP BY function_id, status
"""


def create_counting(apps, schema_editor):
    statements = [POSTGRES_UP] if schema_editor.connection.vendor == "postgresql" else SQLITE_UP
    for sql in [*statements, FILL]:
        schema_editor.execute(sql)


def drop_counting(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for sql in [POSTGRES_DOWN] if postgres else SQLITE_DOWN:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0005_status_events"),
    ]

    operations = [
        migrations.CreateModel(
            name="StatusCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("RUNNING", "Running"),
                            ("SUCCEEDED", "Succeeded"),
                            ("FAILED", "Failed"),
                            ("TIMED_OUT", "Timed Out"),
                            ("STOPPED", "Stopped"),
                            ("PAUSING", "Pausing"),
                            ("PAUSED", "Paused"),
                            ("DELETING", "Deleting"),
                        ],
                        max_length=16,
                    ),
                ),
                ("count", models.BigIntegerField(default=0)),
                (
                    "function",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="executions.function",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("function", "status"), name="status_count_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(create_counting, drop_counting),
    ]
