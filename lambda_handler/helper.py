"""crhelper's CfnResource with its traps closed: the answer in time, with the right physical id."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from crhelper import CfnResource, resource_helper

from .delivery import put_answer
from .redaction import redact_logs
from .store import Answer

__all__ = ["LOG_LEVEL_VARIABLE", "Helper", "application_log_level", "make_helper"]

logger = logging.getLogger(__name__)


class _DeferredClient:
    """A boto3 client made on first use."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


class _DeferredBoto3:
    """Stands in for boto3 while crhelper starts: it builds Lambda, EventBridge and Logs clients for a
    polling mode this provider never uses, which would cost every cold start."""

    def __init__(self, boto3_module: Any) -> None:
        self._boto3 = boto3_module

    def client(self, *args: Any, **kwargs: Any) -> _DeferredClient:
        return _DeferredClient(lambda: self._boto3.client(*args, **kwargs))


class Helper(CfnResource):
    """crhelper's CfnResource, sending the answer the provider decided, when it decided one, within the deadline.

    crhelper keeps one request's state in its module-level helper and resets it for each event; so does this
    subclass, for the one attribute it adds (`_decided`). Everything else an operation carries is passed
    explicitly (entry.py)."""

    # crhelper's own attributes, which its stubs leave out.
    _context: Any
    _event: dict[str, Any]
    _timer: threading.Timer | None
    _response_url: str
    # What the registered function decided for this request: None when another invocation, or the queue, answers.
    _decided: Answer | None = None
    # Called with the request id once CloudFormation has taken an answer.
    on_delivered: Callable[[str], None] | None = None
    # The requests whose answers this invocation could not deliver: cleared as each invocation starts.
    undelivered: list[str] = []  # noqa: RUF012 - set per instance in make_helper
    _time_left: Callable[[], float] | None = None

    def time_left(self) -> float:
        if self._time_left is not None:
            return self._time_left()
        context = self._context
        return context.get_remaining_time_in_millis() / 1000 if context is not None else math.inf

    def _set_timeout(self) -> None:
        # The provider's own last-resort timer knows the operation (entry.py); crhelper's fires 0.5 s before the
        # deadline, too late to deliver an answer, and would answer with an empty physical id.
        self._timer = None

    def _wrap_function(self, func: Callable[[dict[str, Any], Any], Answer | None] | None) -> None:
        self._decided, self._time_left = None, None
        if func is None:
            return
        try:
            self._decided = func(self._event, self._context)
        except Exception as error:
            logger.exception("Unexpected failure")
            event = self._event
            physical_id = event.get("PhysicalResourceId") or self.generate_physical_id(event)
            self._decided = Answer(
                "FAILED", physical_id, f"Unexpected {type(error).__name__} in the provider: {error}"[:255]
            )

    def _cfn_response(self, event: dict[str, Any]) -> None:
        if self._decided is None:
            logger.info("Request %s is answered by the invocation that finishes it", event.get("RequestId"))
            return
        self.answer(event, self._decided)

    def answer(self, event: Mapping[str, Any], answer: Answer, time_left: Callable[[], float] | None = None) -> None:
        """Send an answer the provider decided, for the request of `event`, through crhelper. A FAILED answer is
        logged as one line, its reason: a traceback, if any, was logged where an unexpected error was caught."""
        if answer.status == "FAILED":
            logger.warning("%s answered FAILED: %s", event.get("RequestType"), answer.reason)
        self.StackId, self.RequestId = str(event["StackId"]), str(event["RequestId"])
        self.LogicalResourceId, self._response_url = str(event["LogicalResourceId"]), str(event["ResponseURL"])
        self.Status, self.Reason = answer.status, answer.reason
        self.PhysicalResourceId, self.Data = answer.physical_id, dict(answer.data)
        if time_left is not None:
            self._time_left = time_left
        self._send()

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        super()._send(status, reason, send_response=self._put_answer)  # type: ignore[misc]

    def _put_answer(self, response_url: str, body: dict[str, Any], _ssl_verify: object = None) -> None:
        if not put_answer(response_url, body, self.time_left):
            self.undelivered.append(str(body["RequestId"]))
        elif self.on_delivered is not None:
            self.on_delivered(str(body["RequestId"]))


# Lambda sets it from the function's ApplicationLogLevel (JSON log format only), and awslambdaric sets the root
# logger's level from it; TRACE, which Python has not, it reads as DEBUG.
LOG_LEVEL_VARIABLE = "AWS_LAMBDA_LOG_LEVEL"


def application_log_level(variables: Mapping[str, str]) -> str:
    """The level Lambda gives the function's own lines: INFO when it gives none, or one Python does not know."""
    level = variables.get(LOG_LEVEL_VARIABLE, "").upper()
    level = {"TRACE": "DEBUG"}.get(level, level)
    return level if level in logging.getLevelNamesMapping() else "INFO"


def make_helper(*, also_redact: tuple[str, ...] = ()) -> Helper:
    """The helper, started without crhelper's eager clients, its loggers (and these) redacted."""
    # crhelper sets the root logger's level at start and on every event: to the level Lambda set, or it would undo
    # it; botocore's to WARNING, or to that level when it is stricter (their INFO lines come with every call).
    level = application_log_level(os.environ)
    boto_level = logging.getLevelName(max(logging.getLevelNamesMapping()[level], logging.WARNING))
    real = vars(resource_helper)["boto3"]
    setattr(resource_helper, "boto3", _DeferredBoto3(real))  # noqa: B010
    try:
        # crhelper's defaults log the event, ResponseURL included, at DEBUG and sleep 120 s on every Delete.
        made = Helper(log_level=level, boto_level=boto_level, sleep_on_delete=0)
    finally:
        setattr(resource_helper, "boto3", real)  # noqa: B010
    redact_logs(("crhelper.resource_helper", "crhelper.utils", __name__, *also_redact))
    made.undelivered = []
    return made
