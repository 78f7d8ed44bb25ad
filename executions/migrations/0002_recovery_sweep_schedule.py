"""Create the beat entry that runs the recovery sweep every 2 seconds."""

from django.db import migrations

NAME = "baton: recovery sweep"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=2, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": "baton.recover",
            "interval": every,
            "enabled": True,
            "queue": "baton-control",
            "expire_seconds": 10,
            "description": "Re-dispatch lost node runs, fail runs of dead workers, enforce batch timeouts.",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, remove)]
