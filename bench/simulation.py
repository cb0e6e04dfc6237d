"""Scale beyond what runs as processes here: the provider's own code (TrackingOptionsProvider, SesTracking,
Pacer, the hand-on decision) driven against SES allowing one call a second, on a simulated clock.

Each invocation is a thread whose sleeps advance a virtual clock: when every thread is asleep, the clock
jumps to the earliest wake-up. SES is a token bucket (one call a second, burst one) behind fake boto3
clients that answer as SES does; each provider's schedule is an in-memory store with the semantics of
its DynamoDB item. Only I/O is replaced: every decision is the provider's.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from cdk_ses_tracking_options.lambda_handler.errors import ProviderError
from cdk_ses_tracking_options.lambda_handler.handoff import Carried
from cdk_ses_tracking_options.lambda_handler.pacing import INTERVAL, HandOffNeeded, Pacer
from cdk_ses_tracking_options.lambda_handler.properties import TrackingProps
from cdk_ses_tracking_options.lambda_handler.provider import TrackingOptionsProvider
from cdk_ses_tracking_options.lambda_handler.ses import ATTEMPT_BUDGET, DeadlineExceededError, SesTracking

# A real epoch, as the function's clock has: the schedule stores absolute times.
EPOCH = 1_796_000_000.0
FUNCTION_TIMEOUT = 120.0
SERVICE_TIMEOUT = 3600.0
# Virtual seconds an SES call, a schedule read or write, and a hand-on (a fresh invocation) take.
CALL_LATENCY = 0.03
STORE_LATENCY = 0.01
HANDOFF_LATENCY = 0.5


class VirtualClock:
    """Time advances only when every running thread sleeps."""

    def __init__(self) -> None:
        self._now = EPOCH
        self._cond = threading.Condition()
        self._running = 0
        self._sleepers: list[tuple[float, int, threading.Event]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def hold(self) -> None:
        """Keep time still while the caller, not a clock thread, starts threads."""
        with self._cond:
            self._running += 1

    def release(self) -> None:
        with self._cond:
            self._running -= 1
            self._advance()

    def spawn(self, work: Callable[[], None]) -> None:
        with self._cond:
            self._running += 1

        def run() -> None:
            try:
                work()
            finally:
                with self._cond:
                    self._running -= 1
                    self._advance()

        threading.Thread(target=run, daemon=True).start()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        woken = threading.Event()
        with self._cond:
            heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), woken))
            self._running -= 1
            self._advance()
        woken.wait()

    def _advance(self) -> None:
        if self._running or not self._sleepers:
            if not self._running and not self._sleepers:
                self._cond.notify_all()
            return
        self._now = max(self._now, self._sleepers[0][0])
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, woken = heapq.heappop(self._sleepers)
            self._running += 1
            woken.set()

    def wait_idle(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._running == 0 and not self._sleepers)


class MemorySchedule:
    """The DynamoDB item's semantics (schedule.py), in memory: atomic book, read and push."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tat: float | None = None
        self._shift = 0.0
        self.operations = 0

    def book(self, now: float, length: float) -> tuple[float, float]:
        self._clock.sleep(STORE_LATENCY)
        with self._lock:
            self.operations += 1
            start = self._tat if self._tat is not None and self._tat >= now else now
            self._tat = start + length
            return start, self._shift

    def shift(self) -> float:
        self._clock.sleep(STORE_LATENCY)
        with self._lock:
            self.operations += 1
            return self._shift

    def push(self, seconds: float) -> None:
        self._clock.sleep(STORE_LATENCY)
        with self._lock:
            self.operations += 1
            self._tat = (self._tat or 0.0) + seconds
            self._shift += seconds

    def claim(self, request_id: str, hop: int, now: float) -> bool:
        # The simulation delivers each hand-on once.
        return True


def _error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "op")


