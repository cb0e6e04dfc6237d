"""`make bench`: each figure as a ratio against its alternative, taken side by side, alternating, in
one run; prints one table with the median, min and max of each ratio and its goal."""

from __future__ import annotations

import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench import scale
from bench.alternatives import synthesize
from tests.cfn import ResponseEndpoint, event
from tests.lambda_runtime import FunctionProcess, FunctionSpec
from tests.loopback import reset_ses, start_ses, trusted_ca, use_loopback_environment
from tests.ses_emulator import SesEmulator
from tests.synthesized import synthesize as synthesize_stack

T = TypeVar("T")
RUNS = 7
KINDS = ("TrackingOptions", "AwsCustomResource")
PROPS = {"ConfigurationSetName": "marketing", "CustomRedirectDomain": "c.example.com"}
# The waves, each as (stacks, resources per stack), concurrency quota: in the real harness, and simulated
# (two full stacks: 500 resources each, the provider's own 9 included). At the default quota the real harness
# starts 200 function processes at once, which starve the emulators on two cores (docs/PERFORMANCE.md): that
# quota is simulated only.
REAL = [((2, 100), scale.NEW_ACCOUNT), ((1, 200), scale.NEW_ACCOUNT)]
SIMULATED = [
    *(((1, n), scale.NEW_ACCOUNT) for n in (20, 100, 200)),
    ((2, 100), scale.NEW_ACCOUNT),
    ((2, 100), scale.DEFAULT_QUOTA),
    ((2, 491), scale.NEW_ACCOUNT),
    ((2, 491), scale.DEFAULT_QUOTA),
]
BARE = FunctionSpec(code_dir=Path(__file__).parent / "bare", handler="index.handler", timeout=120, environment={})


@dataclass
class Figure:
    name: str
    against: str
    goal: float
    ratios: list[float]

    def row(self) -> str:
        median = statistics.median(self.ratios)
        met = "yes" if median <= self.goal else "NO"
        return (
            f"| {self.name} | {self.against} | {median:.2f} | {min(self.ratios):.2f} | "
            f"{max(self.ratios):.2f} | <= {self.goal:.2f} | {met} |"
        )


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        use_loopback_environment()
        self.ca = trusted_ca(work)
        self.ses: SesEmulator = start_ses()
        self.endpoint = ResponseEndpoint(self.ca)
        self.endpoint.start()
        self.ours = synthesize_stack(work / "ours").function()

    def close(self) -> None:
        self.endpoint.stop()
        self.ses.stop()

    def cold_start(self, spec: FunctionSpec, run: int) -> float:
        """From starting a fresh function process until CloudFormation has the answer to one Create."""
        reset_ses(self.ses)
        request = event(
            "Create", self.endpoint, {"ConfigurationSetName": "marketing", "CustomRedirectDomain": "c.example.com"}
        )
        started = time.monotonic()
        function = FunctionProcess(spec, self.work / f"cold-{spec.code_dir.name}-{run}.log")
        try:
            function.invoke(request)
            answer = self.endpoint.wait(request["RequestId"], timeout=10)
        finally:
            function.stop()
        assert answer is not None, "no answer"
        assert answer.status == "SUCCESS", answer.reason
        return answer.received - started

    def cold_start_ratios(self) -> list[float]:
        ratios = []
        for run in range(RUNS):
            order = (self.ours, BARE) if run % 2 == 0 else (BARE, self.ours)
            seconds = {spec.handler: self.cold_start(spec, run) for spec in order}
            ratios.append(seconds[self.ours.handler] / seconds[BARE.handler])
        return ratios

    def delete_seconds(self) -> list[float]:
        """From the Delete event to its answer, in a warm function, against 1 s."""
        reset_ses(self.ses)
        function = FunctionProcess(self.ours, self.work / "delete.log")
        seconds = []
        try:
            for _ in range(RUNS):
                function.invoke(event("Create", self.endpoint, PROPS))
                request = event("Delete", self.endpoint, PROPS, physical_id="ses-tracking-options/marketing")
                started = time.monotonic()
                function.invoke(request)
                answer = self.endpoint.wait(request["RequestId"], timeout=10)
                assert answer is not None
                assert answer.status == "SUCCESS"
                seconds.append(answer.received - started)
        finally:
            function.stop()
        return seconds

    def template_bytes(self, count: int) -> dict[str, int]:
        return {
            kind: synthesize(kind, count, self.work / f"bytes-{kind}-{count}")
            for kind in ("TrackingOptions", "AwsCustomResource")
        }

    def synth_seconds(self, kind: str, count: int, run: int) -> float:
        started = time.perf_counter()
        synthesize(kind, count, self.work / f"synth-{kind}-{count}-{run}")
        return time.perf_counter() - started

    def synth_ratios(self, count: int) -> list[float]:
        ratios = []
        for run in range(RUNS):
            # Alternate which goes first, so that drift in the machine's load falls on both.
            order = KINDS if run % 2 == 0 else KINDS[::-1]
            seconds = {kind: self.synth_seconds(kind, count, run) for kind in order}
            ratios.append(seconds["TrackingOptions"] / seconds["AwsCustomResource"])
        return ratios


