"""Start the event cursor at the log's end (no alerts for history) and create the backstop's beat entry."""

from django.db import migrations
from django.db.models import Max

NAME = "baton: alerts backstop"


def create(apps, schema_editor):
    last = apps.get_model("executions", "Event").objects.aggregate(last=Max("pk"))["last"] or 0
    apps.get_model("alerts", "Cursor").objects.update_or_create(name="events", defaults={"event_id": last})
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=NAME,
        defaults={
            "task": "baton.alerts",
            "interval": every,
            "enabled": True,
            "queue": "baton-alerts",
            "expire_seconds": 60,
            "description": "Decide alerts from the event log after the cursor; send due and retried deliveries.",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("executions", "0009_remove_batch_reason"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, remove)]
