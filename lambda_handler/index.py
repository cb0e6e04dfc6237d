"""Lambda entry point: CloudFormation's events go through crhelper to entry.py, the queue's batches to
worker.py."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from .long_lived import collection_paused

with collection_paused():
    # boto3 and the handler's modules: made once, for the execution environment's life (long_lived.py).
    from botocore.exceptions import BotoCoreError, ClientError

    from . import entry, log_context, worker
    from .environment import from_variables
    from .errors import ProviderError
    from .helper import make_helper
    from .store import Answer

__all__ = ["handler"]

logger = logging.getLogger(__name__)

helper = make_helper(also_redact=(__name__, entry.__name__, worker.__name__))
log_context.add_event_fields(logging.getLogger().handlers)


def _delivered(request_id: str) -> None:
    try:
        from_variables().store.delivered(request_id)
    except (BotoCoreError, ClientError):
        logger.warning("Could not record that request %s was answered", request_id, exc_info=True)


helper.on_delivered = _delivered


def _invocation(context: Any) -> entry.Invocation:
    def time_left() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    def answer(event: Mapping[str, Any], decided: Answer) -> None:
        helper.answer(event, decided, time_left)

    # A token of this invocation's own: its conditional writes recognise themselves by it.
    return entry.Invocation(str(uuid.uuid4()), time_left, answer)


@helper.create
@helper.update
@helper.delete  # type: ignore[arg-type]
def on_event(event: dict[str, Any], context: Any) -> Answer | None:
    return entry.serve(event, _invocation(context), from_variables())


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


def _queued_records(event: object) -> list[dict[str, Any]] | None:
    """The messages of an SQS event source mapping's batch, or None for any other event."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        return None
    records = [r for r in event["Records"] if isinstance(r, dict) and r.get("eventSource") == "aws:sqs"]
    return records if records and len(records) == len(event["Records"]) else None


class AnswerNotDeliveredError(ProviderError):
    """An answer was decided and recorded, but CloudFormation did not take it: the invocation fails, so that
    Lambda tries it again (an event) or the queue gives the batch back, and that delivery sends it again."""


@log_context.in_own_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    """The Lambda handler. Never logs the event: its ResponseURL is a credential. Each invocation runs in a
    context of its own: the event's log fields it binds end with it."""
    helper.undelivered.clear()
    result = _handle(event, context)
    if helper.undelivered:
        undelivered = ", ".join(helper.undelivered)
        helper.undelivered.clear()
        msg = f"Answers not delivered, to be sent again: {undelivered}"
        raise AnswerNotDeliveredError(msg)
    return result


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    records = _queued_records(event)
    if records is not None:
        invocation = _invocation(context)
        return worker.serve(records, invocation, from_variables(), invocation.answer)
    if not _is_cloudformation_event(event):
        logger.error("Not a CloudFormation custom resource event nor a queued batch; it has no answer: ignored")
        return None
    log_context.bind(event)
    logger.info(
        "%s request %s for %s (physical id %s)",
        event["RequestType"],
        event["RequestId"],
        event["LogicalResourceId"],
        event.get("PhysicalResourceId"),
    )
    helper(event, context)
    return None
