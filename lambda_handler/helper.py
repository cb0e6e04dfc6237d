"""crhelper's CfnResource with its traps closed: the answer in time, with the right physical id."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from typing import Any

from crhelper import CfnResource, resource_helper

from .delivery import put_answer
from .redaction import redact_logs

__all__ = ["TIMER_MARGIN", "Helper", "make_helper"]

logger = logging.getLogger(__name__)

# The last-resort FAILED answer goes out this long before the function's deadline.
TIMER_MARGIN = 3


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
    """crhelper's CfnResource, answering within the deadline with the right physical id."""

    # crhelper's own attributes, which its stubs leave out.
    _context: Any
    _event: dict[str, Any]
    _timer: threading.Timer | None
    # Set when another invocation took the event on, to answer it: this one sends nothing.
    handed_on = False

    def time_left(self) -> float:
        context = self._context
        return context.get_remaining_time_in_millis() / 1000 if context is not None else math.inf

    def _set_timeout(self) -> None:
        # crhelper fires 0.5 s before the deadline, too late to deliver an answer over HTTPS.
        self._timer = threading.Timer(max(self.time_left() - TIMER_MARGIN, 0.0), self._timeout)
        self._timer.daemon = True
        self._timer.start()

    def _timeout(self) -> None:
        # crhelper would answer with an empty physical id; an Update or Delete must keep the event's own.
        event = self._event
        self.PhysicalResourceId = event.get("PhysicalResourceId") or self.generate_physical_id(event)
        logger.error("The function is about to time out; answering FAILED")
        self._send("FAILED", "The provider function ran out of time before SES answered; deploy again")

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        if self.handed_on:
            logger.info("The event was handed on; its answer comes from the invocation that finishes it")
            return
        super()._send(status, reason, send_response=self._put_answer)  # type: ignore[misc]

    def _put_answer(self, response_url: str, body: dict[str, Any], _ssl_verify: object = None) -> None:
        put_answer(response_url, body, self.time_left)


def make_helper(*, also_redact: tuple[str, ...] = ()) -> Helper:
    """The helper, started without crhelper's eager clients, its loggers (and these) redacted."""
    real = vars(resource_helper)["boto3"]
    setattr(resource_helper, "boto3", _DeferredBoto3(real))  # noqa: B010
    try:
        # crhelper's defaults log the event, ResponseURL included, at DEBUG and sleep 120 s on every Delete.
        made = Helper(log_level=os.environ.get("LOG_LEVEL", "INFO"), boto_level="WARNING", sleep_on_delete=0)
    finally:
        setattr(resource_helper, "boto3", real)  # noqa: B010
    redact_logs(("crhelper.resource_helper", "crhelper.utils", __name__, *also_redact))
    return made
