"""Handing an event on to a fresh invocation of this function, with its pacing booking, before the
deadline: the event is answered once, by whichever invocation finishes it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .grants import is_denied, pause_after_denial
from .pacing import Booking
from .ses import Current

__all__ = ["MAX_HOPS", "PACING_KEY", "Carried", "carried", "hand_on"]

logger = logging.getLogger(__name__)

# The key the handed-on event carries its pacing state under; CloudFormation never sends it.
PACING_KEY = "SesTrackingOptionsPacing"
# CloudFormation's longest ServiceTimeout is an hour; each invocation waits at least a minute.
MAX_HOPS = 60
# What CloudFormation waits when a template gives no ServiceTimeout.
DEFAULT_SERVICE_TIMEOUT = 3600.0
# The answer must reach CloudFormation this long before the event's ServiceTimeout.
EVENT_MARGIN = 60.0
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@dataclass(frozen=True)
class Carried:
    """When the event was first seen, the booking handed on (if any), how many hands it passed, and what
    the operation had read from SES before it was handed on (set name: its options, None for no set)."""

    first_seen: float
    booking: Booking | None
    hops: int
    reads: dict[str, Current | None] = field(default_factory=dict)

    def event_deadline(self, properties: object) -> float:
        """When the answer is due at the latest: the event's ServiceTimeout after it was first seen."""
        timeout = DEFAULT_SERVICE_TIMEOUT
        if isinstance(properties, Mapping):
            try:
                timeout = float(properties.get("ServiceTimeout", timeout))
            except (TypeError, ValueError):
                timeout = DEFAULT_SERVICE_TIMEOUT
        return self.first_seen + timeout - EVENT_MARGIN


def carried(event: dict[str, Any]) -> Carried:
    """The pacing state an event was handed on with (removed from it), or a fresh one."""
    state = event.pop(PACING_KEY, None)
    if not isinstance(state, dict):
        return Carried(time.time(), None, 0)
    try:
        booking = state.get("booking")
        return Carried(
            float(state["firstSeen"]),
            Booking(float(booking[0]), int(booking[1]), float(booking[2])) if booking else None,
            int(state["hops"]),
            _reads(state.get("reads") or {}),
        )
    except (KeyError, TypeError, ValueError, IndexError):
        logger.warning("Ignored malformed pacing state in the event")
        return Carried(time.time(), None, 0)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(type(value).__name__)


def _read(value: object) -> Current | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:  # [domain, policy]
        raise TypeError(type(value).__name__)
    return Current(_text(value[0]), _text(value[1]))


def _reads(encoded: object) -> dict[str, Current | None]:
    if not isinstance(encoded, dict):
        raise TypeError(type(encoded).__name__)
    return {str(name): _read(value) for name, value in encoded.items()}


def lambda_client() -> Any:
    """The client that invokes this function again (its endpoint from AWS_ENDPOINT_URL_LAMBDA, when set)."""
    return boto3.client("lambda", config=_CONFIG)


def hand_on(
    event: dict[str, Any],
    state: Carried,
    booking: Booking,
    wait: float,
    function_arn: str,
    *,
    reads: dict[str, Current | None] | None = None,
) -> None:
    """Invoke this function again, asynchronously, with the event, the booking and what was read; raises on
    failure."""
    payload = dict(event)
    payload[PACING_KEY] = {
        "firstSeen": state.first_seen,
        "booking": [booking.start, booking.calls, booking.shift],
        "hops": state.hops + 1,
        "reads": {name: None if read is None else [read.domain, read.policy] for name, read in (reads or {}).items()},
    }
    client, data = lambda_client(), json.dumps(payload).encode()
    denied_since, denials = 0.0, 0
    while True:
        try:
            client.invoke(FunctionName=function_arn, InvocationType="Event", Payload=data)
            break
        except ClientError as error:
            denied_since, denials = (denied_since or time.monotonic()), denials + 1
            pause = pause_after_denial(denials, time.monotonic() - denied_since) if is_denied(error) else 0.0
            if not pause:
                raise
            logger.warning("Invoking this function was denied; trying again in %.0f s", pause)
            time.sleep(pause)
    logger.info("Handed the wait for SES's next turn, %.0f s, on to a fresh invocation (hop %d)", wait, state.hops + 1)
