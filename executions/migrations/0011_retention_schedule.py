"""Create the beat entry that archives expired history every ten minutes (a bounded run each time)."""

from django.db import migrations

NAME = "baton: retention"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": "baton.retention",
            "interval": every,
            "enabled": True,
            "queue": "baton-control",
            "expire_seconds": 300,
            "description": "Archive ended batches past their team's retention to JSON Lines and delete them.",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("executions", "0010_daily_outcome")]
    operations = [migrations.RunPython(create, remove)]
