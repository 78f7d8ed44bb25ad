"""Create the beat entry that runs the scheduler tick every second."""

from django.db import migrations

NAME = "baton: scheduler tick"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": "baton.tick",
            "interval": every,
            "enabled": True,
            "queue": "baton-control",
            "expire_seconds": 5,
            "description": "Start the batches of Baton's due cron and periodic triggers (kept in Baton's own tables).",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("executions", "0003_triggers")]
    operations = [migrations.RunPython(create, remove)]
