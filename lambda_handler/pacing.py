"""Taking turns at SES's one call a second. Pure decisions over an injected clock and sleep.

SES's control plane allows about one call a second per account and region, shared by every caller ("Service
quotas in Amazon SES"). A provider makes its calls in one lane: whichever invocation holds the lane (an event
that found SES idle, or the worker draining the provider's queue) is the only one calling SES, so a provider
never competes with itself. The lane's state travels in the provider's table from one holder to the next:

- On an idle SES, calls go out at once: the idle path costs nothing.
- Once throttled, the lane is paced: calls go INTERVAL apart, from the start of one to the next, until no call
  has been paced for PACED_MEMORY.
- A throttle waits INTERVAL, then 2, 4 and at most MAX_YIELD INTERVALs while throttles come in a row: that is
  how a provider yields to another it cannot see, sharing the account's allowance. One of them then holds the
  allowance while the other probes every few seconds, instead of both halving it with throttles.
- A wait longer than HOLD_LIMIT is not slept: the holder pauses the operation (PauseForSes), which waits in
  the queue at no cost, and the lane's next call time tells the next holder when to start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .budget import ATTEMPT_BUDGET, HOLD_LIMIT, INTERVAL, MAX_YIELD, PACED_MEMORY

__all__ = ["LaneState", "PauseForSes", "Turns"]


@dataclass(frozen=True)
class LaneState:
    """When the provider may call SES next, how many throttles came in a row, and until when it is paced; and
    the Creates CloudFormation cancelled: a resource's logical id, and when the Delete that followed was sent
    (run.py). It travels with the lane because every operation reads the lane before it calls SES."""

    next_call: float = 0.0
    yields: int = 0
    paced_until: float = 0.0
    cancelled: tuple[tuple[str, float], ...] = ()

    def cancelled_at(self, logical_id: str) -> float | None:
        """When the latest Delete of a cancelled Create of this resource was sent, if one was."""
        times = [at for cancelled, at in self.cancelled if cancelled == logical_id]
        return max(times) if times else None

    def cancelling(self, logical_id: str, at: float) -> LaneState:
        kept = tuple((cancelled, t) for cancelled, t in self.cancelled if cancelled != logical_id)
        return replace(self, cancelled=(*kept, (logical_id, at)))


class PauseForSes(Exception):  # noqa: N818 - a signal to wait in the queue, not an error
    """The next call's turn is further away than an invocation should sleep."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"SES's next turn is {wait:.1f} s away")
        self.wait = wait


class Turns:
    """The holder's turns: before_call() before each SES attempt, then succeeded() or throttled()."""

    def __init__(
        self,
        state: LaneState,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        interval: float = INTERVAL,
        hold_limit: float = HOLD_LIMIT,
    ) -> None:
        self._state = state
        self._clock = clock
        self._sleep = sleep
        self.interval = interval
        self._hold_limit = hold_limit
        self._started = 0.0

    @property
    def state(self) -> LaneState:
        """What the next holder starts from."""
        return self._state

    def before_call(self, time_left: float) -> None:
        """Sleep until this call's turn, or raise PauseForSes when that is too far away to sleep through."""
        wait = self._state.next_call - self._clock()
        if wait > 0:
            if wait > self._hold_limit or time_left - wait < ATTEMPT_BUDGET:
                raise PauseForSes(wait)
            self._sleep(wait)
        self._started = self._clock()

    def succeeded(self) -> None:
        state = self._state
        if self._started < state.paced_until:
            # Paced: the next call comes an interval after this one started.
            next_call = self._started + self.interval
            self._state = replace(state, next_call=next_call, yields=0, paced_until=next_call + PACED_MEMORY)
        else:
            self._state = replace(state, next_call=self._started, yields=0)

    def throttled(self) -> None:
        yields = self._state.yields + 1
        wait = self.interval * min(2 ** (yields - 1), MAX_YIELD)
        now = self._clock()
        self._state = replace(self._state, next_call=now + wait, yields=yields, paced_until=now + wait + PACED_MEMORY)

    def cancel(self, logical_id: str, at: float) -> None:
        """A Delete of a cancelled Create answered in this lane: the operations after it see it too."""
        self._state = self._state.cancelling(logical_id, at)
