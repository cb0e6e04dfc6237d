"""Lambda entry point: routes CloudFormation's events through crhelper to TrackingOptionsProvider."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ProviderError
from .handoff import MAX_HOPS, Carried, carried, hand_on
from .helper import make_helper
from .pacing import HandOffNeeded
from .properties import TrackingProps, parse_properties
from .provider import TrackingOptionsProvider
from .ses import SesTracking

__all__ = ["handler"]

logger = logging.getLogger(__name__)

helper = make_helper(also_redact=(__name__,))


@functools.cache
def _ses() -> SesTracking:
    return SesTracking(helper.time_left)


@functools.cache
def _provider() -> TrackingOptionsProvider:
    return TrackingOptionsProvider(_ses())


# The pacing state of the event this invocation serves.
_state = Carried(0.0, None, 0)


def _props_or_none(props: object) -> TrackingProps | None:
    try:
        return parse_properties(props)
    except ProviderError:
        return None


def _answering(func: Callable[[dict[str, Any], Any], str | None]) -> Callable[[dict[str, Any], Any], str | None]:
    """Turn any failure into a short reason, keeping the physical id of anything it left in SES."""

    @functools.wraps(func)
    def run(event: dict[str, Any], context: Any) -> str | None:
        if _state.hops > MAX_HOPS:
            raise ProviderError(f"The wait for SES was handed on {_state.hops} times; deploy again")
        _ses().resume(_state.booking, _state.event_deadline(event.get("ResourceProperties")), _state.reads)
        try:
            return func(event, context)
        except HandOffNeeded as wait:
            _hand_on(event, context, wait)
            return str(event.get("PhysicalResourceId", ""))
        except ProviderError as error:
            if error.physical_id is not None:
                helper.PhysicalResourceId = error.physical_id
            raise
        except Exception as error:
            logger.exception("Unexpected failure")
            raise ProviderError(f"Unexpected {type(error).__name__} in the provider: {error}") from error

    return run


def _hand_on(event: dict[str, Any], context: Any, wait: HandOffNeeded) -> None:
    """Let a fresh invocation wait for the booked slot and answer; this one sends nothing."""
    try:
        hand_on(event, _state, wait.booking, wait.wait, str(context.invoked_function_arn), reads=_ses().reads)
    except Exception as error:
        logger.exception("Could not hand the event on")
        reason = f"The wait for SES could not be handed on to another invocation ({type(error).__name__}); deploy again"
        raise ProviderError(reason) from error
    helper.handed_on = True


def _first_delivery(request_id: str, hop: int) -> bool:
    """Claim a hand-on in the schedule table; a duplicate must not run the operation a second time."""
    try:
        return _ses().pacer.claim(request_id, hop)
    except (BotoCoreError, ClientError):
        logger.warning("Could not claim hand-on %d in the schedule table; serving it", hop, exc_info=True)
        return True


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
    global _state  # noqa: PLW0603 - one event per invocation
    if not _is_cloudformation_event(event):
        logger.error("Not a CloudFormation custom resource event; it has no answer to give: ignored")
        return
    _state = carried(event)
    helper.handed_on = False
    if _state.hops and not _first_delivery(event["RequestId"], _state.hops):
        logger.warning(
            "A second delivery of hand-on %d for request %s: another invocation serves it",
            _state.hops,
            event["RequestId"],
        )
        return
    logger.info(
        "%s request %s for %s (physical id %s)",
        event["RequestType"],
        event["RequestId"],
        event["LogicalResourceId"],
        event.get("PhysicalResourceId"),
    )
    helper(event, context)
