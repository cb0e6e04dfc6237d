"""Lambda entry point: crhelper, with its traps closed, around TrackingOptionsProvider."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import ssl
import threading
import time
from collections.abc import Callable
from http.client import HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from crhelper import CfnResource, resource_helper

from .errors import ProviderError
from .properties import TrackingProps, parse_properties
from .provider import TrackingOptionsProvider
from .ses import SesTracking

__all__ = ["handler"]

logger = logging.getLogger(__name__)

# Seconds one PUT of the answer may take; crhelper sets no timeout and retries forever.
ANSWER_TIMEOUT = 5
# The last-resort FAILED answer goes out this long before the function's deadline.
TIMER_MARGIN = 3

_URL_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")


def redact(text: str) -> str:
    """Drop the query of every URL: a pre-signed ResponseURL's query is a credential."""
    return _URL_QUERY.sub(r"\1?REDACTED", text)


class _RedactUrls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


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


class _Helper(CfnResource):
    """crhelper's CfnResource, answering within the deadline with the right physical id."""

    # crhelper's own attributes, which its stubs leave out.
    _context: Any
    _event: dict[str, Any]
    _timer: threading.Timer | None

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
        super()._send(status, reason, send_response=self._put_answer)  # type: ignore[misc]

    def _put_answer(self, response_url: str, body: dict[str, Any], _ssl_verify: object = None) -> None:
        """PUT the answer with a timeout, retrying refusals and 5xx until the deadline nears."""
        parts = _https_target(response_url)
        if parts is None:
            logger.error("The event has no usable ResponseURL; no answer can be sent")
            return
        host, port, target = parts
        data = json.dumps(body).encode()
        context = ssl.create_default_context()
        delay = 0.5
        for attempt in range(1, 9):
            try:
                connection = HTTPSConnection(host, port, timeout=ANSWER_TIMEOUT, context=context)
                try:
                    connection.request("PUT", target, body=data, headers={"Content-Type": ""})
                    status = connection.getresponse().status
                finally:
                    connection.close()
            except OSError as error:
                problem = type(error).__name__
            else:
                if status < 300:
                    logger.info("CloudFormation took the %s answer (HTTP %d)", body.get("Status"), status)
                    return
                if status < 500 and status != 429:
                    logger.error("CloudFormation refused the answer with HTTP %d", status)
                    return
                problem = f"HTTP {status}"
            if self.time_left() < delay + ANSWER_TIMEOUT + 1:
                break
            logger.warning("Answer not delivered (attempt %d: %s); retrying in %.1f s", attempt, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
        logger.error("Gave up delivering the answer to CloudFormation")


def _https_target(url: object) -> tuple[str, int | None, str] | None:
    """Host, port and request target of an https URL, or None."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname:
        return None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, target


def _make_helper() -> _Helper:
    real = vars(resource_helper)["boto3"]
    setattr(resource_helper, "boto3", _DeferredBoto3(real))  # noqa: B010
    try:
        # crhelper's defaults log the event, ResponseURL included, at DEBUG and sleep 120 s on every Delete.
        made = _Helper(log_level=os.environ.get("LOG_LEVEL", "INFO"), boto_level="WARNING", sleep_on_delete=0)
    finally:
        setattr(resource_helper, "boto3", real)  # noqa: B010
    for name in ("crhelper.resource_helper", "crhelper.utils", __name__):
        logging.getLogger(name).addFilter(_RedactUrls())
    for root_handler in logging.getLogger().handlers:
        root_handler.addFilter(_RedactUrls())
    return made


helper = _make_helper()


@functools.cache
def _provider() -> TrackingOptionsProvider:
    return TrackingOptionsProvider(SesTracking(helper.time_left))


def _props_or_none(props: object) -> TrackingProps | None:
    try:
        return parse_properties(props)
    except ProviderError:
        return None


def _answering(func: Callable[[dict[str, Any], Any], str | None]) -> Callable[[dict[str, Any], Any], str | None]:
    """Turn any failure into a short reason, keeping the physical id of anything it left in SES."""

    @functools.wraps(func)
    def run(event: dict[str, Any], context: Any) -> str | None:
        try:
            return func(event, context)
        except ProviderError as error:
            if error.physical_id is not None:
                helper.PhysicalResourceId = error.physical_id
            raise
        except Exception as error:
            logger.exception("Unexpected failure")
            raise ProviderError(f"Unexpected {type(error).__name__} in the provider: {error}") from error

    return run


def _answer(props: TrackingProps, physical_resource_id: str) -> str:
    helper.Data.update(
        ConfigurationSetName=props.configuration_set_name,
        CustomRedirectDomain=props.custom_redirect_domain,
    )
    return physical_resource_id


@helper.create
@_answering
def on_create(event: dict[str, Any], _context: Any) -> str:
    props = parse_properties(event.get("ResourceProperties"))
    return _answer(props, _provider().create(props))


@helper.update
@_answering
def on_update(event: dict[str, Any], _context: Any) -> str:
    props = parse_properties(event.get("ResourceProperties"))
    old = _props_or_none(event.get("OldResourceProperties"))
    return _answer(props, _provider().update(str(event.get("PhysicalResourceId", "")), props, old))


@helper.delete
@_answering
def on_delete(event: dict[str, Any], _context: Any) -> None:
    _provider().delete(str(event.get("PhysicalResourceId", "")), _props_or_none(event.get("ResourceProperties")))


_REQUEST_TYPES = frozenset({"Create", "Update", "Delete"})
_ENVELOPE = ("RequestId", "StackId", "LogicalResourceId", "ResponseURL")


def _is_cloudformation_event(event: object) -> bool:
    """An event crhelper can answer. It keeps the last event's ResponseURL and ids between invocations,
    so a malformed event would be answered on the previous request's URL, overwriting its answer."""
    return (
        isinstance(event, dict)
        and event.get("RequestType") in _REQUEST_TYPES
        and all(isinstance(event.get(key), str) and event[key] for key in _ENVELOPE)
    )


def handler(event: dict[str, Any], context: Any) -> None:
    """The Lambda handler. Never logs the event: its ResponseURL is a credential."""
    if not _is_cloudformation_event(event):
        logger.error("Not a CloudFormation custom resource event; it has no answer to give: ignored")
        return
    logger.info(
        "%s request %s for %s (physical id %s)",
        event["RequestType"],
        event["RequestId"],
        event["LogicalResourceId"],
        event.get("PhysicalResourceId"),
    )
    helper(event, context)
