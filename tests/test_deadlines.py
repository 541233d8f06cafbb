"""A callback's deadline has one home (executions/deadlines.py): the inbox, the
notifications and the scheduler read the same moment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from executions import deadlines, schedule
from executions.models import HistoryEvent, Operation
from tests.factories import mirror_recorded

pytestmark = pytest.mark.django_db


def test_the_scheduler_wakes_at_the_deadline_the_inbox_shows_counted_from_callback_started():
    execution = mirror_recorded("deadline-pin", "coffee-order-waiting-timeout", 60)
    callback = Operation.objects.pending_callbacks().get(execution=execution)
    started = HistoryEvent.objects.get(
        execution=execution, event_type="CallbackStarted", operation_id=callback.operation_id
    ).timestamp
    # The copies disagreed when the operation's own start is not the callback's: the
    # scheduler counted from the operation, the inbox from the CallbackStarted event.
    # The service starts the callback's clock when it creates the callback (that event),
    # so that is the moment both read now.
    Operation.objects.filter(pk=callback.pk).update(started_at=started - timedelta(minutes=3))

    shown = deadlines.for_operations([callback])[(execution.pk, callback.operation_id)]

    assert shown.timeout_at == started + timedelta(seconds=300)
    wake = schedule.wake_moment(execution.pk, now=started)
    assert wake == shown.timeout_at + schedule.WAKE_MARGIN
