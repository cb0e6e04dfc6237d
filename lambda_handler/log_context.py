"""The CloudFormation event a log line belongs to, on every line: its request type, logical id, configuration
set, request id and stack id, as attributes of the log record, which Lambda's JSON log format writes as keys.

The fields live in a context variable: bound for the event an invocation serves (index.py), or for each
operation the worker takes from the queue (worker.py), in a context of its own that ends with it, so that no
line carries the fields of an event it does not belong to.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

from .redaction import redact

__all__ = ["FIELDS", "EventFields", "add_event_fields", "bind", "fields_of", "in_own_context"]

# The record attribute (a JSON key) for each of the event's keys. Lambda's formatter has `requestId` already,
# the invocation's; CloudFormation's is `cloudFormationRequestId`.
FIELDS = MappingProxyType(
    {
        "RequestType": "requestType",
        "LogicalResourceId": "logicalResourceId",
        "RequestId": "cloudFormationRequestId",
        "StackId": "stackId",
    }
)
_SET_NAME = "configurationSetName"

_EMPTY: Mapping[str, str] = MappingProxyType({})
_BOUND: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("event_log_fields", default=_EMPTY)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def fields_of(event: Mapping[str, Any]) -> dict[str, str]:
    """The event's fields, each that it has as a string; the set's name from ResourceProperties when given
    (a malformed event or property leaves its field out)."""
    found = {field: value for key, field in FIELDS.items() if isinstance(value := event.get(key), str)}
    properties = event.get("ResourceProperties")
    name = properties.get("ConfigurationSetName") if isinstance(properties, Mapping) else None
    if isinstance(name, str):
        # A property's value is the user's input: a URL in it must not bring its query to the log.
        found[_SET_NAME] = redact(name)
    return found


def bind(event: Mapping[str, Any]) -> None:
    """The lines logged from now on in this context belong to `event`."""
    _BOUND.set(MappingProxyType(fields_of(event)))


def in_own_context(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """`function` run in a copy of the caller's context: what it binds ends when it returns."""

    @functools.wraps(function)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return contextvars.copy_context().run(function, *args, **kwargs)

    return run


class EventFields(logging.Filter):
    """Adds the bound event's fields to each record; a field the record was given (`extra=`) is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        for field, value in _BOUND.get().items():
            if not hasattr(record, field):
                setattr(record, field, value)
        return True


def add_event_fields(handlers: Iterable[logging.Handler]) -> None:
    """Give each handler (Lambda's is the root logger's) the fields of the event its lines belong to."""
    for handler in handlers:
        if not any(isinstance(existing, EventFields) for existing in handler.filters):
            handler.addFilter(EventFields())
