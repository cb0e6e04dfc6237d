"""Scale beyond what runs as processes here: the provider's own code (entry.py and worker.py, with Lifecycle,
SesTracking and Turns under them) driven against SES allowing one call a second, on a simulated clock.

Each invocation is a thread whose sleeps advance a virtual clock: when every thread is asleep, the clock jumps
to the earliest wake-up. SES is a token bucket (one call a second, burst one) behind fake boto3 clients that
answer as SES does. Each provider's table is an in-memory store with DynamoStore's semantics, its queue a FIFO
queue of one message group with SQS's visibility timeouts and deduplication, drained by an event source mapping
(batches of 10, one in flight for the group, retried while throttled); Lambda runs CloudFormation's events
asynchronously within the account's concurrency, retrying throttled ones as it documents. Only I/O is
replaced: every decision is the provider's.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from cdk_ses_tracking_options.lambda_handler import entry, worker
from cdk_ses_tracking_options.lambda_handler.budget import FUNCTION_TIMEOUT, INTERVAL, QUEUE_VISIBILITY, SERVICE_TIMEOUT
from cdk_ses_tracking_options.lambda_handler.entry import Invocation
from cdk_ses_tracking_options.lambda_handler.environment import Environment
from cdk_ses_tracking_options.lambda_handler.operation import Operation
from cdk_ses_tracking_options.lambda_handler.ownership import Ownership, SetOwnership
from cdk_ses_tracking_options.lambda_handler.pacing import LaneState
from cdk_ses_tracking_options.lambda_handler.ses import SesClients
from cdk_ses_tracking_options.lambda_handler.store import Answer, Claim, Found
from tests.lambda_runtime import LambdaTimes

# A real epoch, as the function's clock has: the schedule stores absolute times.
EPOCH = 1_796_000_000.0
# Virtual seconds an SES call and a table or queue request take; a warm invocation's own overhead and a cold
# start (an execution environment initializing); the event source mapping's polling of an idle queue.
CALL_LATENCY = 0.03
STORE_LATENCY = 0.01
INVOCATION_OVERHEAD = 0.02
COLD_START = 1.0
POLL_INTERVAL = 0.2


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

    def client(self, v2: bool) -> Any:
        ses = self

        class Client:
            def __getattr__(self, operation: str) -> Callable[..., Any]:
                def call(**kwargs: Any) -> Any:
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


class MemoryStore:
    """DynamoStore's semantics (lambda_handler/store.py), in memory: each call atomic, each STORE_LATENCY long."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._requests: dict[str, dict[str, Any]] = {}
        self._owners: dict[str, Ownership | None] = {}
        self._lane: dict[str, Any] = {}
        # The lane's marks of cancelled Creates: logical id, the Delete's time.
        self._cancelled: dict[str, float] = {}
        self.operations = 0

    def _io(self) -> None:
        self._clock.sleep(STORE_LATENCY)
        self.operations += 1

    def claim(self, operation: Operation, holder: str, lease: float, now: float) -> Claim:
        self._io()
        with self._lock:
            item = self._requests.get(operation.request_id)
            if item is None:
                self._requests[operation.request_id] = {
                    "op": operation,
                    "holder": holder,
                    "lease": lease,
                    "state": "running",
                }
                return Claim(Found.OURS, operation)
            return self._settle(item, holder, lease, now, take_queued=False)

    def take(self, request_id: str, holder: str, lease: float, now: float) -> Claim:
        self._io()
        with self._lock:
            item = self._requests.get(request_id)
            if item is None:
                return Claim(Found.MISSING)
            if item.get("holder") == holder and item["state"] == "running":
                return Claim(Found.OURS, item["op"])
            return self._settle(item, holder, lease, now, take_queued=True)

    def _settle(self, item: dict[str, Any], holder: str, lease: float, now: float, *, take_queued: bool) -> Claim:
        if item["state"] == "answered":
            return Claim(Found.ANSWERED, item["op"], item["answer"], item.get("delivered", False), item["lease"])
        if item["state"] == "queued" and not take_queued:
            return Claim(Found.QUEUED)
        if item["state"] == "running" and item["lease"] > now:
            return Claim(Found.BUSY, until=item["lease"])
        stored: Operation = item["op"]
        taken = (stored if item["state"] == "queued" else stored.taken_over()).stored()
        item.update(op=taken, holder=holder, lease=lease, state="running")
        return Claim(Found.OURS, taken)

    def save(self, operation: Operation, holder: str, *, queued: bool) -> Operation | None:
        self._io()
        with self._lock:
            item = self._requests[operation.request_id]
            if item.get("holder") != holder or item["op"].version != operation.version:
                return None
            stored = operation.stored()
            item["op"] = stored
            if queued:
                item.update(state="queued", holder=None)
            return stored

    def answer(
        self,
        operation: Operation,
        holder: str,
        answer: Answer,
        *,
        recorded: SetOwnership | None = None,
        releasing: LaneState | None = None,
        cancelling: tuple[str, float] | None = None,
        now: float = 0,
    ) -> bool:
        self._io()
        with self._lock:
            if releasing is not None and self._lane.get("holder") == holder:
                self._lane.update(holder=None, until=now, state=releasing)
            item = self._requests[operation.request_id]
            if item.get("holder") != holder:
                return False
            item.update(state="answered", answer=answer, op=operation)
            if cancelling is not None:
                self._cancelled[cancelling[0]] = cancelling[1]
            if recorded is not None:
                self._owners[recorded.set_name] = recorded.ownership
            return True

    def ownership(self, set_name: str) -> Ownership | None:
        self._io()
        with self._lock:
            return self._owners.get(set_name)

    def delivered(self, request_id: str) -> None:
        self._io()
        with self._lock:
            self._requests[request_id]["delivered"] = True

    def expire(self, request_id: str, holder: str, now: float) -> None:
        self._io()
        with self._lock:
            item = self._requests[request_id]
            if item.get("holder") == holder and item["state"] == "running":
                item["lease"] = now

    def take_lane(self, holder: str, now: float, until: float) -> LaneState | float:
        self._io()
        with self._lock:
            lane = self._lane
            if lane.get("holder") not in (None, holder) and lane["until"] >= now:
                return float(lane["until"])
            lane.update(holder=holder, until=until)
            state: LaneState = lane.get("state", LaneState())
            return dataclasses.replace(state, cancelled=tuple(self._cancelled.items()))

    def cancel(self, logical_id: str, at: float) -> None:
        self._io()
        with self._lock:
            self._cancelled[logical_id] = at

    def release_lane(self, holder: str, state: LaneState, now: float) -> None:
        self._io()
        with self._lock:
            if self._lane.get("holder") == holder:
                self._lane.update(holder=None, until=now, state=state)


