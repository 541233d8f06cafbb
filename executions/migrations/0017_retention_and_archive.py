# Retention (Source.retention_days, retention_by_function, last_prune), AWS's own
# deletion noticed (Execution.aws_deleted_at) and the archive's index (ArchivedExecution).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0016_execution_started_from"),
    ]

    operations = [
        migrations.AddField(
            model_name="execution",
            name="aws_deleted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="source",
            name="last_prune",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="source",
            name="retention_by_function",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='Days per function name pattern, overriding the source\'s: {"orders-*": 7}.',
            ),
        ),
        migrations.AddField(
            model_name="source",
            name="retention_days",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Days an ended execution is kept, then archived and pruned; blank: forever.",
                null=True,
            ),
        ),
        migrations.CreateModel(
            name="ArchivedExecution",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("arn", models.CharField(max_length=2048, unique=True)),
                ("name", models.CharField(max_length=256)),
                ("source_name", models.CharField(max_length=64)),
                ("function_name", models.CharField(max_length=170)),
                ("qualifier", models.CharField(blank=True, max_length=128)),
                ("status", models.CharField(max_length=16)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("operation_count", models.PositiveIntegerField(default=0)),
                ("event_count", models.PositiveIntegerField(default=0)),
                ("bucket", models.CharField(max_length=63)),
                ("key", models.CharField(max_length=1024)),
                ("size_bytes", models.PositiveIntegerField(default=0)),
                ("sha256", models.CharField(max_length=64)),
                ("archived_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("pruned_at", models.DateTimeField(blank=True, null=True)),
                (
                    "function",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="executions.function",
                    ),
                ),
                (
                    "source",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="executions.source",
                    ),
                ),
            ],
            options={
                "ordering": ["-ended_at", "-id"],
                "indexes": [
                    models.Index(fields=["name", "-ended_at"], name="archived_name_idx"),
                    models.Index(fields=["-ended_at", "-id"], name="archived_ended_idx"),
                ],
            },
        ),
    ]
