"""What a running execution waits for (domain.operations.waiting_for), and the one
vocabulary the list, the header, the operations tab and the graph share."""

from __future__ import annotations

from datetime import UTC, datetime

from domain import operations, status

SOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
CONTEXT = ("CONTEXT", "WaitForCallback", "STARTED", None)


def test_a_pending_callback_makes_the_execution_wait_for_a_callback():
    ops = [CONTEXT, ("CALLBACK", "Callback", "STARTED", None)]
    assert operations.waiting_for(ops) == ("callback", None)


def test_a_running_step_anywhere_means_the_execution_computes():
    ops = [("CALLBACK", "Callback", "STARTED", None), ("STEP", "Step", "STARTED", None)]
    assert operations.waiting_for(ops) == ("", None)


def test_timers_wait_until_the_earliest_end_and_a_callback_comes_first():
    timers = [("WAIT", "Wait", "STARTED", LATER), ("WAIT", "Wait", "STARTED", SOON)]
    assert operations.waiting_for(timers) == ("timer", SOON)
    both = [*timers, ("CALLBACK", "Callback", "STARTED", None)]
    assert operations.waiting_for(both) == ("callback", None)


def test_a_pending_step_waits_to_retry_and_a_pending_condition_to_poll():
    assert operations.waiting_for([("STEP", "Step", "PENDING", None)]) == ("retry", None)
    condition = [("STEP", "WaitForCondition", "PENDING", None)]
    assert operations.waiting_for(condition) == ("poll", None)


def test_finished_operations_and_bare_contexts_wait_for_nothing():
    ops = [CONTEXT, ("STEP", "Step", "SUCCEEDED", None), ("CALLBACK", "Callback", "FAILED", None)]
    assert operations.waiting_for(ops) == ("", None)


def test_the_execution_badge_says_waiting_only_while_it_runs():
    assert status.execution_label("RUNNING", "callback") == "Waiting"
    assert status.execution_state("RUNNING", "timer") == status.WAITING
    assert status.execution_label("RUNNING", "") == "Running"
    assert status.execution_label("SUCCEEDED", "callback") == "Succeeded"
    assert status.execution_state("STOPPED", "callback") == status.ENDED


def test_operations_use_the_graphs_words():
    assert status.operation_label("CALLBACK", "Callback", "STARTED") == "Waiting"
    assert status.operation_label("WAIT", "Wait", "STARTED") == "Waiting"
    assert status.operation_label("STEP", "Step", "PENDING") == "Waiting"
    assert status.operation_label("STEP", "Step", "STARTED") == "Running"
    assert status.operation_label("STEP", "Step", "TIMED_OUT") == "Timed out"


def test_an_operations_badge_says_waiting_exactly_when_the_execution_would_wait_on_it():
    # One rule (status.waiting_kind) decides both, for every type, subtype and status the
    # API has: a badge can no longer say "Waiting" where the header says "Running".
    types = ["STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE"]
    subtypes = [None, "Step", "Wait", "Callback", "WaitForCondition", "ChainedInvoke"]
    for type_ in types:
        for subtype in subtypes:
            for state in status.OPERATION_STATUSES:
                op = (type_, subtype, state, None)
                waits = operations.waiting_for([op])[0] != ""
                assert (status.operation_state(*op[:3]) == status.WAITING) == waits, op


def test_a_callback_that_has_not_started_is_not_waiting_for_anyone():
    # The two copies disagreed here: the badge said "Waiting" for any PENDING operation,
    # the header said the execution computes. Nobody can answer a callback that has not
    # started, so it does not wait on a person: the header was right.
    assert status.operation_state("CALLBACK", "Callback", "PENDING") != status.WAITING
    assert operations.waiting_for([("CALLBACK", "Callback", "PENDING", None)]) == ("", None)
    # A wait_for_callback's group is drawn waiting while its callback waits.
    assert status.operation_state("CONTEXT", "WaitForCallback", "STARTED") == status.WAITING
    assert status.operation_state("CONTEXT", "Parallel", "STARTED") == status.RUNNING
