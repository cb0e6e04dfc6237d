"""Many TrackingOptions at once wait for SES in their providers' queues: a fast version of the scale benchmark
(bench/), two stacks deployed, updated and deleted together by CloudFormation's order, with IAM enforced, in an
account whose concurrency quota is 10, against SES (and the provider's pacing) twice as fast as the real one.
It fails when the mechanism regresses; how fast it is, the benchmark measures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import iam_emulator
from tests.cfn import ResponseEndpoint
from tests.iam_emulator import Account
from tests.lambda_runtime import LambdaTimes
from tests.scale import FIRST, SECOND, Figures, Scale
from tests.ses_emulator import SesEmulator, TokenBucket

pytestmark = pytest.mark.slow

# Twice SES's real rate: faster still, two loaded cores' scheduling jitter costs throttled calls that SES's real
# rate does not see.
RATE = 2.0
# The bounds the design is held to, throttled calls included (0.1's random retries made 25 to 80 calls; holding
# an execution through each wait cost 160 to 242 execution-seconds per resource).
MAX_CALLS_PER_RESOURCE = 4
MAX_EXECUTION_SECONDS_PER_RESOURCE = 5
QUOTA = 10


@pytest.fixture
def scale(ses: SesEmulator, endpoint: ResponseEndpoint, tmp_path: Path) -> Iterator[Scale]:
    # GIVEN two stacks of 10, whose providers cannot see each other, sharing SES at 2 calls a second, each pacing
    # at that rate, in an account that runs at most 10 executions at once
    made = Scale(
        ses,
        endpoint,
        Account(ses.endpoint),
        tmp_path,
        stacks=2,
        per_stack=10,
        rate=RATE,
        quota=QUOTA,
        # The same 50 ms of slack per call as at SES's real rate (1.05 s for one call a second).
        interval=1 / RATE + 0.05,
        # Lambda's retries a twentieth as long as documented, and a failed batch back in 20 s, not 6 minutes.
        times=LambdaTimes(0.05),
        queue_visibility=20.0,
    )
    with iam_emulator.enforced():
        made.prepare()
        ses.middleware.bucket = TokenBucket(rate=RATE)
        yield made
    ses.middleware.bucket = None
    made.close()


def test_twenty_resources_in_two_stacks_wait_in_their_queues_with_few_executions(scale: Scale) -> None:
    batches = 0
    waves: list[tuple[str, Callable[[], Figures], str | None]] = [
        ("create", scale.create, FIRST),
        ("update", scale.update, SECOND),
        ("delete", scale.delete, None),
    ]
    for name, wave, domain in waves:
        # WHEN every resource's event arrives at once
        figures = wave()
        print(
            f"\n{name}: {figures.succeeded}/{figures.resources}, {figures.over_floor:.2f}x the floor, "
            f"{figures.calls_per_resource:.2f} calls, {figures.execution_seconds_per_resource:.2f} execution-s and "
            f"{figures.invocations} invocations, peak {figures.peak_executions}"
        )
        # THEN every event succeeds once, SES holds exactly what it should, and the wave took little
        assert figures.failures == (), (name, figures.failures)
        assert figures.succeeded == figures.resources, (name, figures)
        assert scale.holds(domain), name
        assert figures.calls_per_resource <= MAX_CALLS_PER_RESOURCE, (name, figures)
        assert figures.peak_executions <= QUOTA, (name, figures)
        assert figures.execution_seconds_per_resource <= MAX_EXECUTION_SECONDS_PER_RESOURCE, (name, figures)
        batches += sum(stack.batches for stack in scale.stacks)
    # AND the waits went through the queues
    assert batches > 0
    for stack in scale.stacks:
        answers = [a.request_id for a in stack.custom_answers()]
        assert len(answers) == len(set(answers)), "an event was answered twice"