@dataclass
class _Message:
    id: str
    request_id: str
    visible_at: float
    receipt: str = ""
    received: int = 0


class MemoryQueue:
    """SQS's FIFO semantics for one message group: in order, the group held while a message of it is in flight,
    a message shown again at its visibility timeout, deduplication ids remembered for 5 minutes."""

    def __init__(self, clock: VirtualClock, visibility: float) -> None:
        self._clock = clock
        self._visibility = visibility
        self._lock = threading.Lock()
        self._messages: list[_Message] = []
        self._deduplicated: dict[str, float] = {}
        self._ids = itertools.count()
        self.requests = 0  # the function's: sends and visibility changes

    def send(self, request_id: str) -> None:
        self._clock.sleep(STORE_LATENCY)
        self.requests += 1
        with self._lock:
            now = self._clock.now()
            if now - self._deduplicated.get(request_id, -1e9) < 300:
                return
            self._deduplicated[request_id] = now
            self._messages.append(_Message(f"m{next(self._ids)}", request_id, now))

    def delay(self, receipt_handle: str, seconds: int) -> None:
        self._clock.sleep(STORE_LATENCY)
        self.requests += 1
        with self._lock:
            for message in self._messages:
                if message.receipt == receipt_handle:
                    message.visible_at = self._clock.now() + seconds

    def receive(self, count: int) -> list[_Message]:
        with self._lock:
            now = self._clock.now()
            if any(m.visible_at > now and m.received for m in self._messages):
                return []  # the group has a message in flight
            batch = [m for m in self._messages if m.visible_at <= now][:count]
            for message in batch:
                message.received += 1
                message.receipt = f"{message.id}/{message.received}"
                message.visible_at = now + self._visibility
            return batch

    def delete(self, messages: list[_Message]) -> None:
        with self._lock:
            gone = {m.receipt for m in messages}
            self._messages = [m for m in self._messages if m.receipt not in gone]

    def __len__(self) -> int:
        return len(self._messages)


class Throttled(Exception):  # noqa: N818 - Lambda's 429
    pass


