"""Fixtures: SES on loopback (moto, extended), CloudFormation's HTTPS response endpoint, and the
provider's handler invoked in-process with a Lambda-like context."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme

from cdk_ses_tracking_options.lambda_handler import index
from tests.cfn import Answer, ResponseEndpoint
from tests.loopback import reset_ses, start_ses, trusted_ca, use_loopback_environment
from tests.ses_emulator import SesEmulator

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
def invoke(ses: SesEmulator, endpoint: ResponseEndpoint, ca: trustme.CA) -> Invoke:
    """Run the handler on one event as Lambda would, and return the answer CloudFormation received."""

    def run(event: dict[str, Any], *, timeout: float = 120.0) -> Answer:
        index.handler(event, LambdaContext(timeout=timeout))
        answer = endpoint.wait(event["RequestId"], timeout=5)
        assert answer is not None, f"no answer reached CloudFormation for {event['RequestType']}"
        # The answer names the request, stack and resource it answers.
        assert (answer.stack_id, answer.logical_id) == (event["StackId"], event["LogicalResourceId"])
        return answer

    return run
