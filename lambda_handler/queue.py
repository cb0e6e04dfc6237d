"""The provider's FIFO queue of operations waiting for SES, drained by this function through an SQS event source
mapping. One message group: the provider's operations reach SES one at a time, in order, and a message put back
with a visibility timeout (a wait for SES's next turn) holds the group, at no cost, until then.

A message is the request id alone; the operation is in the provider's table (store.py). Its deduplication id is
the request id: a send that SQS applied but whose answer was lost, sent again by botocore, or a duplicate
delivery of the event that sends it again, is dropped by SQS within its 5-minute deduplication interval and by
the request's record after it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from botocore.config import Config

from . import long_lived
from .budget import CONNECT_TIMEOUT, STORE_READ_TIMEOUT
from .grants import until_granted

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["GROUP", "SqsQueue", "WorkQueue", "request_id_of"]

GROUP = "ses"
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=STORE_READ_TIMEOUT,
    user_agent_extra="cdk-ses-tracking-options",
)


class WorkQueue(Protocol):
    def send(self, request_id: str) -> None:
        """Queue the request's operation."""

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Show a received message again in `seconds`."""


def request_id_of(body: str) -> str | None:
    try:
        found = json.loads(body).get("requestId")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) and found else None


class SqsQueue:
    def __init__(self, url: str, client: Callable[[], Any] | None = None) -> None:
        self._url = url
        self._make_client = client or (lambda: long_lived.client("sqs", _CONFIG))

    @functools.cached_property
    def _client(self) -> SQSClient:
        client: SQSClient = self._make_client()
        return client

    def send(self, request_id: str) -> None:
        until_granted(
            lambda: self._client.send_message(
                QueueUrl=self._url,
                MessageBody=json.dumps({"requestId": request_id}),
                MessageGroupId=GROUP,
                MessageDeduplicationId=request_id,
            ),
            "Queueing the request",
        )

    def delay(self, receipt_handle: str, seconds: int) -> None:
        until_granted(
            lambda: self._client.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            ),
            "Delaying the request",
        )
