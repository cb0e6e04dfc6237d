"""A batch of queued operations, delivered by the SQS event source mapping: run in order in the provider's SES
lane, each answered as soon as it is done. An operation whose next turn at SES is further away than this
invocation should wait is put back in the queue for that long, with every message after it (one message group:
order is kept), and the invocation ends: waiting costs no execution.

Lambda deletes the messages not reported as failures (ReportBatchItemFailures); a message is reported only to
come back, never dropped while its request is unanswered. A delivery of a message whose request is answered,
or unknown, is simply let go.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import log_context
from .budget import ATTEMPT_BUDGET, HOLD_LIMIT
from .entry import Invocation, release_lane, tracking
from .environment import Environment
from .operation import Operation
from .pacing import LaneState, Turns
from .queue import request_id_of
from .run import TOO_LATE, Paused, failed, run, too_late_to_start
from .store import Answer, Claim, Found

__all__ = ["serve"]

logger = logging.getLogger(__name__)


def _seconds(wait: float) -> int:
    return max(0, math.ceil(wait))


def serve(
    records: Sequence[Mapping[str, Any]],
    invocation: Invocation,
    env: Environment,
    send: Callable[[Mapping[str, Any], Answer], None],
) -> dict[str, list[dict[str, str]]]:
    """Run the batch; the messages to deliver again (ReportBatchItemFailures' response)."""
    again: list[dict[str, str]] = []

    def put_back(rest: Sequence[Mapping[str, Any]], wait: float) -> None:
        for record in rest:
            env.queue.delay(str(record["receiptHandle"]), _seconds(wait))
            again.append({"itemIdentifier": str(record["messageId"])})

    now = env.clock()
    lease = now + invocation.time_left()
    lane = env.store.take_lane(invocation.holder, now, lease)
    if not isinstance(lane, LaneState):
        # A request that found SES idle holds the lane: it lets it go within seconds.
        put_back(records, min(lane - now, HOLD_LIMIT))
        return {"batchItemFailures": again}
    turns = Turns(lane, clock=env.clock, sleep=env.sleep, interval=env.interval)
    try:
        for index, record in enumerate(records):
            if invocation.time_left() < 2 * ATTEMPT_BUDGET:
                put_back(records[index:], 0)
                break
            wait = _serve_one(record, invocation, env, turns, send)
            if wait is not None:
                put_back(records[index:], wait)
                break
    finally:
        release_lane(env, invocation.holder, turns.state)
    return {"batchItemFailures": again}


@log_context.in_own_context
def _serve_one(
    record: Mapping[str, Any],
    invocation: Invocation,
    env: Environment,
    turns: Turns,
    send: Callable[[Mapping[str, Any], Answer], None],
) -> float | None:
    """None when the message is done with, else how long it (and those after it) must wait."""
    request_id = request_id_of(str(record.get("body", "")))
    if request_id is None:
        logger.error("A queued message names no request; dropped")
        return None
    now = env.clock()
    claim = env.store.take(request_id, invocation.holder, now + invocation.time_left(), now)
    if claim.operation is not None:
        log_context.bind(claim.operation.event)
    if claim.found is not Found.OURS or claim.operation is None:
        return _settled(claim, request_id, now, send)
    operation = claim.operation
    if _too_late(operation, invocation, env, now, send):
        return None
    outcome = run(tracking(operation, invocation, env, turns), env.store.ownership, turns.state)
    if isinstance(outcome, Paused):
        if env.store.save(outcome.operation, invocation.holder, queued=True) is None:
            return None
        return outcome.wait
    answered = env.store.answer(
        outcome.operation,
        invocation.holder,
        outcome.answer,
        recorded=outcome.recorded,
        cancelling=outcome.cancelling,
        now=env.clock(),
    )
    if outcome.cancelling is not None:
        # The operations after it in this batch read the lane as it was when the batch began.
        turns.cancel(*outcome.cancelling)
    if answered:
        send(outcome.operation.event, outcome.answer)
    return None


def _too_late(
    operation: Operation,
    invocation: Invocation,
    env: Environment,
    now: float,
    send: Callable[[Mapping[str, Any], Answer], None],
) -> bool:
    """Whether the request must not start: answered FAILED while CloudFormation still waits, after that not."""
    if now >= operation.abandoned_at:
        # CloudFormation no longer waits: the request changes nothing, and its record says so.
        env.store.answer(operation, invocation.holder, failed(operation, "CloudFormation's ServiceTimeout passed"))
        env.store.delivered(operation.request_id)
        logger.warning("Request %s was taken up after its ServiceTimeout: nothing done", operation.request_id)
        return True
    if too_late_to_start(operation, now):
        late = failed(operation, TOO_LATE)
        if env.store.answer(operation, invocation.holder, late):
            send(operation.event, late)
        return True
    return False


def _settled(
    claim: Claim, request_id: str, now: float, send: Callable[[Mapping[str, Any], Answer], None]
) -> float | None:
    """A message of a request the worker cannot take: to come back when its holder's lease ends, or let go."""
    if claim.found is Found.BUSY:
        # Its holder is most likely at SES now and answers within seconds; the message comes back to see.
        return min(claim.until - now, HOLD_LIMIT)
    if claim.found is Found.ANSWERED:
        if claim.operation is not None and claim.answer is not None and not claim.delivered:
            if claim.until > now:
                # Its holder is sending the answer, or stopped before it could: come back to see.
                return min(claim.until - now, HOLD_LIMIT)
            logger.info("Request %s was answered by an invocation that stopped; sending its answer again", request_id)
            send(claim.operation.event, claim.answer)
    else:
        logger.warning("Queued request %s is unknown to the provider's table; dropped", request_id)
    return None
