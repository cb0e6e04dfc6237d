"""Lambda entry point: routes CloudFormation's events through crhelper to TrackingOptionsProvider."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from .errors import ProviderError
from .helper import make_helper
from .properties import TrackingProps, parse_properties
from .provider import TrackingOptionsProvider
from .ses import SesTracking

__all__ = ["handler"]

logger = logging.getLogger(__name__)

helper = make_helper(also_redact=(__name__,))


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
