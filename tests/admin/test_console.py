"""The console's home page, a workflow's execution records, and the System group, as each role sees them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from executions import lifecycle
from executions.models import Batch, DailyOutcome
from executions.states import BatchStatus
from tests.admin.conftest import release
from tests.conftest import machine
from workflows.services import workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)


def ended(workflow, status: str, *, hours_ago: float = 1, seconds: float = 42) -> Batch:
    """A batch of `workflow` that ended in `status`, `hours_ago` hours before now."""
    batch = lifecycle.batch_start(workflow=workflow, actor=machine())
    begun = timezone.now() - timedelta(hours=hours_ago)
    Batch.objects.filter(pk=batch.pk).update(
        status=status, created_at=begun, finished_at=begun + timedelta(seconds=seconds)
    )
    return Batch.objects.get(pk=batch.pk)


@pytest.fixture
def rival_workflow(rivals):
    return workflow_save_definition(document=release(name="secret-plan", team="rivals"), actor=machine()).workflow


def test_home_shows_running_failures_next_fires_and_a_chart_of_the_users_teams_only(
    as_user, workflow, rival_workflow, recorder
):
    running = lifecycle.batch_start(workflow=workflow, actor=machine())
    failed = ended(workflow, BatchStatus.FAILED, hours_ago=2)
    old_failure = ended(workflow, BatchStatus.FAILED, hours_ago=30)
    ended(workflow, BatchStatus.SUCCEEDED, hours_ago=3)
    hidden = ended(rival_workflow, BatchStatus.FAILED, hours_ago=1)
    DailyOutcome.objects.create(
        team=workflow.team,
        workflow=workflow,
        day=(timezone.now() - timedelta(days=3)).date(),
        status="succeeded",
        count=7,
    )
    workflow_save_definition(
        document=release(
            enabled=True, trigger={"type": "cron", "expression": "0 0 3 * * ?", "timezone": "Asia/Shanghai"}
        ),
        actor=machine(),
    )
    page = as_user("victor").get(reverse("admin:index")).content.decode()
    assert "Baton" in page and 'id="baton-home"' in page
    home = page[page.index('id="baton-home"') :]
    assert running.pk in home[home.index('id="home-running"') : home.index('id="home-failures"')]
    failures = home[home.index('id="home-failures"') : home.index('id="home-next-fires"')]
    assert failed.pk in failures and old_failure.pk not in failures
    assert hidden.pk not in page and "secret-plan" not in page
    fires = home[home.index('id="home-next-fires"') :]
    assert "release-pipeline" in fires and "19:00:00 +0000" in fires  # 03:00 in Shanghai, shown in UTC
    chart = home[home.index('id="home-chart"') : home.index('id="home-running"')]
    assert chart.count('class="chart-day"') == 14 and 'class="chart-failed"' in chart
    archived_day = (timezone.now() - timedelta(days=3)).date().isoformat()
    assert f'data-day="{archived_day}" data-total="7"' in chart  # archived history counts too


def test_the_home_page_of_a_user_without_a_team_is_empty_not_an_error(as_user, workflow):
    ended(workflow, BatchStatus.FAILED)
    page = as_user("mallory").get(reverse("admin:index")).content.decode()
    assert "Nothing is running." in page and "No failure in the last 24 hours." in page


def test_the_workflow_page_lists_its_execution_records_newest_first_filtered_and_paged(as_user, workflow):
    batches = [
        ended(workflow, BatchStatus.SUCCEEDED if i % 3 else BatchStatus.FAILED, hours_ago=50 - i) for i in range(25)
    ]
    url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    client = as_user("victor")
    page = client.get(url).content.decode()
    records = page[page.index('id="execution-records"') :]
    shown = [b.pk for b in reversed(batches)][:20]
    assert [pk for pk in shown if f'data-batch="{pk}"' in records] == shown
    assert records.index(shown[0]) < records.index(shown[1]) and batches[0].pk not in records
    assert "42.0 s" in records and 'id="records-older"' in records
    older = client.get(url, {"records_before": batches[5].created_at.isoformat()}).content.decode()
    assert f'data-batch="{batches[4].pk}"' in older and f'data-batch="{batches[5].pk}"' not in older
    failed = client.get(url, {"records_status": "failed"}).content.decode()
    assert failed.count('class="record"') == 9
    one = client.get(url, {"records_q": batches[7].pk.lower()[:5]}).content.decode()
    assert f'data-batch="{batches[7].pk}"' in one
    odd = client.get(url, {"records_before": "yesterday", "records_status": "nonsense"})
    assert odd.status_code == 200 and 'id="records-older"' in odd.content.decode()


def test_beat_s_models_are_the_superusers_system(as_user):
    root = as_user("root").get(reverse("admin:index")).content.decode()
    assert "System" in root and "django_celery_beat/periodictask/" in root
    for name in ("victor", "ada"):
        page = as_user(name).get(reverse("admin:index")).content.decode()
        assert "django_celery_beat" not in page
        assert as_user(name).get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 403
