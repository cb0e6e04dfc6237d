"""Every event is answered exactly once, and SES changed by it once: under duplicate deliveries of an event or of a
queued message, writes applied whose answers were lost, events and messages that come after CloudFormation has
stopped waiting. The handler runs in-process; SES, DynamoDB and SQS are moto's server over HTTP, and their faults
are injected on the wire. (Crashes and the concurrency quota, which need the function's own processes, are in
test_exactly_once_runtime.py.)"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from cdk_ses_tracking_options.lambda_handler import environment, index
from cdk_ses_tracking_options.lambda_handler.pacing import LaneState
from tests.bad_input import props
from tests.cfn import ResponseEndpoint, event
from tests.conftest import Invoke, LambdaContext, answered
from tests.event_source import EventSourceMapping
from tests.provider_calls import CALLS, QUEUED, STRAIGHT
from tests.ses_emulator import SesEmulator

# The provider's writes, by name: those of a request run straight, and of a queued one.
WRITES = {name: CALLS[name] for name in STRAIGHT}
QUEUED_WRITES = {name: CALLS[name] for name in QUEUED}


def hold_lane(seconds: float) -> None:
    """Another request at SES for `seconds`: a Create that comes now waits in the queue."""
    now = time.time()
    environment.from_variables().store.take_lane("another-request", now, now + seconds)


def answers_to(endpoint: ResponseEndpoint, request: dict[str, Any]) -> list[str]:
    return [answer.status for answer in endpoint.answers.get(request["RequestId"], [])]


def create_props(policy: bool) -> dict[str, Any]:
    # With an HTTPS policy the Create takes SES's v1 Create, then v2's Put: both writes are on the path.
    return props(policy="REQUIRE") if policy else props()


@pytest.mark.parametrize(
    ("write", "queued"),
    [
        *(pytest.param(write, False, id=f"straight-{write}") for write in WRITES),
        *(pytest.param(write, True, id=f"queued-{write}") for write in QUEUED_WRITES),
    ],
)
def test_a_write_applied_whose_answer_was_lost_recognises_itself(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, write: str, queued: bool
) -> None:
    # GIVEN a write the service applies, then drops the connection before its answer (botocore sends it again)
    operation, matching = CALLS[write]
    ses.middleware.inject("lost", operation=operation, matching=matching)
    if queued:
        hold_lane(1.0)
    request = event("Create", endpoint, create_props(policy=True))
    # WHEN the Create is served, straight or from the queue
    answer = invoke(request)
    # THEN the retried write recognised itself: one SUCCESS, and SES holds the options
    assert [c.outcome for c in ses.middleware.calls if c.outcome == "lost"] == ["lost"], "the fault never fired"
    assert answer.status == "SUCCESS", answer.reason
    assert answers_to(endpoint, request) == ["SUCCESS"]
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "REQUIRE"}


def test_a_duplicate_event_while_the_first_waits_in_the_queue_is_answered_once(
    endpoint: ResponseEndpoint, ses: SesEmulator, queue_mapping: EventSourceMapping
) -> None:
    # GIVEN a Create waiting in the queue for its turn at SES
    hold_lane(1.0)
    request = event("Create", endpoint, props())
    index.handler(request, LambdaContext())
    assert endpoint.wait(request["RequestId"], timeout=0) is None
    # WHEN CloudFormation's event is delivered again
    index.handler(dict(request), LambdaContext())
    # THEN the request is run once, and answered once
    answer = answered(endpoint, queue_mapping, request["RequestId"], within=30)
    assert answer is not None
    assert answer.status == "SUCCESS"
    while queue_mapping.poll_once():
        pass
    assert answers_to(endpoint, request) == ["SUCCESS"]
    assert [c.operation for c in ses.ses_calls] == ["CreateConfigurationSetTrackingOptions"]


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_an_event_delivered_again_after_its_answer_is_not_answered_again(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, request_type: str
) -> None:
    # GIVEN an event served and answered
    if request_type != "Create":
        invoke(event("Create", endpoint, props()))
    request = event(
        request_type,
        endpoint,
        props(domain="links.example.com") if request_type == "Update" else props(),
        physical_id=None if request_type == "Create" else "ses-tracking-options/marketing",
        old_properties=props() if request_type == "Update" else None,
    )
    first = invoke(request)
    assert first.status == "SUCCESS"
    calls = len(ses.ses_calls)
    # WHEN Lambda delivers it again (its asynchronous queue delivers at least once)
    index.handler(dict(request), LambdaContext())
    # THEN CloudFormation gets nothing more and SES sees nothing
    assert answers_to(endpoint, request) == ["SUCCESS"]
    assert len(ses.ses_calls) == calls


def test_a_queued_message_delivered_twice_is_served_once(
    endpoint: ResponseEndpoint, ses: SesEmulator, queue_mapping: EventSourceMapping
) -> None:
    # GIVEN a Create waiting in the queue
    hold_lane(0.5)
    request = event("Create", endpoint, props())
    index.handler(request, LambdaContext())
    time.sleep(0.6)
    client, url = queue_mapping._client, queue_mapping.queue_url
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(messages) == 1
    record = {
        "messageId": messages[0]["MessageId"],
        "receiptHandle": messages[0]["ReceiptHandle"],
        "body": messages[0]["Body"],
        "attributes": messages[0]["Attributes"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_mapping.queue_arn,
    }
    # WHEN the event source mapping delivers its message twice, in one batch and then again (at least once)
    first = index.handler({"Records": [record, dict(record)]}, LambdaContext())
    again = index.handler({"Records": [record]}, LambdaContext())
    # THEN the request was run once and answered once; nothing comes back
    assert first == {"batchItemFailures": []}
    assert again == {"batchItemFailures": []}
    assert answers_to(endpoint, request) == ["SUCCESS"]
    assert [c.operation for c in ses.ses_calls] == ["CreateConfigurationSetTrackingOptions"]


def test_an_event_that_comes_after_its_service_timeout_changes_nothing(
    endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a Create CloudFormation sent an hour and a minute ago (Lambda keeps an event up to its
    # MaximumEventAge; CloudFormation fails the resource once its ServiceTimeout, an hour, has passed)
    request = event("Create", endpoint, props(), service_timeout="3600", signed=time.time() - 3660)
    # WHEN it is delivered now
    index.handler(request, LambdaContext())
    # THEN SES is not called and nothing is answered: CloudFormation has already failed the resource
    assert ses.ses_calls == []
    assert ses.tracking("marketing") == {}
    assert endpoint.wait(request["RequestId"], timeout=0.5) is None


def test_an_event_within_a_minute_of_its_service_timeout_is_failed_without_calling_ses(
    endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a Create sent 59 minutes and a half ago: its answer could not reach CloudFormation in time
    request = event("Create", endpoint, props(), service_timeout="3600", signed=time.time() - 3570)
    # WHEN it is delivered now
    index.handler(request, LambdaContext())
    # THEN it is answered FAILED at once, while CloudFormation still waits, and SES is not called
    answer = endpoint.wait(request["RequestId"], timeout=5)
    assert answer is not None
    assert answer.status == "FAILED"
    assert answer.reason.startswith("CloudFormation's ServiceTimeout for this resource ends within a minute")
    assert ses.ses_calls == []


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The function's clock `seconds` ahead, as when a queued message is delivered that much later."""
    now = environment.from_variables()
    monkeypatch.setattr(index, "from_variables", lambda: dataclasses.replace(now, clock=lambda: time.time() + seconds))


