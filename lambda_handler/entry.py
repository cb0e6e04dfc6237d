"""A CloudFormation event as it arrives: its request claimed once, run straight at SES when the provider's lane
is free, and queued otherwise, or as soon as SES's next turn is further away than this invocation should wait.

Whatever the delivery (the first, a duplicate, Lambda's retry of an invocation that crashed), the request's
record (store.py) says what to do: run it, leave it to the invocation or the queue that has it, or send again
an answer that was decided but may not have reached CloudFormation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import log_context
from .budget import HOLD_LIMIT, TIMER_MARGIN
from .environment import Environment
from .errors import ProviderError
from .operation import Operation
from .pacing import LaneState, Turns
from .run import TOO_LATE, Paused, cancellation, failed, run, too_late_to_start
from .ses import SesTracking
from .store import Answer, Claim, Found

__all__ = ["Invocation", "LostOperationError", "persister", "release_lane", "serve", "tracking"]

logger = logging.getLogger(__name__)


class LostOperationError(ProviderError):
    """The request is no longer this invocation's: another took it over (this one ran past its lease)."""


@dataclass(frozen=True)
class Invocation:
    """This invocation: its holder token (unique to it, for the conditional writes), how long it has left, and
    how to answer CloudFormation out of turn (the last-resort timer)."""

    holder: str
    time_left: Callable[[], float]
    answer: Callable[[Mapping[str, Any], Answer], None]


def persister(env: Environment, holder: str) -> Callable[[Operation], Operation]:
    def persist(operation: Operation) -> Operation:
        stored = env.store.save(operation, holder, queued=False)
        if stored is None:
            msg = "Another invocation took this request over; it answers it"
            raise LostOperationError(msg)
        return stored

    return persist


def tracking(operation: Operation, invocation: Invocation, env: Environment, turns: Turns) -> SesTracking:
    """The operation at SES in this invocation, in the lane, each change recorded in the table."""
    return SesTracking(
        operation,
        env.ses,
        turns,
        time_left=invocation.time_left,
        persist=persister(env, invocation.holder),
        clock=env.clock,
        sleep=env.sleep,
    )


def release_lane(env: Environment, holder: str, state: LaneState) -> None:
    """Let the lane go; if that fails, its lease runs out by itself within the invocation's timeout."""
    try:
        env.store.release_lane(holder, state, env.clock())
    except (BotoCoreError, ClientError):
        logger.warning(
            "Could not let the SES lane go; it frees itself when this invocation's lease ends", exc_info=True
        )


def serve(event: Mapping[str, Any], invocation: Invocation, env: Environment) -> Answer | None:
    """The answer to send now, or None when another invocation, or the queue, answers."""
    now = env.clock()
    operation = Operation.from_event(event, now)
    lease = now + invocation.time_left()
    try:
        claim = env.store.claim(operation, invocation.holder, lease, now)
    except (BotoCoreError, ClientError) as error:
        logger.warning("The provider's table cannot be reached (%s); serving the request here, unrecorded", error)
        return _unrecorded(operation, invocation, env)
    if claim.found is not Found.OURS or claim.operation is None:
        return _another_delivery(operation, claim, now, env)
    return _take_up(claim.operation, invocation, env, now, lease)


def _take_up(operation: Operation, invocation: Invocation, env: Environment, now: float, lease: float) -> Answer | None:
    """The claimed request: run straight when the lane is free and usable, queued otherwise."""
    if now >= operation.abandoned_at:
        logger.warning("Request %s came after its ServiceTimeout: nothing done", operation.request_id)
        return None
    if too_late_to_start(operation, now):
        late = failed(operation, TOO_LATE)
        return late if env.store.answer(operation, invocation.holder, late) else None
    if cancellation(operation) is not None:
        # Behind every operation the queue holds: a Create paused there between two changes is undone by it
        # or by its own turn, before the stack's deletion can remove the queue (cancellation()).
        _mark_cancelled(operation, env)
        return _queue(operation, invocation, env)
    lane = env.store.take_lane(invocation.holder, now, lease)
    if not isinstance(lane, LaneState):
        return _queue(operation, invocation, env)
    if lane.next_call - now > HOLD_LIMIT:
        # Taken, but not usable for a while: let it go at once, or the queue's worker waits for this lease.
        release_lane(env, invocation.holder, lane)
        return _queue(operation, invocation, env)
    return _straight(operation, invocation, env, Turns(lane, clock=env.clock, sleep=env.sleep, interval=env.interval))


def _mark_cancelled(operation: Operation, env: Environment) -> None:
    """The Delete of a cancelled Create, marked in the lane at once: a Create queued ahead of it is dropped when
    its turn comes, not run and then undone. Its answer marks it again, for certain (run.cancellation())."""
    cancelling = cancellation(operation)
    if cancelling is None:
        return
    try:
        env.store.cancel(*cancelling)
    except (BotoCoreError, ClientError) as error:
        logger.warning("Could not mark the cancelled Create of %s yet (%s)", operation.logical_id, error)


