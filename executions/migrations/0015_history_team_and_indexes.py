# Issue 16 part 4, "A million batches": the team stored on the batch and the node run (filled
# from the workflow's or the standalone task's team), the indexes the lists need, and the
# redundant ones dropped. On PostgreSQL only: a trigram index for the partial-id search.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce


def fill_team(apps, schema_editor):
    """Set each existing batch's and node run's team: set-based, two UPDATE statements."""
    Batch = apps.get_model("executions", "Batch")
    NodeRun = apps.get_model("executions", "NodeRun")
    Workflow = apps.get_model("workflows", "Workflow")
    Task = apps.get_model("workflows", "Task")
    Batch.objects.filter(team__isnull=True).update(
        team_id=Coalesce(
            Subquery(Workflow.objects.filter(pk=OuterRef("workflow_id")).values("team_id")[:1]),
            Subquery(Task.objects.filter(pk=OuterRef("task_id")).values("team_id")[:1]),
        )
    )
    NodeRun.objects.filter(team__isnull=True).update(
        team_id=Subquery(Batch.objects.filter(pk=OuterRef("batch_id")).values("team_id")[:1])
    )


TRIGRAM = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # Serves the partial-id search (`id LIKE '%K7QX%'`, the admin's ?q= and the API's ?id=).
    "CREATE INDEX IF NOT EXISTS batch_id_trigram ON executions_batch USING gin (id gin_trgm_ops)",
]
# Django's LIKE 'prefix%' indexes on the id and on rerun_of: nothing searches either by prefix
# (the id search is by part, which the trigram index serves).
LIKE_INDEX = """
DO $$ DECLARE name text; BEGIN
  FOR name IN SELECT indexname FROM pg_indexes
              WHERE tablename = 'executions_batch' AND indexname LIKE 'executions\\_batch\\_%\\_like'
  LOOP EXECUTE format('DROP INDEX %I', name); END LOOP;
END $$
"""


def trigram_index(apps, schema_editor):
    """Add the trigram index (PostgreSQL only; SQLite scans its few rows)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in [*TRIGRAM, LIKE_INDEX]:
        schema_editor.execute(statement, params=None)


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS batch_id_trigram")
    for column in ("id", "rerun_of_id"):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS executions_batch_{column}_like ON executions_batch ({column} varchar_pattern_ops)"
        )


def team_field(null):
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        editable=False,
        null=null,
        on_delete=django.db.models.deletion.PROTECT,
        related_name='+',
        to='workflows.team',
        verbose_name='team',
    )


class Migration(migrations.Migration):

    dependencies = [
        ('executions', '0014_operator_recovery'),
        ('workflows', '0007_team_retention_days_label'),
    ]

    operations = [
        migrations.AddField(model_name='batch', name='team', field=team_field(null=True)),
        migrations.AddField(model_name='noderun', name='team', field=team_field(null=True)),
        migrations.RunPython(fill_team, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(model_name='batch', name='team', field=team_field(null=False)),
        migrations.AlterField(model_name='noderun', name='team', field=team_field(null=False)),
        migrations.AlterField(
            model_name='batch',
            name='task',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='runs', to='workflows.task', verbose_name='task'),
        ),
        migrations.AlterField(
            model_name='batch',
            name='workflow',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='batches', to='workflows.workflow', verbose_name='workflow'),
        ),
        migrations.AlterField(
            model_name='noderun',
            name='batch',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='node_runs', to='executions.batch', verbose_name='batch'),
        ),
        migrations.AddIndex(
            model_name='batch',
            index=models.Index(fields=['-created_at'], name='batch_recent'),
        ),
        migrations.AddIndex(
            model_name='batch',
            index=models.Index(fields=['team', '-created_at'], name='batch_team_recent'),
        ),
        migrations.AddIndex(
            model_name='batch',
            index=models.Index(condition=models.Q(('status__in', ['failed', 'timed_out'])), fields=['-finished_at'], name='batch_failed_recent'),
        ),
        migrations.AddIndex(
            model_name='noderun',
            index=models.Index(fields=['team', 'id'], name='node_run_team_id'),
        ),
        migrations.RunPython(trigram_index, drop_trigram_index, elidable=False),
    ]
