"""Taking turns at SES's one call a second. Pure logic over an injected store, clock and sleep.

SES's control plane allows about one call a second per account and region. Callers that retry at
random, knowing nothing of each other, either idle the allowance or waste calls on throttling. So the
invocations of one provider take turns on a shared schedule (the store, one DynamoDB item the provider
owns):

- An operation's first call goes straight to SES: on an idle SES nothing changes, not even a client.
- Once throttled, the operation books a block of consecutive slots on the schedule, one per call it
  plans, `interval` apart, after every block booked before it, and waits for its slot.
- A throttle on a booked call pushes the whole schedule back (every pending slot of this provider,
  the throttled call's own included), by an interval that doubles with each throttle in a row. That is
  how one provider yields to another it cannot see, sharing the same account's allowance.
- A wait longer than this invocation has left is handed on (HandOffNeeded) to a fresh invocation that
  keeps the rest of the booking; this is allowed only until a call that changes SES has succeeded (a
  read changes nothing), so that the successor can safely start the operation over. Past the event's
  own deadline (its ServiceTimeout), the operation fails at once with a clear reason, never a hang.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "HANDOFF_LEAD",
    "HANDOFF_MARGIN",
    "INTERVAL",
    "BookedTooLateError",
    "Booking",
    "HandOffNeeded",
    "OutOfTimeError",
    "Pacer",
    "ScheduleStore",
]

logger = logging.getLogger(__name__)

# Seconds between booked calls: SES's one a second, with room for the jitter of network latency.
INTERVAL = 1.05
# A throttled booked call pushes the schedule back by INTERVAL, 2, 4, then 8 INTERVALs in a row.
MAX_YIELD = 8
# An invocation hands its wait on while it still has this long left: enough for a block's calls and
# the answer, whatever happens after the wait.
HANDOFF_MARGIN = 40.0
# A wait is handed on while the slot is still this far away: a fresh invocation may take seconds to start
# (Lambda's asynchronous queue, a cold start), and a slot it misses is lost to everyone. At most half of
# what an invocation may wait, so that each one hands on a wait the next can make progress on.
HANDOFF_LEAD = 10.0
# A call in the middle of a block gives up when its slot is less than this far from the deadline.
MID_BLOCK_MARGIN = 25.0
# Without a schedule, a throttled call is tried again after a random pause of up to this long.
UNPACED_PAUSE = 2.0


class ScheduleStore(Protocol):
    """The shared schedule: when the next free slot starts, and how far throttles have pushed it."""

    def book(self, now: float, length: float) -> tuple[float, float]:
        """Book `length` seconds from the next free slot (or now, if that has passed): (start, shift)."""

    def shift(self) -> float:
        """How far throttles have pushed the schedule back, in all."""

    def push(self, seconds: float) -> None:
        """Push every pending slot back."""

    def claim(self, request_id: str, hop: int, now: float) -> bool:
        """Whether this is the first delivery of hand-on `hop` of a request (False for a duplicate)."""


@dataclass(frozen=True)
class Booking:
    """Slots `start`, `start + interval`, ... for `calls` calls, as they stood when the shift was `shift`."""

    start: float
    calls: int
    shift: float


class HandOffNeeded(Exception):  # noqa: N818 - a signal to hand the event on, not an error
    """The booked slot comes after this invocation must answer: hand the event on with the booking."""

    def __init__(self, booking: Booking, wait: float) -> None:
        super().__init__(f"booked slot {wait:.0f} s away")
        self.booking = booking
        self.wait = wait


class BookedTooLateError(Exception):
    """The booked slot comes after the event's own deadline."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the booked slot is {wait:.0f} s away")
        self.wait = wait


class OutOfTimeError(Exception):
    """A call in the middle of an operation cannot get its turn before this invocation must answer."""


