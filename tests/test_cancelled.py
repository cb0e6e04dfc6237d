"""Creates CloudFormation cancelled: a stack operation that fails (another resource, another tenant) cancels the
custom resources' Creates still in flight, marks them CREATE_FAILED "Resource creation cancelled", stops waiting
for their answers and sends each a Delete with a physical id it makes up (reported in
aws-cloudformation/cloudformation-coverage-roadmap#1814, "Cloudformation-generated physical resource ID on stack
rollback of in-flight custom resources"). The provider may still hold the Create: queued behind SES's one call a
second, paused between two calls, or not yet delivered by Lambda. Whatever the order, SES ends without options
the stack no longer declares. The handler runs in-process against SES, DynamoDB and SQS on moto's server."""

from __future__ import annotations

import time
from typing import Any

import boto3

from cdk_ses_tracking_options.lambda_handler import environment, index
from cdk_ses_tracking_options.lambda_handler.budget import HOLD_LIMIT, SERVICE_TIMEOUT
from cdk_ses_tracking_options.lambda_handler.operation import Operation
from cdk_ses_tracking_options.lambda_handler.pacing import LaneState
from cdk_ses_tracking_options.lambda_handler.run import CANCELLED, CANCELLED_UNDONE
from cdk_ses_tracking_options.lambda_handler.store import DynamoStore
from tests.bad_input import props
from tests.cfn import Answer, ResponseEndpoint, event
from tests.conftest import Invoke, LambdaContext, answered
from tests.event_source import EventSourceMapping
from tests.loopback import STATE_TABLE
from tests.ses_emulator import REGION, SesEmulator

# The physical id CloudFormation sends with the Delete of a Create it cancelled: stack, logical id, 13 characters.
MADE_UP = "TrackingStack-Tracking-1WQ8JH3K2L0FZ"
CREATES = "CreateConfigurationSetTrackingOptions"


def hold_lane(seconds: float) -> None:
    """Another request at SES for `seconds`: a Create that comes now waits in the queue."""
    now = time.time()
    environment.from_variables().store.take_lane("another-request", now, now + seconds)


