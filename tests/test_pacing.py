"""The turns a provider takes at SES (lambda_handler/pacing.py), on a fake clock; the whole mechanism runs in
tests/test_scale.py and bench/."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from cdk_ses_tracking_options.lambda_handler.budget import ATTEMPT_BUDGET, HOLD_LIMIT, MAX_YIELD, PACED_MEMORY
from cdk_ses_tracking_options.lambda_handler.pacing import LaneState, PauseForSes, Turns

START = 1_796_000_000.0
INTERVAL = 1.05


@dataclass
class Clock:
    now: float = START
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def turns(clock: Clock, state: LaneState | None = None) -> Turns:
    return Turns(state or LaneState(), clock=clock.time, sleep=clock.sleep, interval=INTERVAL)


def test_on_an_idle_ses_calls_go_out_at_once() -> None:
    clock = Clock()
    lane = turns(clock)
    for _ in range(3):
        lane.before_call(time_left=60)
        lane.succeeded()
        clock.now += 0.05
    assert clock.slept == []


def test_after_a_throttle_calls_go_an_interval_apart_from_start_to_start() -> None:
    clock = Clock()
    lane = turns(clock)
    lane.before_call(time_left=60)
    lane.throttled()
    starts = []
    for _ in range(3):
        lane.before_call(time_left=60)
        starts.append(clock.now)
        clock.now += 0.2  # the call's latency does not add to the interval
        lane.succeeded()
    assert [round(b - a, 6) for a, b in itertools.pairwise(starts)] == [INTERVAL, INTERVAL]


def test_throttles_in_a_row_yield_longer_up_to_the_cap() -> None:
    clock = Clock()
    lane = turns(clock)
    waits = []
    for _ in range(6):
        lane.throttled()
        waits.append(round(lane.state.next_call - clock.now, 6))
    assert waits == [INTERVAL * factor for factor in (1, 2, 4, MAX_YIELD, MAX_YIELD, MAX_YIELD)]
    lane.succeeded()
    assert lane.state.yields == 0


def test_a_wait_longer_than_the_hold_limit_pauses_in_the_queue_instead_of_sleeping() -> None:
    clock = Clock()
    lane = turns(clock, LaneState(next_call=START + HOLD_LIMIT + 0.5))
    with pytest.raises(PauseForSes) as paused:
        lane.before_call(time_left=60)
    assert paused.value.wait == pytest.approx(HOLD_LIMIT + 0.5)
    assert clock.slept == []


def test_a_short_wait_is_slept_unless_the_invocation_lacks_the_time_for_the_call_after_it() -> None:
    clock = Clock()
    turns(clock, LaneState(next_call=START + 2)).before_call(time_left=60)
    assert clock.slept == [2]
    with pytest.raises(PauseForSes):
        turns(Clock(), LaneState(next_call=START + 2)).before_call(time_left=ATTEMPT_BUDGET + 1)


def test_pacing_is_forgotten_once_ses_has_been_quiet() -> None:
    clock = Clock()
    lane = turns(clock)
    lane.throttled()
    lane.before_call(time_left=60)
    lane.succeeded()
    # GIVEN the next holder long after the last paced call
    clock.now = lane.state.next_call + PACED_MEMORY + 1
    later = turns(clock, lane.state)
    # THEN its calls go out at once again
    for _ in range(2):
        later.before_call(time_left=60)
        later.succeeded()
    assert later.state.next_call == clock.now