@dataclass
class FakeSes:
    """SES's tracking-options calls on one shared token bucket; options per set; every call counted."""

    clock: VirtualClock
    rate: float = 1.0
    sets: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    _tokens: float = 1.0
    _stamp: float = EPOCH
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _take(self, name: str, v2: bool) -> None:
        self.clock.sleep(CALL_LATENCY)
        with self._lock:
            now = self.clock.now()
            self._tokens = min(1.0, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self.calls[name] += 1
            if self._tokens < 1:
                self.throttled[name] += 1
                raise _error("TooManyRequestsException" if v2 else "Throttling", 429 if v2 else 400)
            self._tokens -= 1

    def client(self, time_left: Callable[[], float], v2: bool) -> Any:
        ses = self

        class Client:
            def __getattr__(self, operation: str) -> Callable[..., Any]:
                def call(**kwargs: Any) -> Any:
                    if time_left() < ATTEMPT_BUDGET:
                        raise DeadlineExceededError
                    name = kwargs["ConfigurationSetName"]
                    ses._take(name, v2)
                    return getattr(ses, operation)(name, kwargs)

                return call

        return Client()

    def create_configuration_set_tracking_options(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.sets[name]:
            raise _error("TrackingOptionsAlreadyExistsException")
        self.sets[name] = {"CustomRedirectDomain": kwargs["TrackingOptions"]["CustomRedirectDomain"]}
        return {}

    def update_configuration_set_tracking_options(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if not self.sets[name]:
            raise _error("TrackingOptionsDoesNotExistException")
        self.sets[name] = {**self.sets[name], "CustomRedirectDomain": kwargs["TrackingOptions"]["CustomRedirectDomain"]}
        return {}

    def delete_configuration_set_tracking_options(self, name: str, _kwargs: dict[str, Any]) -> dict[str, Any]:
        if not self.sets[name]:
            raise _error("TrackingOptionsDoesNotExistException")
        self.sets[name] = {}
        return {}

    def get_configuration_set(self, name: str, _kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"TrackingOptions": dict(self.sets[name])} if self.sets[name] else {}

    def put_configuration_set_tracking_options(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.sets[name] = {k: kwargs[k] for k in ("CustomRedirectDomain", "HttpsPolicy") if k in kwargs}
        return {}


@dataclass(frozen=True)
class Request:
    """One CloudFormation event, reduced to what the provider reads."""

    kind: str  # Create, Update or Delete
    props: TrackingProps
    old: TrackingProps | None = None
    physical_id: str = ""


@dataclass
class Outcome:
    status: str
    answered_at: float
    reason: str = ""
    hops: int = 0


@dataclass
class Stack:
    """One stack's provider: its own schedule, which no other stack's provider sees."""

    schedule: MemorySchedule
    requests: list[Request]


class Simulation:
    """Waves of events from one or more stacks, each event in its own invocation."""

    def __init__(
        self, ses_rate: float = 1.0, interval: float = INTERVAL, *, paced: bool = True, spread: float = 0.0
    ) -> None:
        self.paced = paced
        self.spread = spread
        self.clock = VirtualClock()
        self.ses = FakeSes(self.clock, rate=ses_rate)
        self.interval = interval
        self.outcomes: dict[tuple[int, str], Outcome] = {}
        self._lock = threading.Lock()

    def invoke(self, stack_index: int, stack: Stack, request: Request, state: Carried) -> None:
        """One invocation: as index.py runs the provider, handing on or answering."""
        deadline = self.clock.now() + FUNCTION_TIMEOUT

        def time_left() -> float:
            return deadline - self.clock.now()

        # Unpaced, the provider retries throttled calls after random pauses (version 0.1's strategy).
        store = (lambda: stack.schedule) if self.paced else None
        pacer = Pacer(store, clock=self.clock.now, sleep=self.clock.sleep, interval=self.interval)
        ses = SesTracking(time_left, pacer=pacer)
        ses.__dict__["_v1"] = self.ses.client(time_left, v2=False)
        ses.__dict__["_v2"] = self.ses.client(time_left, v2=True)
        ses.resume(state.booking, state.event_deadline({"ServiceTimeout": str(SERVICE_TIMEOUT)}), state.reads)
        provider = TrackingOptionsProvider(ses)
        try:
            if request.kind == "Create":
                provider.create(request.props)
            elif request.kind == "Update":
                provider.update(request.physical_id, request.props, request.old)
            else:
                provider.delete(request.physical_id, request.props)
            outcome = Outcome("SUCCESS", self.clock.now(), hops=state.hops)
        except HandOffNeeded as wait:
            handed = Carried(state.first_seen, wait.booking, state.hops + 1, ses.reads)

            def successor() -> None:
                self.clock.sleep(HANDOFF_LATENCY)
                self.invoke(stack_index, stack, request, handed)

            self.clock.spawn(successor)
            return
        except ProviderError as error:
            outcome = Outcome("FAILED", self.clock.now(), str(error), state.hops)
        with self._lock:
            self.outcomes[(stack_index, request.props.configuration_set_name)] = outcome

    def _start(self, delay: float, stack_index: int, stack: Stack, request: Request, state: Carried) -> None:
        self.clock.sleep(delay)
        self.invoke(stack_index, stack, request, state)

    def wave(self, stacks: list[Stack]) -> dict[str, float]:
        """Send every stack's requests at once; the figures of the wave."""
        self.outcomes.clear()
        self.ses.calls.clear()
        self.ses.throttled.clear()
        started = self.clock.now()
        # CloudFormation sends every independent resource's event at once.
        self.clock.hold()
        total = sum(len(stack.requests) for stack in stacks)
        for stack_index, stack in enumerate(stacks):
            for number, request in enumerate(stack.requests):
                # The n-th of N events starts n/N of the spread late, as cold starts queue for CPU.
                delay = self.spread * (number * len(stacks) + stack_index) / total
                self.clock.spawn(
                    functools.partial(self._start, delay, stack_index, stack, request, Carried(started, None, 0))
                )
        self.clock.release()
        self.clock.wait_idle()
        total = sum(len(stack.requests) for stack in stacks)
        succeeded = sum(1 for o in self.outcomes.values() if o.status == "SUCCESS")
        calls = sum(self.ses.calls.values())
        passed = calls - sum(self.ses.throttled.values())
        elapsed = max(o.answered_at for o in self.outcomes.values()) - started
        return {
            "resources": total,
            "succeeded": succeeded,
            "seconds": elapsed,
            "floor": passed / self.ses.rate,
            "over_floor": elapsed / (passed / self.ses.rate),
            "calls_per_resource": calls / total,
            "max_calls_one_resource": max(self.ses.calls.values()),
            "max_hops": max(o.hops for o in self.outcomes.values()),
            "hand_ons": sum(o.hops for o in self.outcomes.values()),
        }


def tenants(stack_index: int, count: int) -> list[str]:
    return [f"tenant{stack_index}-{index:03d}" for index in range(count)]


def run(stacks: int, per_stack: int, *, paced: bool = True, spread: float = 0.0) -> dict[str, dict[str, float]]:
    """Create, update and delete `per_stack` TrackingOptions in each of `stacks` stacks, each wave at once
    (its invocations starting over `spread` seconds)."""
    sim = Simulation(paced=paced, spread=spread)
    names = [tenants(s, per_stack) for s in range(stacks)]
    for group in names:
        for name in group:
            sim.ses.sets[name] = {}
    schedules = [MemorySchedule(sim.clock) for _ in range(stacks)]
    first = [TrackingProps(name, "click.example.com") for group in names for name in group]
    second = [TrackingProps(p.configuration_set_name, "links.example.com") for p in first]
    pid = {p.configuration_set_name: f"ses-tracking-options/{p.configuration_set_name}" for p in first}

    def stacks_of(make: Callable[[TrackingProps, TrackingProps], Request]) -> list[Stack]:
        return [
            Stack(
                schedules[s],
                [make(a, b) for a, b in zip(first, second, strict=True) if a.configuration_set_name in names[s]],
            )
            for s in range(stacks)
        ]

    def holds(options: dict[str, str]) -> None:
        # Paced, SES must hold exactly what was asked; unpaced (the rejected strategy), failures leave it short.
        assert not paced or all(sim.ses.sets[p.configuration_set_name] == options for p in first)

    figures = {}
    figures["create"] = sim.wave(stacks_of(lambda a, _b: Request("Create", a)))
    holds({"CustomRedirectDomain": "click.example.com"})
    figures["update"] = sim.wave(
        stacks_of(lambda a, b: Request("Update", b, old=a, physical_id=pid[a.configuration_set_name]))
    )
    holds({"CustomRedirectDomain": "links.example.com"})
    figures["delete"] = sim.wave(
        stacks_of(lambda _a, b: Request("Delete", b, physical_id=pid[b.configuration_set_name]))
    )
    holds({})
    return figures


if __name__ == "__main__":
    import sys

    # python -m bench.simulation [resources per stack [stacks [seconds over which the invocations start]]]
    per_stack, stacks, spread = (sys.argv[1:] + ["50", "1", "0"][len(sys.argv) - 1 :])[:3]
    for wave, figure in run(int(stacks), int(per_stack), spread=float(spread)).items():
        print(wave, {k: round(v, 2) for k, v in figure.items()})
