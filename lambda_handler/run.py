"""Running one operation until it has its answer or must wait for SES: the same for an event that found SES
idle (entry.py) and for one the worker takes from the queue (worker.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ProviderError
from .lifecycle import Lifecycle
from .operation import Operation
from .ownership import Ownership, SetOwnership
from .pacing import PauseForSes
from .properties import TrackingProps, parse_properties
from .ses import SesTracking
from .store import Answer

__all__ = ["TOO_LATE", "Finished", "Paused", "failed", "run", "too_late_to_start"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """The operation's answer, and the record of the set it changed, to be written with it."""

    operation: Operation
    answer: Answer
    recorded: SetOwnership | None = None


@dataclass(frozen=True)
class Paused:
    """SES's next turn is `wait` seconds away: the operation, with what it has done, waits in the queue."""

    operation: Operation
    wait: float


def _props_or_none(props: object) -> TrackingProps | None:
    try:
        return parse_properties(props)
    except ProviderError:
        return None


def _never_issued(operation: Operation) -> str:
    """The physical id of a Create that failed with nothing made: one this provider never issues, the same
    however often the answer is sent."""
    stack = str(operation.event.get("StackId", "")).split("/")
    return f"{stack[1] if len(stack) > 1 else 'stack'}_{operation.logical_id}_{operation.request_id[:8].upper()}"


TOO_LATE = "CloudFormation's ServiceTimeout for this resource ends within a minute: SES was not called; deploy again"


def too_late_to_start(operation: Operation, now: float) -> bool:
    """Whether an operation that has changed nothing at SES must not start: its answer would come after, or
    too close to, the moment CloudFormation stops waiting, and the resource would be failed on a timeout while
    SES changes behind it."""
    return now >= operation.deadline and not any(entry.changed for entry in operation.journal)


def failed(operation: Operation, reason: str, physical_id: str | None = None) -> Answer:
    """A FAILED answer: with the id of anything SES holds for it, else the event's own (a Create's: never issued)."""
    return Answer("FAILED", physical_id or operation.physical_id or _never_issued(operation), reason)


def _decide(operation: Operation, lifecycle: Lifecycle) -> tuple[Answer, SetOwnership | None]:
    event = operation.event
    if operation.request_type == "Delete":
        recorded = lifecycle.delete(operation.physical_id, _props_or_none(event.get("ResourceProperties")))
        return Answer("SUCCESS", operation.physical_id), recorded
    props = parse_properties(event.get("ResourceProperties"))
    if operation.request_type == "Create":
        decided = lifecycle.create(props)
    else:
        old = _props_or_none(event.get("OldResourceProperties"))
        decided = lifecycle.update(operation.physical_id, props, old)
    data = {"ConfigurationSetName": props.configuration_set_name, "CustomRedirectDomain": props.custom_redirect_domain}
    return Answer("SUCCESS", decided.physical_id, data=data), decided.recorded


def run(ses: SesTracking, ownership: Callable[[str], Ownership | None]) -> Finished | Paused:
    """The operation SesTracking carries, decided and made at SES as far as it can go now; `ownership` reads the
    provider's record of who in the stack holds a set's options."""
    recorded = None
    try:
        answer, recorded = _decide(ses.operation, Lifecycle(ses, ownership))
    except PauseForSes as pause:
        return Paused(ses.operation, pause.wait)
    except ProviderError as error:
        answer = failed(ses.operation, str(error), error.physical_id)
    except Exception as error:
        logger.exception("Unexpected failure")
        answer = failed(ses.operation, f"Unexpected {type(error).__name__} in the provider: {error}"[:255])
    return Finished(ses.operation, answer, recorded)