class Lambda:
    """The account's concurrency, with Lambda's documented retries of throttled asynchronous events."""

    def __init__(self, clock: VirtualClock, quota: int) -> None:
        self.clock = clock
        self.quota = quota
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.seconds = 0.0
        self.invocations = 0
        self.environments = 0
        self._warm = 0
        self._times = LambdaTimes()

    def reset(self) -> None:
        self.peak, self.seconds, self.invocations = self.active, 0.0, 0

    def run(self, work: Callable[[Callable[[], float]], Any]) -> Any:
        """One invocation; raises Throttled at the quota."""
        with self._lock:
            if self.active >= self.quota:
                raise Throttled
            self.active += 1
            self.peak = max(self.peak, self.active)
            cold = self._warm == 0
            if cold:
                self.environments += 1
            else:
                self._warm -= 1
        started = self.clock.now()
        try:
            self.clock.sleep(COLD_START if cold else INVOCATION_OVERHEAD)
            deadline = started + FUNCTION_TIMEOUT
            return work(lambda: deadline - self.clock.now())
        finally:
            with self._lock:
                self.active -= 1
                self._warm += 1
                self.seconds += self.clock.now() - started
                self.invocations += 1

    def invoke_async(self, work: Callable[[Callable[[], float]], Any]) -> None:
        def deliver() -> None:
            attempt = 0
            while True:
                try:
                    self.run(work)
                except Throttled:
                    attempt += 1
                    self.clock.sleep(self._times.throttled(attempt))
                    continue
                return

        self.clock.spawn(deliver)


class Mapping:
    """One queue's event source mapping: batches of 10, one in flight (one message group), polled every
    POLL_INTERVAL, retried while throttled."""

    def __init__(self, clock: VirtualClock, queue: MemoryQueue, lambda_: Lambda, handle: Callable[..., Any]) -> None:
        self.clock, self.queue, self.lambda_, self.handle = clock, queue, lambda_, handle
        self.stopped = False
        self.batches = 0

    def poll(self) -> None:
        while not self.stopped:
            batch = self.queue.receive(10)
            if not batch:
                self.clock.sleep(POLL_INTERVAL)
                continue
            self.batches += 1
            records = [
                {"messageId": m.id, "receiptHandle": m.receipt, "body": json.dumps({"requestId": m.request_id})}
                for m in batch
            ]
            result = self._invoke(records)
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            self.queue.delete([m for m in batch if m.id not in failed])

    def _invoke(self, records: list[dict[str, Any]]) -> Any:
        pause = 0.1
        while True:
            try:
                return self.lambda_.run(lambda time_left: self.handle(records, time_left))
            except Throttled:
                self.clock.sleep(pause)
                pause = min(pause * 2, 5.0)


@dataclass
class StackSim:
    """One stack's provider: its table, queue and mapping, seen by no other stack."""

    env: Environment
    store: MemoryStore
    queue: MemoryQueue
    mapping: Mapping
    events: list[dict[str, Any]]


class Simulation:
    """Waves of CloudFormation events from one or more stacks, against one SES and one account's concurrency."""

    def __init__(self, quota: int, ses_rate: float = 1.0) -> None:
        self.clock = VirtualClock()
        self.ses = FakeSes(self.clock, rate=ses_rate)
        self.lambda_ = Lambda(self.clock, quota)
        self.answers: dict[str, tuple[Answer, float]] = {}
        self.sent: dict[str, int] = {}
        self._lock = threading.Lock()
        self._holders = itertools.count()

    def stack(self) -> StackSim:
        store = MemoryStore(self.clock)
        queue = MemoryQueue(self.clock, QUEUE_VISIBILITY)
        env = Environment(
            store=store,
            queue=queue,
            ses=SesClients(make=lambda service: self.ses.client(service == "sesv2")),
            interval=INTERVAL,
            clock=self.clock.now,
            sleep=self.clock.sleep,
        )
        holder: dict[str, StackSim] = {}

        def handle(records: list[dict[str, Any]], time_left: Callable[[], float]) -> Any:
            return worker.serve(records, self._invocation(time_left), env, self._send)

        made = StackSim(env, store, queue, Mapping(self.clock, queue, self.lambda_, handle), [])
        holder["stack"] = made
        return made

    def _invocation(self, time_left: Callable[[], float]) -> Invocation:
        return Invocation(f"holder-{next(self._holders)}", time_left, self._send)

    def _send(self, event: MappingType[str, Any], answer: Answer) -> None:
        with self._lock:
            self.sent[str(event["RequestId"])] = self.sent.get(str(event["RequestId"]), 0) + 1
            self.answers.setdefault(str(event["RequestId"]), (answer, self.clock.now()))

    def _deliver(self, stack: StackSim, event: dict[str, Any]) -> None:
        def work(time_left: Callable[[], float]) -> None:
            answer = entry.serve(event, self._invocation(time_left), stack.env)
            if answer is not None:
                self._send(event, answer)

        self.lambda_.invoke_async(work)

    def wave(self, stacks: list[StackSim]) -> dict[str, float]:
        """Send every stack's events at once; the figures of the wave."""
        self.answers.clear()
        self.sent.clear()
        self.ses.calls.clear()
        self.ses.throttled.clear()
        self.lambda_.reset()
        for stack in stacks:
            stack.store.operations = stack.queue.requests = 0
        started = self.clock.now()
        self.clock.hold()
        for stack in stacks:
            stack.mapping.stopped = False
            self.clock.spawn(stack.mapping.poll)
            for request in stack.events:
                self._deliver(stack, request)
        self.clock.release()
        total = sum(len(stack.events) for stack in stacks)
        ids = {str(e["RequestId"]) for stack in stacks for e in stack.events}

        def done() -> None:
            while not ids <= set(self.answers):
                self.clock.sleep(1.0)
            for stack in stacks:
                stack.mapping.stopped = True

        self.clock.spawn(done)
        self.clock.wait_idle()
        succeeded = sum(1 for answer, _ in self.answers.values() if answer.status == "SUCCESS")
        calls = sum(self.ses.calls.values())
        passed = calls - sum(self.ses.throttled.values())
        elapsed = max(at for _, at in self.answers.values()) - started
        return {
            "resources": total,
            "succeeded": succeeded,
            "answered_twice": sum(1 for n in self.sent.values() if n > 1),
            "seconds": elapsed,
            "floor": passed / self.ses.rate,
            "over_floor": elapsed / (passed / self.ses.rate),
            "calls_per_resource": calls / total,
            "peak_executions": self.lambda_.peak,
            "execution_seconds_per_resource": self.lambda_.seconds / total,
            "invocations": self.lambda_.invocations,
            "batches": sum(stack.mapping.batches for stack in stacks),
            "dynamodb_per_resource": sum(stack.store.operations for stack in stacks) / total,
            "sqs_per_resource": sum(stack.queue.requests for stack in stacks) / total,
        }


