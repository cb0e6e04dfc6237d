"""The relations between the provider's time budgets (lambda_handler/budget.py) that its comments promise."""

from __future__ import annotations

from cdk_ses_tracking_options.lambda_handler import budget


def test_one_ses_attempt_and_the_answer_fit_an_invocation_several_times() -> None:
    # An attempt's connect and read timeouts, its backoff and the answer: the budget each attempt needs left.
    assert (
        budget.ATTEMPT_BUDGET
        == budget.CONNECT_TIMEOUT + budget.READ_TIMEOUT + budget.MAX_BACKOFF + budget.ANSWER_MARGIN
    )
    # The worker stops taking operations with two attempts' budget left: it must still start some.
    assert 2 * budget.ATTEMPT_BUDGET < budget.FUNCTION_TIMEOUT
    # A denied call waits out the grace and still has an attempt's budget.
    assert budget.ACCESS_DENIED_GRACE + budget.ATTEMPT_BUDGET < budget.FUNCTION_TIMEOUT


def test_the_answer_is_sent_before_the_deadline_and_the_timer_fires_after_the_last_attempt_may_start() -> None:
    assert budget.TIMER_MARGIN < budget.ANSWER_MARGIN
    assert budget.ANSWER_TIMEOUT < budget.ANSWER_MARGIN
    # Answers are due a margin before the ServiceTimeout that covers a whole attempt and its answer.
    assert budget.EVENT_MARGIN > budget.ATTEMPT_BUDGET


def test_the_queue_holds_a_batch_past_any_invocation_and_lambda_keeps_events_only_while_cloudformation_waits() -> None:
    # Lambda refuses a mapping from a queue whose visibility timeout is shorter than the function's timeout.
    assert budget.QUEUE_VISIBILITY >= 6 * budget.FUNCTION_TIMEOUT
    assert budget.MAX_EVENT_AGE <= budget.SERVICE_TIMEOUT
    assert 60 <= budget.MAX_EVENT_AGE <= 21600
    # A request's record outlives any delivery of its event.
    assert budget.RECORD_LIFETIME > budget.MAX_EVENT_AGE + budget.QUEUE_VISIBILITY


def test_paced_calls_are_held_and_yields_let_the_invocation_go() -> None:
    # Two paced calls in a row are slept through; a yield of several intervals pauses in the queue instead.
    assert budget.HOLD_LIMIT >= 2 * budget.INTERVAL
    assert budget.MAX_YIELD * budget.INTERVAL > budget.HOLD_LIMIT
    # Pacing outlasts the longest yield, so a provider that yields stays paced when it comes back.
    assert budget.PACED_MEMORY > budget.MAX_YIELD * budget.INTERVAL
    # SES allows one call a second: paced calls leave it room.
    assert budget.INTERVAL > 1.0
