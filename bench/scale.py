"""Scale figures: waves of Creates, Updates and Deletes at once, against SES at one call a second.

Real (separate function processes, tests/scale.py): 200 resources in one stack, two stacks of 100.
Simulated (the provider's own code on a virtual clock, bench/simulation.py): 20 to two stacks of 500,
and the real sizes again, to check the simulation against the real runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from bench import simulation
from tests.cfn import ResponseEndpoint
from tests.loopback import reset_ses
from tests.scale import FIRST, SECOND, Scale
from tests.ses_emulator import SesEmulator, TokenBucket

WAVES = ("create", "update", "delete")
# The simulation's threads interleave differently from run to run (the two-stack waves most): each
# simulated figure is the median of this many runs, with their range.
SIMULATED_RUNS = 5


@dataclass(frozen=True)
class Row:
    size: str
    source: str
    wave: str
    resources: int
    succeeded: int
    seconds: float
    floor: float
    calls_per_resource: float
    handed_on: int
    holds: bool = True
    failures: tuple[str, ...] = ()
    # Simulated: the lowest and highest calls per resource of the runs.
    calls_range: tuple[float, float] | None = None

    def markdown(self) -> str:
        calls = f"{self.calls_per_resource:.2f}"
        if self.calls_range is not None:
            calls += f" ({self.calls_range[0]:.2f} to {self.calls_range[1]:.2f})"
        return (
            f"| {self.size} | {self.source} | {self.wave} | {self.succeeded} of {self.resources} "
            f"| {self.seconds:.0f} | {self.floor:.0f} | {self.seconds / self.floor:.2f} "
            f"| {calls} | {self.handed_on} | {'yes' if self.holds else 'NO'} |"
        )


HEADER = (
    "| resources | run | wave | succeeded | seconds | floor (s) | over floor | SES calls per resource | hand-ons "
    "| SES holds what was asked |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def size_name(stacks: int, per_stack: int) -> str:
    return str(per_stack) if stacks == 1 else f"{stacks}x{per_stack}"


def real(
    ses: SesEmulator,
    endpoint: ResponseEndpoint,
    work: Path,
    stacks: int,
    per_stack: int,
    *,
    prestart: bool = True,
    waves: tuple[str, ...] = WAVES,
) -> list[Row]:
    """The waves in the real harness; with `prestart`, every execution environment initialized first (on
    Lambda each initializes on hardware of its own in about a second; here hundreds share two cores)."""
    reset_ses(ses)
    label = "" if prestart else "-cold"
    scale = Scale(ses, endpoint, work / f"scale-{stacks}x{per_stack}{label}", stacks=stacks, per_stack=per_stack)
    if prestart:
        scale.prestart()
    ses.middleware.bucket = TokenBucket(rate=1.0)
    rows = []
    try:
        for wave, domain in zip(WAVES, (FIRST, SECOND, None), strict=True):
            if wave not in waves:
                continue
            figures, answers = getattr(scale, wave)()
            failures = tuple(
                f"{answer.status}: {answer.reason}" if answer else "no answer"
                for answer in answers
                if answer is None or answer.status != "SUCCESS"
            )
            rows.append(
                Row(
                    size_name(stacks, per_stack),
                    "real" if prestart else "real, cold",
                    wave,
                    figures.resources,
                    figures.succeeded,
                    figures.seconds,
                    figures.floor,
                    figures.calls_per_resource,
                    figures.handed_on,
                    scale.holds(domain),
                    failures,
                )
            )
    finally:
        ses.middleware.bucket = None
        scale.close()
    return rows


def simulated(stacks: int, per_stack: int, runs: int = SIMULATED_RUNS) -> list[Row]:
    """Each wave's median over `runs` simulations (the fewest successes of any run), with the calls' range."""
    results = [simulation.run(stacks, per_stack) for _ in range(runs)]
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
                wave,
                int(figures[0]["resources"]),
                int(min(figure["succeeded"] for figure in figures)),
                median("seconds"),
                median("floor"),
                median("calls_per_resource"),
                int(median("hand_ons")),
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
        lines.append(f"| {r.size} | {r.wave} | {time_gap:.1%} | {calls_gap:.1%} | {met} |")
    return lines
