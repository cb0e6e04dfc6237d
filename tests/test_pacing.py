"""The pacing decisions (lambda_handler/pacing.py) on a fake clock and an in-memory schedule; the
whole mechanism runs in tests/test_scale.py and bench/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cdk_ses_tracking_options.lambda_handler.handoff import PACING_KEY, Carried, carried
from cdk_ses_tracking_options.lambda_handler.pacing import (
    HANDOFF_LEAD,
    HANDOFF_MARGIN,
    BookedTooLateError,
    Booking,
    HandOffNeeded,
    OutOfTimeError,
    Pacer,
)
from cdk_ses_tracking_options.lambda_handler.ses import Current, SesTracking

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


@dataclass
class Schedule:
    """The DynamoDB item's semantics."""

    tat: float | None = None
    shift_total: float = 0.0
    made: int = 0

    def book(self, now: float, length: float) -> tuple[float, float]:
        start = self.tat if self.tat is not None and self.tat >= now else now
        self.tat = start + length
        return start, self.shift_total

    def shift(self) -> float:
        return self.shift_total

    def push(self, seconds: float) -> None:
        self.tat = (self.tat or 0.0) + seconds
        self.shift_total += seconds

    def claim(self, request_id: str, hop: int, now: float) -> bool:
        raise AssertionError("hand-ons are claimed by the handler, not while pacing")


def pacer(clock: Clock, schedule: Schedule) -> Pacer:
    def make() -> Schedule:
        schedule.made += 1
        return schedule

    return Pacer(make, clock=clock.time, sleep=clock.sleep, interval=INTERVAL)


def test_the_first_try_goes_straight_to_ses_without_the_schedule() -> None:
    clock, schedule = Clock(), Schedule()
    turns = pacer(clock, schedule)
    turns.begin(2)
    for _ in range(2):
        turns.before_call(time_left=100)
        turns.succeeded()
    assert clock.slept == []
    assert schedule.made == 0


def test_after_a_throttle_a_block_is_booked_behind_the_others_and_waited_for() -> None:
    clock, schedule = Clock(), Schedule(tat=START + 10)
    turns = pacer(clock, schedule)
    turns.begin(2)
    turns.before_call(time_left=100)
    turns.throttled()
    turns.before_call(time_left=100)
    assert clock.now == START + 10
    turns.succeeded()
    turns.before_call(time_left=100)
    assert clock.now == pytest.approx(START + 10 + INTERVAL)
    # the block took two intervals of the schedule
    assert schedule.tat == pytest.approx(START + 10 + 2 * INTERVAL)


def test_an_idle_schedule_starts_one_interval_after_the_throttle() -> None:
    clock, schedule = Clock(), Schedule()
    turns = pacer(clock, schedule)
    turns.before_call(time_left=100)
    turns.throttled()
    turns.before_call(time_left=100)
    assert clock.now == pytest.approx(START + INTERVAL)


def test_a_throttled_turn_pushes_the_schedule_further_each_time_in_a_row_until_something_is_done() -> None:
    clock, schedule = Clock(), Schedule()
    turns = pacer(clock, schedule)
    turns.begin(2)
    turns.before_call(time_left=1000)
    turns.throttled()  # the first try: nothing booked yet, nothing pushed
    pushes = []
    for _ in range(6):
        turns.before_call(time_left=1000)
        before = schedule.shift_total
        turns.throttled()
        pushes.append(round(schedule.shift_total - before, 2))
    assert pushes == [round(INTERVAL * f, 2) for f in (1, 2, 4, 8, 8, 8)]
    # in the middle of an operation, a lost turn pushes by one interval only
    turns.before_call(time_left=1000)
    turns.succeeded()
    turns.before_call(time_left=1000)
    before = schedule.shift_total
    turns.throttled()
    assert schedule.shift_total - before == pytest.approx(INTERVAL)


def test_a_wait_longer_than_the_invocation_is_handed_on_with_the_booking() -> None:
    clock, schedule = Clock(), Schedule(tat=START + 500)
    turns = pacer(clock, schedule)
    turns.before_call(time_left=120)
    turns.throttled()
    with pytest.raises(HandOffNeeded) as handed:
        turns.before_call(time_left=120)
    # it waited while it could, then handed the very booking on
    assert clock.now - START == pytest.approx(120 - HANDOFF_MARGIN, abs=INTERVAL)
    assert handed.value.booking == Booking(START + 500, 1, 0.0)
    # the successor waits for that slot, without booking again
    successor = pacer(clock, schedule)
    successor.begin(1, handed.value.booking)
    tat = schedule.tat
    while True:
        try:
            successor.before_call(time_left=120)
            break
        except HandOffNeeded as again:
            successor.begin(1, again.booking)
    assert clock.now == pytest.approx(START + 500)
    assert schedule.tat == tat


def test_a_slot_just_past_what_the_invocation_may_wait_is_handed_on_in_time_for_the_successor() -> None:
    # GIVEN a slot a few seconds further away than this invocation may wait for it
    clock, schedule = Clock(), Schedule(tat=START + 120 - HANDOFF_MARGIN + 3)
    turns = pacer(clock, schedule)
    turns.before_call(time_left=120)
    turns.throttled()
    # WHEN it waits
    with pytest.raises(HandOffNeeded) as handed:
        turns.before_call(time_left=120)
    # THEN it hands the wait on while the slot is still HANDOFF_LEAD away, not a second before it
    slot = START + 120 - HANDOFF_MARGIN + 3
    assert slot - clock.now >= HANDOFF_LEAD
    assert handed.value.wait == pytest.approx(slot - clock.now)