def timed(label: str, work: Callable[[], T]) -> T:
    started = time.monotonic()
    print(f"... {label}", file=sys.stderr, flush=True)
    result = work()
    print(f"    {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return result


def waves(label: str, work: Callable[[], list[scale.Row]]) -> list[scale.Row]:
    """A configuration's waves, each row printed as soon as it is measured (a real one takes minutes)."""
    rows = timed(label, work)
    for row in rows:
        print(f"    {row.markdown()}", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as directory:
        bench = Bench(Path(directory))
        try:
            cold = timed("cold starts", bench.cold_start_ratios)
            delete = timed("deletes", bench.delete_seconds)
            sizes = {count: bench.template_bytes(count) for count in (1, 20, 100)}
            synth20 = timed("synthesis, 20 resources", lambda: bench.synth_ratios(20))
            scaling = {count: {kind: bench.synth_seconds(kind, count, 99) for kind in KINDS} for count in (1, 20, 100)}
            real_rows = {
                (size, quota): waves(
                    f"{scale.size_name(*size)} at once, quota {quota}",
                    functools.partial(scale.real, bench.ses, bench.endpoint, bench.work, *size, quota=quota),
                )
                for size, quota in REAL
            }
        finally:
            bench.close()
        simulated_rows = {
            (size, quota): waves(
                f"simulated {scale.size_name(*size)}, quota {quota}",
                functools.partial(scale.simulated, *size, quota=quota),
            )
            for size, quota in SIMULATED
        }
    per_extra = {kind: (sizes[20][kind] - sizes[1][kind]) / 19 for kind in sizes[1]}
    figures = [
        Figure("cold start to first answer", "bare boto3 handler", 1.10, cold),
        Figure("Delete, event to answer", "1 s", 1.0, delete),
        Figure(
            "template bytes per extra resource (20 vs 1)",
            "AwsCustomResource",
            0.20,
            [per_extra["TrackingOptions"] / per_extra["AwsCustomResource"]],
        ),
        Figure("synthesis time, 20 resources", "AwsCustomResource", 1.0, synth20),
    ]
    print("| figure | against | median | min | max | goal | met |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for figure in figures:
        print(figure.row())
    print()
    print(
        "| resources | template bytes, TrackingOptions | template bytes, AwsCustomResource "
        "| synth s, TrackingOptions | synth s, AwsCustomResource |"
    )
    print("| --- | --- | --- | --- | --- |")
    for count in (1, 20, 100):
        print(
            f"| {count} | {sizes[count]['TrackingOptions']} | {sizes[count]['AwsCustomResource']} | "
            f"{scaling[count]['TrackingOptions']:.2f} | {scaling[count]['AwsCustomResource']:.2f} |"
        )
    print(
        f"\nper extra resource: TrackingOptions {per_extra['TrackingOptions']:.0f} B, "
        f"AwsCustomResource {per_extra['AwsCustomResource']:.0f} B"
    )
    print()
    print(scale.HEADER)
    for key in sorted({*real_rows, *simulated_rows}):
        for row in real_rows.get(key, []) + simulated_rows.get(key, []):
            print(row.markdown())
    print()
    print(
        "| resources | concurrency quota | wave | time, simulated median vs real | calls, simulated median vs real "
        "| within 15% |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for key, rows in real_rows.items():
        if key in simulated_rows:
            for line in scale.agreement(rows, simulated_rows[key]):
                print(line)
    for rows in [*real_rows.values(), *simulated_rows.values()]:
        for row in rows:
            for failure in row.failures[:5]:
                print(f"{row.size} {row.source} quota {row.quota} {row.wave}: {failure}")


if __name__ == "__main__":
    main()