class Pacer:
    """One operation's turns: call before_call() before each SES attempt, then succeeded() or throttled()."""

    _booking: Booking | None
    _event_deadline: float | None

    def __init__(
        self,
        store: Callable[[], ScheduleStore] | None,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        interval: float = INTERVAL,
    ) -> None:
        self._schedule = store
        self._store_factory = store
        self._store_made: ScheduleStore | None = None
        self._clock = clock
        self._sleep = sleep
        self.interval = interval
        self.begin(1)

    @property
    def paced(self) -> bool:
        """Whether there is a schedule to take turns on."""
        return self._store_factory is not None

    @property
    def _store(self) -> ScheduleStore | None:
        # Made on first use: an operation that is never throttled needs none.
        if self._store_made is None and self._store_factory is not None:
            self._store_made = self._store_factory()
        return self._store_made

    def claim(self, request_id: str, hop: int) -> bool:
        """Whether a hand-on is delivered here first, on the schedule's store; True without a schedule."""
        if self._schedule is None:
            return True
        if self._store_made is None:
            self._store_made = self._schedule()
        return self._store_made.claim(request_id, hop, self._clock())

    def unpace(self) -> None:
        """Stop taking turns for this operation (the schedule cannot be reached): throttled calls are
        retried after pauses; the next operation tries the schedule again."""
        self._store_factory = None
        self._store_made = None
        self._booking = None
        self._unpaced_pause = random.uniform(0, UNPACED_PAUSE)  # noqa: S311 - jitter, not a secret

    def begin(self, calls: int, booking: Booking | None = None, event_deadline: float | None = None) -> None:
        """Start an operation that plans `calls` SES calls, with the booking a predecessor handed on."""
        self._store_factory = self._schedule
        self._planned = max(1, calls)
        # A booking means nothing without the schedule it was made on.
        self._booking = booking if self._store_factory is not None else None
        self._index = 0
        self._done = 0
        # Whether a call that changed SES succeeded: from then on, the operation cannot start over.
        self._changed = False
        # The first try goes straight to SES; once throttled, the operation takes turns.
        self._straight = True
        self._lost_in_a_row = 0
        self._unpaced_pause = 0.0
        self._event_deadline = event_deadline
        # How long this invocation may wait for a turn in all, once it first waits.
        self._window: float | None = None

    def before_call(self, time_left: float) -> None:
        """Wait for this call's turn; raise HandOffNeeded or BookedTooLateError instead of waiting too long."""
        if self._unpaced_pause:
            pause, self._unpaced_pause = self._unpaced_pause, 0.0
            self._sleep(pause)
        if self._booking is None or self._index >= self._booking.calls:
            if self._booking is None and self._straight:
                return
            store = self._store
            if store is None:
                return
            # A throttle just showed the allowance in use: the earliest useful slot is an interval away.
            start, shift = store.book(self._clock() + self.interval, (self._planned - self._done) * self.interval)
            self._booking, self._index = Booking(start, self._planned - self._done, shift), 0
            logger.debug("Booked %d slots from %.2f (shift %.2f)", self._booking.calls, start, shift)
        self._wait(self._booking, time_left)

    def _wait(self, booking: Booking, time_left: float) -> None:
        store = self._store
        if store is None:
            return
        started = self._clock()
        if self._window is None:
            self._window = time_left - HANDOFF_MARGIN
        lead = min(HANDOFF_LEAD, self._window / 2)
        while True:
            now = self._clock()
            target = booking.start + self._index * self.interval + (store.shift() - booking.shift)
            wait = target - now
            if self._event_deadline is not None and target > self._event_deadline:
                raise BookedTooLateError(wait)
            if wait <= 0:
                logger.debug("Turn for the slot at %.2f, %.2f s late", target, -wait)
                return
            # Waking early to read the shift again costs one read; waking late costs the allowance.
            nap = min(wait, max(self.interval, wait / 2))
            left = time_left - (now - started)
            if wait > left - HANDOFF_MARGIN:
                if self._changed:
                    # SES was changed, so the operation cannot start over elsewhere: finish here or fail.
                    if wait > left - MID_BLOCK_MARGIN:
                        raise OutOfTimeError
                else:
                    # Wait here while this invocation may, and the successor would still be in time for the
                    # slot; then hand the rest of the booking on.
                    nap = min(nap, left - HANDOFF_MARGIN, wait - lead)
                    if nap < self.interval:
                        start = booking.start + self._index * self.interval
                        raise HandOffNeeded(Booking(start, booking.calls - self._index, booking.shift), wait)
            self._sleep(nap)

    def succeeded(self, *, changed: bool = True) -> None:
        """The call went through; `changed` unless it only read, or SES refused it as nothing to do."""
        self._done += 1
        self._changed = self._changed or changed
        self._lost_in_a_row = 0
        if self._booking is not None:
            self._index += 1

    def throttled(self) -> None:
        self._straight = False
        store = self._store
        if store is None:
            # Nothing to share turns on: a random pause before the next try.
            self._unpaced_pause = random.uniform(0, UNPACED_PAUSE)  # noqa: S311 - jitter, not a secret
            return
        if self._booking is not None and self._index < self._booking.calls:
            # A booked call lost its slot to another caller: push this provider's schedule back, further
            # with each throttle in a row while nothing is done (so as to yield to a busy neighbour), by
            # one interval in the middle of an operation (which must finish before its deadline).
            self._lost_in_a_row += 1
            factor = 1 if self._done else min(2 ** (self._lost_in_a_row - 1), MAX_YIELD)
            logger.debug("A booked call was throttled; pushing the schedule back %.2f s", self.interval * factor)
            store.push(self.interval * factor)