def tenants(stack_index: int, count: int) -> list[str]:
    return [f"tenant{stack_index}-{index:03d}" for index in range(count)]


def _event(request_type: str, stack: int, name: str, domain: str, now: float, old: str | None = None) -> dict[str, Any]:
    """A CloudFormation event as the provider reads it, its ResponseURL signed `now` (it is never called:
    answers are recorded)."""
    signed = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    made: dict[str, Any] = {
        "RequestType": request_type,
        "RequestId": str(uuid.uuid4()),
        "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/Tenants{stack}/{uuid.uuid4()}",
        "LogicalResourceId": f"Tracking{name.replace('-', '')}",
        "ResponseURL": f"https://example.com/response?X-Amz-Date={signed}",
        "ResourceType": "Custom::SesTrackingOptions",
        "ResourceProperties": {
            "ServiceTimeout": str(SERVICE_TIMEOUT),
            "ConfigurationSetName": name,
            "CustomRedirectDomain": domain,
        },
    }
    if request_type != "Create":
        made["PhysicalResourceId"] = f"ses-tracking-options/{name}"
    if old is not None:
        made["OldResourceProperties"] = {**made["ResourceProperties"], "CustomRedirectDomain": old}
    return made


def run(stacks: int, per_stack: int, *, quota: int = 1000) -> dict[str, dict[str, float]]:
    """Create, update and delete `per_stack` TrackingOptions in each of `stacks` stacks, each wave at once."""
    sim = Simulation(quota)
    names = [tenants(s, per_stack) for s in range(stacks)]
    for group in names:
        for name in group:
            sim.ses.sets[name] = {}
    made = [sim.stack() for _ in range(stacks)]
    first, second = "click.example.com", "links.example.com"

    def holds(options: dict[str, str]) -> None:
        assert all(sim.ses.sets[name] == options for group in names for name in group)

    figures = {}
    for index, stack in enumerate(made):
        stack.events = [_event("Create", index, name, first, sim.clock.now()) for name in names[index]]
    figures["create"] = sim.wave(made)
    holds({"CustomRedirectDomain": first})
    for index, stack in enumerate(made):
        stack.events = [_event("Update", index, name, second, sim.clock.now(), old=first) for name in names[index]]
    figures["update"] = sim.wave(made)
    holds({"CustomRedirectDomain": second})
    for index, stack in enumerate(made):
        stack.events = [_event("Delete", index, name, second, sim.clock.now()) for name in names[index]]
    figures["delete"] = sim.wave(made)
    holds({})
    return figures


if __name__ == "__main__":
    import sys

    # python -m bench.simulation [resources per stack [stacks [quota]]]
    per_stack, stacks, quota = (sys.argv[1:] + ["50", "1", "1000"][len(sys.argv) - 1 :])[:3]
    for wave, figure in run(int(stacks), int(per_stack), quota=int(quota)).items():
        print(wave, {k: round(v, 2) for k, v in figure.items()})