def _another_delivery(operation: Operation, claim: Claim, now: float, env: Environment) -> Answer | None:
    """A delivery of a request someone has claimed: an answer to send again, or nothing."""
    request = operation.request_id
    if claim.found is Found.ANSWERED and claim.answer is not None:
        if not claim.delivered and claim.until <= now:
            logger.info("Request %s was answered by an invocation that stopped; sending its answer again", request)
            return claim.answer
        if not claim.delivered:
            # Its holder is sending it, or stopped before it could: the queue comes back to see.
            env.queue.send(request)
        logger.info("Request %s is answered already: a second delivery", request)
    elif claim.found is Found.QUEUED:
        # In case the invocation that queued it stopped before sending the message: SQS drops a duplicate.
        env.queue.send(request)
        logger.info("Request %s waits in the queue: a second delivery", request)
    else:
        # Most likely a duplicate while the holder runs; but if the holder crashed and this is Lambda's retry,
        # come early, its work must not be left: the queue brings the request back to the worker, which takes
        # it over once the holder's lease ends (or finds it answered).
        env.queue.send(request)
        logger.info("Request %s is being served by another invocation: a second delivery", request)
    return None


def _straight(operation: Operation, invocation: Invocation, env: Environment, turns: Turns) -> Answer | None:
    """Run the request at SES in this invocation, which holds the lane."""
    ses = tracking(operation, invocation, env, turns)
    timer = threading.Timer(max(invocation.time_left() - TIMER_MARGIN, 0.0), _last_resort, (operation, invocation, env))
    timer.daemon = True
    timer.start()
    try:
        outcome = run(ses, env.store.ownership, turns.state)
    except BaseException:
        release_lane(env, invocation.holder, turns.state)
        raise
    finally:
        timer.cancel()
    if isinstance(outcome, Paused):
        release_lane(env, invocation.holder, turns.state)
        return _queue(outcome.operation, invocation, env)
    try:
        # The answer recorded and the lane let go in one write.
        answered = env.store.answer(
            outcome.operation,
            invocation.holder,
            outcome.answer,
            recorded=outcome.recorded,
            releasing=turns.state,
            cancelling=outcome.cancelling,
            now=env.clock(),
        )
    except (BotoCoreError, ClientError):
        release_lane(env, invocation.holder, turns.state)
        raise
    return outcome.answer if answered else None


def _queue(operation: Operation, invocation: Invocation, env: Environment) -> Answer | None:
    """Leave the operation to the queue; this invocation sends nothing."""
    if env.store.save(operation, invocation.holder, queued=True) is None:
        return None
    try:
        env.queue.send(operation.request_id)
    except (BotoCoreError, ClientError) as error:
        logger.exception("Could not queue request %s", operation.request_id)
        now = env.clock()
        taken = env.store.take(operation.request_id, invocation.holder, now + invocation.time_left(), now)
        answer = failed(operation, f"The wait for SES could not be queued ({type(error).__name__}); deploy again")
        if (
            taken.found is Found.OURS
            and taken.operation is not None
            and env.store.answer(taken.operation, invocation.holder, answer)
        ):
            return answer
        return None
    logger.info("Request %s waits for SES in the queue", operation.request_id)
    return None


def _unrecorded(operation: Operation, invocation: Invocation, env: Environment) -> Answer:
    """Without the table: straight at SES, waiting here for every turn, never queued. Not a Delete: without the
    record of who in the stack holds the set, it could remove options another resource holds."""
    if operation.request_type == "Delete":
        return failed(operation, "The provider's table could not be reached, so SES was left unchanged; retry")
    turns = Turns(LaneState(), clock=env.clock, sleep=env.sleep, interval=env.interval, hold_limit=float("inf"))
    ses = SesTracking(
        operation,
        env.ses,
        turns,
        time_left=invocation.time_left,
        persist=lambda o: o,
        clock=env.clock,
        sleep=env.sleep,
        may_pause=False,
    )
    # Nor is who holds the set known: the physical id alone decides, as before the record.
    outcome = run(ses, lambda _set_name: None)
    assert not isinstance(outcome, Paused), "an unrecorded operation never pauses"
    return outcome.answer


def _last_resort(operation: Operation, invocation: Invocation, env: Environment) -> None:
    """Near the deadline, the invocation is stalled outside SES (which has its own deadline guard): the request
    goes to the queue, where the worker resumes it from what was stored; failing that, it is answered FAILED."""
    log_context.bind(operation.event)  # a thread of its own: its lines belong to the operation too
    logger.error(
        "The function is about to time out with request %s unanswered; handing it to the queue", operation.request_id
    )
    try:
        env.store.expire(operation.request_id, invocation.holder, env.clock())
        env.queue.send(operation.request_id)
    except (BotoCoreError, ClientError):
        logger.exception("Could not hand request %s to the queue; answering FAILED", operation.request_id)
        invocation.answer(
            operation.event,
            failed(operation, "The provider function ran out of time before SES answered; deploy again"),
        )