def test_invocations_shorter_than_the_lead_still_make_progress_on_a_wait() -> None:
    # GIVEN invocations that may wait only 8 s each (less than HANDOFF_LEAD), and a slot 9.5 s away
    clock, schedule = Clock(), Schedule(tat=START + 9.5)
    turns = pacer(clock, schedule)
    turns.before_call(time_left=HANDOFF_MARGIN + 8)
    turns.throttled()
    # WHEN each invocation waits, then hands on to the next
    hops = 0
    while True:
        try:
            turns.before_call(time_left=HANDOFF_MARGIN + 8)
            break
        except HandOffNeeded as handed:
            hops += 1
            assert hops < 10, f"handed round {hops} times, at {clock.now - START:.2f} s"
            turns = pacer(clock, schedule)
            turns.begin(1, handed.booking)
    # THEN the slot is reached in one hand-on, not handed round without waiting
    assert hops == 1
    assert clock.now == pytest.approx(START + 9.5)


def first_of_two_calls_done_then_pushed_far_back(*, changed: bool) -> tuple[Pacer, float]:
    """A two-call operation, throttled once, whose booked first call (at the time returned) succeeded,
    changing SES or only reading it; then another caller's throttles push the rest far back."""
    clock, schedule = Clock(), Schedule()
    turns = pacer(clock, schedule)
    turns.begin(2)
    turns.before_call(time_left=100)
    turns.throttled()
    turns.before_call(time_left=100)
    booked = clock.now
    turns.succeeded(changed=changed)
    schedule.push(200)
    return turns, booked


def test_after_a_change_an_operation_never_hands_on_and_fails_when_out_of_time() -> None:
    turns, _ = first_of_two_calls_done_then_pushed_far_back(changed=True)
    with pytest.raises(OutOfTimeError):
        turns.before_call(time_left=100)


def test_after_a_read_an_operation_hands_the_rest_of_its_booking_on() -> None:
    turns, booked = first_of_two_calls_done_then_pushed_far_back(changed=False)
    with pytest.raises(HandOffNeeded) as handed:
        turns.before_call(time_left=100)
    # the slot after the read's, one call long, as booked (the push is read from the schedule again)
    assert handed.value.booking == Booking(booked + INTERVAL, 1, 0.0)


def test_a_turn_past_the_events_deadline_fails_at_once() -> None:
    clock, schedule = Clock(), Schedule(tat=START + 4000)
    turns = pacer(clock, schedule)
    turns.begin(1, event_deadline=START + 3540)
    turns.before_call(time_left=120)
    turns.throttled()
    with pytest.raises(BookedTooLateError):
        turns.before_call(time_left=120)
    assert clock.slept == []


def test_an_unreachable_schedule_falls_back_to_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a schedule table the role cannot reach, and SES that throttles once
    def unreachable() -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "UpdateItem")

    clock = Clock()
    monkeypatch.setattr("cdk_ses_tracking_options.lambda_handler.pacing.random.uniform", lambda _a, _b: 0.5)
    ses = SesTracking(lambda: 100.0, pacer=Pacer(unreachable, clock=clock.time, sleep=clock.sleep))
    answers = iter([ClientError({"Error": {"Code": "Throttling", "Message": "x"}}, "Create"), {}])

    def create() -> Any:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    # WHEN a call is throttled, THEN it is retried after a pause, and SES's answer comes back
    assert ses._call("CreateConfigurationSetTrackingOptions", create, "marketing") == {}
    assert not ses.pacer.paced
    assert clock.slept == [0.5]
    # AND the next operation tries the schedule again
    ses.plan(1)
    assert ses.pacer.paced


def test_a_booking_handed_to_a_function_without_a_schedule_is_dropped() -> None:
    clock = Clock()
    turns = Pacer(None, clock=clock.time, sleep=clock.sleep, interval=INTERVAL)
    turns.begin(1, Booking(START + 500, 1, 0.0))
    turns.before_call(time_left=120)
    assert clock.slept == []


# --- The state a hand-on carries (handoff.py) --------------------------------------------------------


def test_a_hand_on_carries_its_booking_and_what_was_read() -> None:
    event = {
        PACING_KEY: {
            "firstSeen": START,
            "booking": [START + 60, 1, 2.1],
            "hops": 3,
            "reads": {"marketing": ["click.example.com", "REQUIRE"], "gone": None},
        }
    }
    state = carried(event)
    assert state == Carried(
        START, Booking(START + 60, 1, 2.1), 3, {"marketing": Current("click.example.com", "REQUIRE"), "gone": None}
    )
    # the key is removed: CloudFormation's event is passed on as it came
    assert event == {}


@pytest.mark.parametrize(
    "reads",
    [["marketing"], {"marketing": [1, None]}, {"marketing": ["click.example.com"]}, {"marketing": "click"}],
)
def test_malformed_carried_state_is_ignored_and_the_operation_starts_over(reads: object) -> None:
    state = carried({PACING_KEY: {"firstSeen": START, "booking": [START + 60, 1, 0.0], "hops": 1, "reads": reads}})
    # a fresh start: no booking, nothing read, hop 0
    assert (state.booking, state.hops, state.reads) == (None, 0, {})