@pytest.mark.parametrize(("later", "answered_as"), [(3570, "FAILED"), (3700, None)], ids=["last-minute", "after"])
def test_a_message_taken_up_late_changes_nothing(
    endpoint: ResponseEndpoint,
    ses: SesEmulator,
    queue_mapping: EventSourceMapping,
    monkeypatch: pytest.MonkeyPatch,
    later: float,
    answered_as: str | None,
) -> None:
    # GIVEN a Create waiting in the queue
    hold_lane(0.5)
    request = event("Create", endpoint, props(), service_timeout="3600")
    index.handler(request, LambdaContext())
    # WHEN its message is delivered within the last minute of its ServiceTimeout, or after it
    _later(monkeypatch, later)
    answer = answered(endpoint, queue_mapping, request["RequestId"], within=3)
    # THEN SES was never called; in the last minute CloudFormation still hears FAILED, after it nothing
    assert ses.ses_calls == []
    assert ses.tracking("marketing") == {}
    assert (answer.status if answer else None) == answered_as
    assert not queue_mapping.poll_once()


def test_an_event_that_finds_ses_paced_far_ahead_queues_and_lets_the_lane_go(
    endpoint: ResponseEndpoint, ses: SesEmulator, queue_mapping: EventSourceMapping
) -> None:
    # GIVEN the SES lane free, but its next turn 10 s away (another stack's provider throttled it)
    store, now = environment.from_variables().store, time.time()
    taken = store.take_lane("a-worker", now, now + 5)
    assert isinstance(taken, LaneState)
    store.release_lane("a-worker", dataclasses.replace(taken, next_call=now + 10, paced_until=now + 20), now)
    # WHEN a Create comes
    request = event("Create", endpoint, props())
    index.handler(request, LambdaContext())
    # THEN it waits in the queue, and the lane is free for the queue's worker at once (not held for the lease)
    assert endpoint.wait(request["RequestId"], timeout=0) is None
    assert isinstance(store.take_lane("the-worker", time.time(), time.time() + 5), LaneState)


def test_an_answer_cloudformation_did_not_take_is_sent_again_by_the_next_delivery(
    endpoint: ResponseEndpoint, ses: SesEmulator, queue_mapping: EventSourceMapping, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a Create whose answer the ResponseURL refuses (403: its pre-signed URL expired, say)
    request = event("Create", endpoint, props())
    endpoint.fail_next(403)
    # WHEN it is served, the invocation fails, so that Lambda tries it again
    with pytest.raises(index.AnswerNotDeliveredError):
        index.handler(request, LambdaContext(timeout=60))
    assert endpoint.answers.get(request["RequestId"]) is None
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    # AND Lambda's retry, a minute after the failure (the failed invocation's 60 s lease is over by then), sends
    # the recorded answer without calling SES again
    calls = len(ses.ses_calls)
    _later(monkeypatch, 61)
    index.handler(dict(request), LambdaContext())
    assert [a.status for a in endpoint.answers[request["RequestId"]]] == ["SUCCESS"]
    assert len(ses.ses_calls) == calls


@pytest.mark.parametrize("policy", [False, True], ids=["create", "create-with-https-policy"])
def test_an_event_on_an_idle_ses_takes_three_table_requests_to_its_answer(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, policy: bool
) -> None:
    # GIVEN an idle SES and lane
    request = event("Create", endpoint, create_props(policy=policy))
    ses.middleware.calls.clear()
    # WHEN a Create comes
    answer = invoke(request)
    # THEN the request is claimed, the lane taken, and the answer recorded with the lane let go, in one write;
    # what SES did is stored on its own only before a further call; the delivery is recorded after the answer
    assert answer.status == "SUCCESS"
    table = [c.operation for c in ses.middleware.calls if c.service == "dynamodb"]
    stored = ["UpdateItem"] if policy else []
    assert table == ["PutItem", "UpdateItem", *stored, "TransactWriteItems", "UpdateItem"]
    assert not [c for c in ses.middleware.calls if c.service == "sqs"]
