"""Scale figures: waves of Creates, Updates and Deletes at once, against SES at one call a second, in an
account whose concurrency quota is 10 (a new account's) and in one whose quota is 1,000 (the default).

Real (separate function processes, tests/scale.py): 200 resources in one stack, two stacks of 100, each
stack's provider with its own table, queue and event source mapping, deployed by CloudFormation's order.
Simulated (the provider's own code on a virtual clock, bench/simulation.py): 20 to two full stacks, and the
real sizes again, to check the simulation against the real runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from bench import simulation
from tests.cfn import ResponseEndpoint
from tests.iam_emulator import Account
from tests.loopback import reset_ses
from tests.scale import FIRST, SECOND, Figures, Scale
from tests.ses_emulator import SesEmulator, TokenBucket

WAVES = ("create", "update", "delete")
# The simulation's threads interleave differently from run to run: each simulated figure is the median of
# this many runs, with the range of the calls. Two stacks' Deletes vary most, too much for a median of 3
# (their range is in docs/PERFORMANCE.md); a run takes a few seconds.
SIMULATED_RUNS = 15
# A new account's concurrency quota, and the default one.
NEW_ACCOUNT, DEFAULT_QUOTA = 10, 1000


@dataclass(frozen=True)
class Row:
    size: str
    source: str
    quota: int
    wave: str
    resources: int
    succeeded: int
    seconds: float
    floor: float
    calls_per_resource: float
    peak_executions: int
    execution_seconds_per_resource: float
    dynamodb_per_resource: float
    sqs_per_resource: float
    holds: bool = True
    failures: tuple[str, ...] = ()
    # Simulated: the lowest and highest calls per resource of the runs.
    calls_range: tuple[float, float] | None = None

    def markdown(self) -> str:
        calls = f"{self.calls_per_resource:.2f}"
        if self.calls_range is not None and self.calls_range[0] != self.calls_range[1]:
            calls += f" ({self.calls_range[0]:.2f} to {self.calls_range[1]:.2f})"
        return (
            f"| {self.size} | {self.source} | {self.quota} | {self.wave} | {self.succeeded} of {self.resources} "
            f"| {self.seconds:.0f} | {self.floor:.0f} | {self.seconds / self.floor:.2f} | {calls} "
            f"| {self.peak_executions} | {self.execution_seconds_per_resource:.2f} "
            f"| {self.dynamodb_per_resource:.1f} | {self.sqs_per_resource:.1f} | {'yes' if self.holds else 'NO'} |"
        )


HEADER = (
    "| resources | run | concurrency quota | wave | succeeded | seconds | floor (s) | over floor "
    "| SES calls per resource | peak concurrent executions | execution-s per resource | DynamoDB requests per resource "
    "| SQS requests per resource | SES holds what was asked |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def size_name(stacks: int, per_stack: int) -> str:
    return str(per_stack) if stacks == 1 else f"{stacks}x{per_stack}"


def _row(size: str, source: str, quota: int, wave: str, figures: Figures, holds: bool) -> Row:
    return Row(
        size,
        source,
        quota,
        wave,
        figures.resources,
        figures.succeeded,
        figures.seconds,
        figures.floor,
        figures.calls_per_resource,
        figures.peak_executions,
        figures.execution_seconds_per_resource,
        figures.dynamodb_per_resource,
        figures.sqs_per_resource,
        holds,
        figures.failures,
    )


def real(
    ses: SesEmulator, endpoint: ResponseEndpoint, work: Path, stacks: int, per_stack: int, *, quota: int
) -> list[Row]:
    """The three waves in the real harness, with Lambda's and SQS's documented times. Each provider starts
    with two environments initialized (the event source mapping's MaximumConcurrency), as the deploy of the
    provider itself and earlier waves leave them: on Lambda each initializes on hardware of its own in about
    a second, here a cold start shares two cores with everything else."""
    reset_ses(ses)
    scale = Scale(
        ses,
        endpoint,
        Account(ses.endpoint),
        work / f"scale-{stacks}x{per_stack}-quota{quota}",
        stacks=stacks,
        per_stack=per_stack,
        quota=quota,
    )
    rows = []
    try:
        scale.prepare(prestart=2)
        ses.middleware.bucket = TokenBucket(rate=1.0)
        for wave, domain in zip(WAVES, (FIRST, SECOND, None), strict=True):
            figures = getattr(scale, wave)()
            rows.append(_row(size_name(stacks, per_stack), "real", quota, wave, figures, scale.holds(domain)))
    finally:
        ses.middleware.bucket = None
        scale.close()
    return rows


def simulated(stacks: int, per_stack: int, *, quota: int, runs: int = SIMULATED_RUNS) -> list[Row]:
    """Each wave's median over `runs` simulations (the fewest successes of any run), with the calls' range."""
    results = [simulation.run(stacks, per_stack, quota=quota) for _ in range(runs)]
    rows = []
    for wave in WAVES:
        figures = [result[wave] for result in results]

        def median(key: str, figures: list[dict[str, float]] = figures) -> float:
            return statistics.median(figure[key] for figure in figures)

        calls = [figure["calls_per_resource"] for figure in figures]
        rows.append(
            Row(
                size_name(stacks, per_stack),
                f"simulated, median of {runs}",
                quota,
                wave,
                int(figures[0]["resources"]),
                int(min(figure["succeeded"] for figure in figures)),
                median("seconds"),
                median("floor"),
                median("calls_per_resource"),
                int(max(figure["peak_executions"] for figure in figures)),
                median("execution_seconds_per_resource"),
                median("dynamodb_per_resource"),
                median("sqs_per_resource"),
                failures=tuple(
                    f"answered twice: {int(figure['answered_twice'])}" for figure in figures if figure["answered_twice"]
                ),
                calls_range=(min(calls), max(calls)),
            )
        )
    return rows


def agreement(real_rows: list[Row], simulated_rows: list[Row]) -> list[str]:
    """How far the simulation is from the real run, wave by wave, on time and calls."""
    lines = []
    for r, s in zip(real_rows, simulated_rows, strict=True):
        time_gap = abs(s.seconds - r.seconds) / r.seconds
        calls_gap = abs(s.calls_per_resource - r.calls_per_resource) / r.calls_per_resource
        met = "yes" if time_gap <= 0.15 and calls_gap <= 0.15 else "NO"
        lines.append(f"| {r.size} | {r.quota} | {r.wave} | {time_gap:.1%} | {calls_gap:.1%} | {met} |")
    return lines
