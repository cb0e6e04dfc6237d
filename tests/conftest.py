"""Fixtures: SES on loopback (moto, extended), CloudFormation's HTTPS response endpoint, and the
provider's handler invoked in-process with a Lambda-like context."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import trustme

from cdk_ses_tracking_options.lambda_handler import environment, index
from cdk_ses_tracking_options.lambda_handler.environment import INTERVAL_VARIABLE, QUEUE_VARIABLE
from tests.cfn import Answer, ResponseEndpoint
from tests.event_source import EventSourceMapping
from tests.loopback import QUEUE_VISIBILITY, reset_ses, start_ses, trusted_ca, use_loopback_environment
from tests.ses_emulator import REGION, SesEmulator

use_loopback_environment()


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> trustme.CA:
    return trusted_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def ses_server() -> Iterator[SesEmulator]:
    server = start_ses()
    yield server
    server.stop()


@pytest.fixture
def ses(ses_server: SesEmulator) -> SesEmulator:
    """SES with a verified domain and two configuration sets without tracking options."""
    return reset_ses(ses_server)


@pytest.fixture
def endpoint(ca: trustme.CA) -> Iterator[ResponseEndpoint]:
    server = ResponseEndpoint(ca)
    server.start()
    yield server
    server.stop()


@dataclass
class LambdaContext:
    """What the handler reads of Lambda's context object."""

    timeout: float = 120.0
    function_name: str = "TrackingStack-Provider"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:TrackingStack-Provider"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_stream_name: str = "2026/11/27/[$LATEST]0123456789abcdef"
    _deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


Invoke = Callable[..., Answer]


@pytest.fixture
def fast_pacing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The provider's paced calls 0.1 s apart instead of 1.05 s, so that a test's throttles pass quickly."""
    monkeypatch.setenv(INTERVAL_VARIABLE, "0.1")
    environment.from_variables.cache_clear()
    yield
    environment.from_variables.cache_clear()


@pytest.fixture
def queue_mapping(ses: SesEmulator) -> EventSourceMapping:
    """The provider's queue drained into the handler in-process, one batch at a time (poll_once)."""
    client = boto3.client("sqs", endpoint_url=ses.endpoint, region_name=REGION)
    url = os.environ[QUEUE_VARIABLE]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return EventSourceMapping(
        client, url, arn, lambda batch: index.handler(batch, LambdaContext()), visibility_timeout=QUEUE_VISIBILITY
    )


def answered(endpoint: ResponseEndpoint, mapping: EventSourceMapping, request_id: str, within: float) -> Answer | None:
    """The first answer to a request, running queued batches in-process until it comes or `within` passes."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answer = endpoint.wait(request_id, timeout=0.02)
        if answer is not None:
            return answer
        if not mapping.poll_once():
            time.sleep(0.05)
    return endpoint.wait(request_id, timeout=0)


@pytest.fixture
def invoke(ses: SesEmulator, endpoint: ResponseEndpoint, ca: trustme.CA, queue_mapping: EventSourceMapping) -> Invoke:
    """Run the handler on one event as Lambda would (and on the batches the event queued), and return the answer
    CloudFormation received."""

    def run(event: dict[str, Any], *, timeout: float = 120.0, within: float = 60.0) -> Answer:
        index.handler(event, LambdaContext(timeout=timeout))
        answer = answered(endpoint, queue_mapping, event["RequestId"], within)
        assert answer is not None, f"no answer reached CloudFormation for {event['RequestType']}"
        # The answer names the request, stack and resource it answers.
        assert (answer.stack_id, answer.logical_id) == (event["StackId"], event["LogicalResourceId"])
        return answer

    return run