def delete_of_cancelled(endpoint: ResponseEndpoint, properties: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return event("Delete", endpoint, properties, physical_id=MADE_UP, **kwargs)


def first_answer(
    endpoint: ResponseEndpoint, mapping: EventSourceMapping, request: dict[str, Any], within: float = 30.0
) -> Answer:
    answer = answered(endpoint, mapping, request["RequestId"], within)
    assert answer is not None, f"no answer to the {request['RequestType']}"
    return answer


def test_a_create_cancelled_while_it_waits_in_the_queue_is_dropped_and_changes_nothing(
    endpoint: ResponseEndpoint, ses: SesEmulator, queue_mapping: EventSourceMapping
) -> None:
    # GIVEN a Create waiting in the queue (SES busy with another request)
    hold_lane(2.0)
    create = event("Create", endpoint, props())
    index.handler(create, LambdaContext())
    # WHEN CloudFormation cancels it and sends the Delete with an id of its own, which queues behind it
    delete = delete_of_cancelled(endpoint, props())
    index.handler(delete, LambdaContext())
    assert first_answer(endpoint, queue_mapping, delete).status == "SUCCESS"
    # THEN the Create, when its turn came, called SES for nothing: the set has no options
    cancelled = first_answer(endpoint, queue_mapping, create)
    assert (cancelled.status, cancelled.reason) == ("FAILED", CANCELLED)
    assert ses.tracking("marketing") == {}
    assert CREATES not in [call.operation for call in ses.ses_calls]


def test_a_cancelled_create_that_ran_before_its_delete_is_undone_by_it(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a Create that ran, its answer unheard: CloudFormation had cancelled it
    assert invoke(event("Create", endpoint, props(domain="links.example.com", policy="REQUIRE"))).status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "links.example.com", "HttpsPolicy": "REQUIRE"}
    # WHEN its Delete comes with CloudFormation's id (and comes twice, as Lambda may deliver it)
    delete = delete_of_cancelled(endpoint, props(domain="links.example.com", policy="REQUIRE"))
    assert [invoke(delete).status for _ in range(2)] == ["SUCCESS", "SUCCESS"]
    # THEN the options it made are gone
    assert ses.tracking("marketing") == {}


def test_a_cancelled_create_paused_after_changing_ses_undoes_what_it_began(
    endpoint: ResponseEndpoint, ses: SesEmulator, queue_mapping: EventSourceMapping
) -> None:
    # GIVEN a Create that made the options, then had its policy call throttled until it paused in the queue
    ses.middleware.inject("throttle", operation="PutConfigurationSetTrackingOptions", times=3)
    create = event("Create", endpoint, props(policy="REQUIRE"))
    index.handler(create, LambdaContext())
    assert endpoint.wait(create["RequestId"], timeout=0) is None
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    # WHEN CloudFormation cancels it and its Delete comes
    delete = delete_of_cancelled(endpoint, props(policy="REQUIRE"))
    index.handler(delete, LambdaContext())
    # THEN the Create ended what it began and removed it; the Delete found nothing left
    cancelled = first_answer(endpoint, queue_mapping, create)
    assert (cancelled.status, cancelled.reason) == ("FAILED", CANCELLED_UNDONE)
    assert first_answer(endpoint, queue_mapping, delete).status == "SUCCESS"
    assert ses.tracking("marketing") == {}


def lane_item(ses: SesEmulator) -> dict[str, Any]:
    client = boto3.client("dynamodb", endpoint_url=ses.endpoint, region_name=REGION)
    item: dict[str, Any] = client.get_item(TableName=STATE_TABLE, Key={"pk": {"S": "lane"}}, ConsistentRead=True)[
        "Item"
    ]
    return item


def test_the_delete_of_a_paused_cancelled_create_is_answered_only_once_what_the_create_made_is_gone(
    endpoint: ResponseEndpoint, ses: SesEmulator, queue_mapping: EventSourceMapping
) -> None:
    # GIVEN a Create that made the options, then had its policy call throttled until it paused in the queue
    ses.middleware.inject("throttle", operation="PutConfigurationSetTrackingOptions", times=3)
    create = event("Create", endpoint, props(policy="REQUIRE"))
    index.handler(create, LambdaContext())
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    # WHEN its Delete comes as the lane becomes usable again, while the Create's message is still hidden in the
    # queue (its visibility timeout is its wait)
    while float(lane_item(ses)["next"]["N"]) - time.time() > HOLD_LIMIT - 1:
        time.sleep(0.1)
    delete = delete_of_cancelled(endpoint, props(policy="REQUIRE"))
    index.handler(delete, LambdaContext())
    answer = first_answer(endpoint, queue_mapping, delete)
    # THEN the options were gone before CloudFormation heard the Delete's SUCCESS: in a rolled-back stack
    # creation the provider's queue is deleted next, and a Create left in it would never run
    assert answer.status == "SUCCESS"
    removed = [
        call.at
        for call in ses.ses_calls
        if call.operation == "DeleteConfigurationSetTrackingOptions" and call.outcome == "passed"
    ]
    assert removed, "the options the Create made were never removed"
    assert removed[0] < answer.received
    cancelled = first_answer(endpoint, queue_mapping, create)
    assert (cancelled.status, cancelled.reason) == ("FAILED", CANCELLED_UNDONE)
    assert ses.tracking("marketing") == {}


def test_a_cancelled_create_taken_over_from_an_invocation_that_stopped_after_its_call_undoes_it(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a Create whose invocation made the options at SES and stopped before it could record the change
    create = event("Create", endpoint, props())
    now = time.time()
    store = DynamoStore(STATE_TABLE)
    store.claim(Operation.from_event(create, now), "stopped-invocation", now + 1, now)
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "click.example.com"}
    # AND CloudFormation, having cancelled it, sent its Delete, which found nothing recorded
    assert invoke(delete_of_cancelled(endpoint, props())).status == "SUCCESS"
    # WHEN Lambda's retry of the Create takes it over once the stopped invocation's lease is over
    time.sleep(1.1)
    taken_over = invoke(create)
    # THEN it finds the options its own call made, and removes them
    assert (taken_over.status, taken_over.reason) == ("FAILED", CANCELLED_UNDONE)
    assert ses.tracking("marketing") == {}


def test_a_cancelled_create_that_lambda_delivers_after_its_delete_changes_nothing(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN the Delete of a cancelled Create, answered while the Create's event was still in Lambda's
    # asynchronous queue (throttled at the account's concurrency, say)
    now = time.time()
    assert invoke(delete_of_cancelled(endpoint, props(), signed=now - 5)).status == "SUCCESS"
    # WHEN the Create is delivered at last: CloudFormation sent it before the Delete
    late = invoke(event("Create", endpoint, props(), signed=now - 30))
    # THEN it changes nothing
    assert (late.status, late.reason) == ("FAILED", CANCELLED)
    assert ses.tracking("marketing") == {}


def test_a_create_sent_after_a_cancelled_ones_delete_is_not_cancelled(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a resource whose Create was cancelled in a rollback a minute ago
    assert invoke(delete_of_cancelled(endpoint, props(), signed=time.time() - 60)).status == "SUCCESS"
    # WHEN the next deploy creates it again
    answer = invoke(event("Create", endpoint, props()))
    # THEN it is made
    assert answer.status == "SUCCESS", answer.reason
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}


def test_the_lane_forgets_a_cancelled_create_once_no_create_sent_before_it_can_run(ses: SesEmulator) -> None:
    # GIVEN two marks in the lane: one older than a ServiceTimeout, one recent
    store = DynamoStore(STATE_TABLE)
    now = time.time()
    store.cancel("Old", now - SERVICE_TIMEOUT - 10)
    store.cancel("Recent", now - 10)
    lane = store.take_lane("a-worker", now, now + 5)
    assert isinstance(lane, LaneState)
    assert lane.cancelled_at("Old") is not None
    # WHEN the lane is let go
    store.release_lane("a-worker", lane, now)
    # THEN the old mark is gone (every Create sent before it is past its ServiceTimeout), the recent one kept
    client = boto3.client("dynamodb", endpoint_url=ses.endpoint, region_name=REGION)
    item = client.get_item(TableName=STATE_TABLE, Key={"pk": {"S": "lane"}}, ConsistentRead=True)["Item"]
    assert sorted(key for key in item if key.startswith("cancelled/")) == ["cancelled/Recent"]


def test_the_lane_lets_go_of_many_stale_marks_a_few_at_a_time_within_dynamodbs_expression_limit(
    ses: SesEmulator,
) -> None:
    # GIVEN 400 marks older than a ServiceTimeout, each for a logical id of CloudFormation's longest (255)
    store = DynamoStore(STATE_TABLE)
    now = time.time()
    names = [f"{n:03d}".ljust(255, "X") for n in range(400)]
    for name in names:
        store.cancel(name, now - SERVICE_TIMEOUT - 10)
    # WHEN the lane is taken and let go, again and again
    left = []
    for release in range(3):
        lane = store.take_lane(f"worker-{release}", now, now + 5)
        assert isinstance(lane, LaneState)
        store.release_lane(f"worker-{release}", lane, now)  # DynamoDB refuses an expression over 4 KB
        left.append(sum(key.startswith("cancelled/") for key in lane_item(ses)))
    # THEN each release removes some, and the lane stays usable
    assert left[0] < 400
    assert left[0] > left[1] > left[2]
