"""What a running execution waits for, and what each source's backend can do.

On SQLite, adding a column with a default remakes executions_execution (a new table, the
rows copied, the old one dropped), and the status counters' triggers (0006) go with the
old table: they are created again here, and the counts refilled. A later migration that
alters executions_execution on SQLite must do the same.
"""

from django.db import migrations, models

from executions.migrations._counting import recreate_on_sqlite


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0006_status_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="execution",
            name="waiting_for",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="execution",
            name="waiting_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="source",
            name="capabilities",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(recreate_on_sqlite, migrations.RunPython.noop),
    ]
