"""Lambda's SQS event source mapping, on loopback: it polls the queue on moto's server and invokes the function
synchronously with each batch, as "Using Lambda with Amazon SQS" and its pages on scaling and error handling
describe it:

- Batches of up to `batch_size` messages (10 at most from a FIFO queue), in the event shape Lambda sends
  (messageId, receiptHandle, body, attributes, eventSource "aws:sqs"). A FIFO message group has one batch in
  flight at a time: moto's ReceiveMessage skips a group while a message of it is received and not yet deleted
  or visible again.
- At most `max_concurrency` batches in flight (ScalingConfig.MaximumConcurrency).
- ReportBatchItemFailures: the messages the response names come back (with the visibility the function gave
  them); the others are deleted. An empty or missing list is full success; a response naming an unknown
  message, or an invocation that fails (an error, a crash, the function's timeout), is full failure: nothing is
  deleted, and the messages return when their visibility timeout ends.
- Throttled by the account's concurrency, the mapping tries the batch again, backing off, "until the message's
  timestamp exceeds your queue's visibility timeout"; then the messages return to the queue by themselves.

moto's long polling misses a FIFO group that frees up during the poll, so the queue is polled every
`poll_interval` seconds instead, which gives the same latency.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from tests.lambda_runtime import InvocationFailedError, ThrottledError
from tests.ses_emulator import REGION

Invoke = Callable[[dict[str, Any]], Any]


class EventSourceMapping:
    def __init__(
        self,
        client: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        *,
        batch_size: int = 10,
        max_concurrency: int = 2,
        visibility_timeout: float = 360.0,
        poll_interval: float = 0.05,
    ) -> None:
        self._client = client
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self._invoke = invoke
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.visibility_timeout = visibility_timeout
        self.poll_interval = poll_interval
        self._in_flight = threading.Semaphore(max_concurrency)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.batches = 0
        self.throttled = 0

    def start(self) -> EventSourceMapping:
        self._thread.start()
        return self

    def stop(self) -> None:
        """The mapping deleted (or disabled): no more polling; batches in flight finish."""
        self._stopped.set()
        self._thread.join()

    def poll_once(self) -> bool:
        """One poll, its batch delivered in the caller's thread (for a function run in-process, which serves one
        invocation at a time, as an execution environment does): whether there was one."""
        messages = self._client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if messages:
            self._in_flight.acquire()
            self._deliver(messages, time.monotonic())
        return bool(messages)

    def _poll(self) -> None:
        while not self._stopped.is_set():
            if not self._in_flight.acquire(timeout=self.poll_interval):
                continue
            try:
                messages = self._client.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    AttributeNames=["All"],
                    WaitTimeSeconds=0,
                ).get("Messages", [])
            except Exception:
                messages = []
            if not messages:
                self._in_flight.release()
                self._stopped.wait(self.poll_interval)
                continue
            threading.Thread(target=self._deliver, args=(messages, time.monotonic()), daemon=True).start()

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                }
                for message in messages
            ]
        }

    def _deliver(self, messages: list[dict[str, Any]], received: float) -> None:
        try:
            self.batches += 1
            result = self._attempt(self._event(messages), received)
            if result is None:
                return
            failed = self._failed(result, {message["MessageId"] for message in messages})
            done = [m for m in messages if failed is not None and m["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                try:
                    self._client.delete_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                            for n, m in enumerate(done[start : start + 10])
                        ],
                    )
                except self._client.exceptions.QueueDoesNotExist:
                    # A batch that finishes after the stack's deletion removed the mapping, then the queue.
                    return
                except botocore.exceptions.ClientError:
                    # A batch that finishes after the stack's deletion removed the mapping, then the role's policy
                    # (the mapping deletes messages with the function's role: AccessDenied) or the queue (which
                    # moto's server may answer with a 500 while it deletes it): the messages would return to a
                    # queue being deleted. A live mapping's failed delete (a missing grant) raises.
                    if self._stopped.is_set():
                        return
                    raise
        finally:
            self._in_flight.release()

    def _attempt(self, event: dict[str, Any], received: float) -> Any:
        """The function's response; None when the batch failed as a whole."""
        pause = 0.1
        while True:
            try:
                return self._invoke(event) or {}
            except ThrottledError:
                self.throttled += 1
                if time.monotonic() - received + pause > self.visibility_timeout:
                    return None
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
            except InvocationFailedError:
                return None

    @staticmethod
    def _failed(result: Any, ids: set[str]) -> set[str] | None:
        """The messages to keep (ReportBatchItemFailures), or None: all of them."""
        if not isinstance(result, dict):
            return None
        failures = result.get("batchItemFailures") or []
        named = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
        if not named <= ids or None in named or "" in named:
            return None
        return {str(n) for n in named}
