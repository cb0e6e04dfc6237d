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
from .pacing import LaneState, PauseForSes
from .physical_ids import parse
from .properties import TrackingProps, parse_properties
from .ses import SesTracking
from .store import Answer

__all__ = [
    "CANCELLED",
    "CANCELLED_UNDONE",
    "TOO_LATE",
    "Finished",
    "Paused",
    "cancellation",
    "failed",
    "run",
    "too_late_to_start",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """The operation's answer, and the record of the set it changed, to be written with it; `cancelling`: the
    Delete of a Create CloudFormation cancelled, to be kept in the lane with the answer (cancellation())."""

    operation: Operation
    answer: Answer
    recorded: SetOwnership | None = None
    cancelling: tuple[str, float] | None = None


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


def cancellation(operation: Operation) -> tuple[str, float] | None:
    """For the Delete of a Create that failed or that CloudFormation cancelled, its logical id and when it was sent.

    A stack operation that fails cancels the Creates still in flight: CloudFormation stops waiting for their
    answers and sends each a Delete with a physical id of its own (aws-cloudformation/cloudformation-coverage-
    roadmap#1814), while the provider may still have the Create to run, queued or paused. The mark this returns
    is kept in the lane (store.py), which every operation reads before it calls SES: a Create of that resource
    sent before it is dropped if it has changed nothing, and undone if it has (_cancelled_create); one that ran
    before the Delete is undone by it, from the record of the set (Lifecycle.delete)."""
    if operation.request_type != "Delete" or parse(operation.physical_id) is not None:
        return None
    return operation.logical_id, operation.first_seen


CANCELLED = "CloudFormation cancelled this Create (its stack operation failed); SES was left unchanged"
CANCELLED_UNDONE = "CloudFormation cancelled this Create (its stack operation failed); what it had begun is undone"


def _cancelled_create(lifecycle: Lifecycle, props: TrackingProps) -> tuple[Answer, SetOwnership | None]:
    """A cancelled Create: nothing to do if it changed nothing yet; else it ends what it began (its calls are in
    its journal, and an operation's calls run the same way each time), and removes it as the Delete of its id
    would, the Delete CloudFormation sent having found nothing to remove."""
    operation = lifecycle.operation
    # A Create taken over from an invocation that stopped may have changed SES after its journal's last entry.
    if not operation.resumed and not any(entry.changed for entry in operation.journal):
        logger.warning("Request %s: a Create CloudFormation cancelled, dropped before SES", operation.request_id)
        return failed(operation, CANCELLED), None
    made = lifecycle.create(props)
    logger.warning("Request %s: a Create CloudFormation cancelled, after it changed SES: undone", operation.request_id)
    recorded = lifecycle.holding(made.recorded).delete(made.physical_id, props)
    return failed(operation, CANCELLED_UNDONE), recorded


def _decide(
    operation: Operation, lifecycle: Lifecycle, cancelled_at: float | None
) -> tuple[Answer, SetOwnership | None]:
    event = operation.event
    if operation.request_type == "Delete":
        recorded = lifecycle.delete(operation.physical_id, _props_or_none(event.get("ResourceProperties")))
        return Answer("SUCCESS", operation.physical_id), recorded
    props = parse_properties(event.get("ResourceProperties"))
    if operation.request_type == "Create":
        if cancelled_at is not None and cancelled_at >= operation.first_seen:
            return _cancelled_create(lifecycle, props)
        decided = lifecycle.create(props)
    else:
        old = _props_or_none(event.get("OldResourceProperties"))
        decided = lifecycle.update(operation.physical_id, props, old)
    data = {"ConfigurationSetName": props.configuration_set_name, "CustomRedirectDomain": props.custom_redirect_domain}
    return Answer("SUCCESS", decided.physical_id, data=data), decided.recorded


def run(
    ses: SesTracking, ownership: Callable[[str], Ownership | None], lane: LaneState | None = None
) -> Finished | Paused:
    """The operation SesTracking carries, decided and made at SES as far as it can go now; `ownership` reads the
    provider's record of who in the stack holds a set's options; `lane`, where the lane stands (the Creates
    CloudFormation cancelled)."""
    operation = ses.operation
    cancelled_at = lane.cancelled_at(operation.logical_id) if lane is not None else None
    recorded = None
    try:
        answer, recorded = _decide(operation, Lifecycle(ses, ownership), cancelled_at)
    except PauseForSes as pause:
        return Paused(ses.operation, pause.wait)
    except ProviderError as error:
        answer = failed(ses.operation, str(error), error.physical_id)
    except Exception as error:
        logger.exception("Unexpected failure")
        answer = failed(ses.operation, f"Unexpected {type(error).__name__} in the provider: {error}"[:255])
    return Finished(ses.operation, answer, recorded, cancellation(operation))
