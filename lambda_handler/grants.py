"""A denied call is tried again for a while: IAM is eventually consistent.

"Changes that I make are not always immediately visible" (IAM User Guide, Troubleshoot general issues): a
permission granted by the same deploy (a policy updated in the stack's UPDATE_IN_PROGRESS) may be denied for a
few seconds after CloudFormation has finished updating it. Every AWS call the function makes is granted by its
template, so a denial is tried again after 1 s, 2 s, 4 s, ... until budget.ACCESS_DENIED_GRACE after the first;
a permission that is really missing (an SCP, a boundary, an edited role) still fails within seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from . import budget

__all__ = ["is_denied", "pause_after_denial", "until_granted"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
# SES v1 answers AccessDenied; SES v2, DynamoDB and Lambda AccessDeniedException.
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


def is_denied(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code", "")) in _DENIED_CODES


def pause_after_denial(denials: int, denied_for: float) -> float:
    """How long to wait before trying the call denied `denials` times, the first `denied_for` seconds ago: 0 once
    the grace is over."""
    return max(0.0, min(2.0 ** (denials - 1), budget.ACCESS_DENIED_GRACE - denied_for))


def until_granted(
    call: Callable[[], T],
    what: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """call(), tried again while it is denied, for the grace; the last denial is raised."""
    denied_since, denials = 0.0, 0
    while True:
        try:
            return call()
        except ClientError as error:
            if not is_denied(error):
                raise
            denied_since, denials = (denied_since or clock()), denials + 1
            pause = pause_after_denial(denials, clock() - denied_since)
            if not pause:
                raise
            logger.warning("%s was denied; trying again in %.0f s (IAM propagates grants)", what, pause)
            sleep(pause)
