"""Fixtures: SES on loopback (moto, extended), CloudFormation's HTTPS response endpoint, and the
provider's handler invoked in-process with a Lambda-like context."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from lambda_handler import index
from tests.cfn import Answer, ResponseEndpoint
from tests.ses_emulator import REGION, SesEmulator

VERIFIED_DOMAIN = "example.com"
SETS = ("marketing", "transactional")

# Credentials that only moto accepts; no AWS account is ever reached.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_REGION=REGION,
    AWS_DEFAULT_REGION=REGION,
)
os.environ.pop("AWS_PROFILE", None)
# jsii runs on the Node.js that `make` installs (22), not the machine's end-of-life one.
_NODE_BIN = Path(__file__).resolve().parent.parent / "node_modules" / ".bin"
if (_NODE_BIN / "node").exists() and not os.environ.get("PATH", "").startswith(str(_NODE_BIN)):
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> trustme.CA:
    """The certificate authority of the response endpoint, trusted through SSL_CERT_FILE as Lambda trusts S3."""
    authority = trustme.CA()
    pem = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    os.environ["SSL_CERT_FILE"] = str(pem)
    return authority


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA) -> Path:
    return Path(os.environ["SSL_CERT_FILE"])


@pytest.fixture(scope="session")
def ses_server() -> Iterator[SesEmulator]:
    server = SesEmulator()
    server.start()
    os.environ["AWS_ENDPOINT_URL_SES"] = server.endpoint
    os.environ["AWS_ENDPOINT_URL_SESV2"] = server.endpoint
    yield server
    server.stop()


@pytest.fixture
def ses(ses_server: SesEmulator) -> SesEmulator:
    """SES with a verified domain and two configuration sets without tracking options."""
    ses_server.reset()
    ses_server.backend.verify_domain(VERIFIED_DOMAIN)
    for name in SETS:
        ses_server.backend.create_configuration_set(name)
    return ses_server


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
        return answer

    return run
