# Telemetry records (executions/telemetry.py): a source's telemetry queue, what the
# records told of each operation and execution, and the records held for executions the
# mirror does not have yet.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from executions.migrations._counting import recreate_on_sqlite


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0017_retention_and_archive"),
    ]

    operations = [
        migrations.AddField(
            model_name="source",
            name="telemetry_queue_url",
            field=models.CharField(
                blank=True,
                help_text="SQS queue receiving the functions' DurableExecutionTelemetry records.",
                max_length=2048,
            ),
        ),
        migrations.AddField(
            model_name="execution",
            name="telemetry_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="execution",
            name="telemetry_truncated",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="operation",
            name="telemetry",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="HeldTelemetryRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("execution_arn", models.CharField(max_length=2048)),
                ("emitted_at", models.CharField(blank=True, max_length=40)),
                ("body", models.TextField()),
                ("reason", models.TextField(blank=True)),
                ("received_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "source",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="held_telemetry",
                        to="executions.source",
                    ),
                ),
            ],
            options={
                "ordering": ["received_at", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("source", "execution_arn"), name="held_telemetry_unique"
                    )
                ],
            },
        ),
        # SQLite rebuilds the execution table for the new non-null column, which drops
        # the status-count triggers (0006): put them back, as 0007 does.
        migrations.RunPython(recreate_on_sqlite, migrations.RunPython.noop),
    ]
