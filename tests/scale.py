"""Many TrackingOptions at once, in the real harness: stacks synthesized from the construct, deployed, updated
and deleted at once by CloudFormation's order (tests/cloudformation.py), each stack's provider the bundled
function under awslambdaric with its own table, queue and event source mapping, every function sharing the
account's concurrency (a quota), every stack sharing SES: one allowance for every call. Used by
tests/test_scale.py and bench/."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cfn import Answer, ResponseEndpoint
from tests.cloudformation import CUSTOM, Stack
from tests.iam_emulator import Account
from tests.lambda_runtime import Concurrency, LambdaTimes
from tests.ses_emulator import SesEmulator
from tests.synthesized import Synthesized, synthesize

FIRST, SECOND = "click.example.com", "links.example.com"
# The SQS requests the function makes (the event source mapping receives and deletes).
_FUNCTIONS_SQS = frozenset({"SendMessage", "ChangeMessageVisibility"})


@dataclass
class Figures:
    resources: int
    succeeded: int
    seconds: float
    calls: int
    passed: int
    rate: float
    peak_executions: int
    execution_seconds: float
    invocations: int
    failures: tuple[str, ...] = ()
    # The function's own requests to its table and queue (the event source mapping's polling is not counted:
    # the real one long-polls whether or not there is work).
    dynamodb_requests: int = 0
    sqs_requests: int = 0

    @property
    def floor(self) -> float:
        """The time SES's allowance needs for the calls that succeeded."""
        return self.passed / self.rate

    @property
    def over_floor(self) -> float:
        return self.seconds / self.floor

    @property
    def calls_per_resource(self) -> float:
        return self.calls / self.resources

    @property
    def execution_seconds_per_resource(self) -> float:
        return self.execution_seconds / self.resources

    @property
    def dynamodb_per_resource(self) -> float:
        return self.dynamodb_requests / self.resources

    @property
    def sqs_per_resource(self) -> float:
        return self.sqs_requests / self.resources


def _without_tenants(template: dict[str, Any]) -> dict[str, Any]:
    """The provider alone: the stack as it stands before the wave."""
    made = copy.deepcopy(template)
    made["Resources"] = {k: r for k, r in made["Resources"].items() if not r["Type"].startswith(CUSTOM)}
    return made


class Scale:
    """`stacks` stacks of `per_stack` TrackingOptions on sets of their own."""

    def __init__(
        self,
        ses: SesEmulator,
        endpoint: ResponseEndpoint,
        account: Account,
        work: Path,
        *,
        stacks: int,
        per_stack: int,
        rate: float = 1.0,
        quota: int = 1000,
        interval: float | None = None,
        times: LambdaTimes | None = None,
        queue_visibility: float | None = None,
    ) -> None:
        self.ses, self.rate = ses, rate
        self.concurrency = Concurrency(quota)
        self.templates: list[tuple[Synthesized, Synthesized]] = []
        self.stacks: list[Stack] = []
        env = {} if interval is None else {"SES_CALL_INTERVAL": str(interval)}
        for index in range(stacks):
            prefix = f"s{index}-tenant"
            first = synthesize(
                work / f"stack{index}-first", set_name=prefix, count=per_stack, stack_name=f"Tenants{index}"
            )
            second = synthesize(
                work / f"stack{index}-second",
                set_name=prefix,
                count=per_stack,
                domain=SECOND,
                stack_name=f"Tenants{index}",
            )
            for props in (first.resource_properties(f"Tracking{n}") for n in range(per_stack)):
                ses.backend.create_configuration_set(props["ConfigurationSetName"])
            self.templates.append((first, second))
            self.stacks.append(
                Stack(
                    f"Tenants{index}",
                    account=account,
                    ses=ses,
                    endpoint=endpoint,
                    work=work,
                    function_env=env,
                    concurrency=self.concurrency,
                    times=times,
                    queue_visibility=queue_visibility,
                )
            )
        self.sets = [
            first.resource_properties(f"Tracking{n}")["ConfigurationSetName"]
            for first, _ in self.templates
            for n in range(per_stack)
        ]

    def close(self) -> None:
        for stack in self.stacks:
            stack.close()

    def prepare(self, prestart: int = 0) -> None:
        """Each stack's provider deployed alone, with `prestart` environments initialized (as earlier
        invocations leave them warm: on Lambda each initializes on hardware of its own in about a second)."""
        for stack, (first, _) in zip(self.stacks, self.templates, strict=True):
            assert stack.deploy(_without_tenants(first.template), first.assembly_dir) == "CREATE_COMPLETE"
            if prestart:
                for service in stack.functions.values():
                    service.prestart(prestart)

    def _wave(self, request_type: str, operation: Callable[[Stack, int], str]) -> Figures:
        self.ses.middleware.calls.clear()
        self.concurrency.reset_measures()
        marks = [len(stack.answers) for stack in self.stacks]
        sent = [len(stack.sent) for stack in self.stacks]
        statuses: list[str] = [""] * len(self.stacks)

        def run(index: int) -> None:
            statuses[index] = operation(self.stacks[index], index)

        threads = [threading.Thread(target=run, args=(index,)) for index in range(len(self.stacks))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        answers: list[Answer] = [
            a for stack, mark in zip(self.stacks, marks, strict=True) for _, _, a in stack.answers[mark:]
        ]
        answers = [a for a in answers if a.request_id]
        started = min(
            t
            for stack, mark in zip(self.stacks, sent, strict=True)
            for kind, t in stack.sent[mark:]
            if kind == request_type
        )
        finished = max((a.received for a in answers), default=time.monotonic())
        calls = [c for c in self.ses.ses_calls if c.operation.endswith(("TrackingOptions", "ConfigurationSet"))]
        failures = tuple(f"{a.logical_id}: {a.status} {a.reason}" for a in answers if a.status != "SUCCESS")
        failures += tuple(
            f"stack {n}: {status}" for n, status in enumerate(statuses) if not status.endswith("COMPLETE")
        )
        resources = len(self.sets)
        wire = list(self.ses.middleware.calls)
        return Figures(
            resources=resources,
            succeeded=sum(1 for a in answers if a.status == "SUCCESS"),
            seconds=finished - started,
            calls=len(calls),
            passed=sum(1 for call in calls if call.outcome == "passed"),
            rate=self.rate,
            peak_executions=self.concurrency.peak,
            execution_seconds=self.concurrency.seconds,
            invocations=self.concurrency.invocations,
            failures=failures,
            dynamodb_requests=sum(1 for c in wire if c.service == "dynamodb"),
            sqs_requests=sum(1 for c in wire if c.operation in _FUNCTIONS_SQS),
        )

    def create(self) -> Figures:
        return self._wave(
            "Create", lambda stack, n: stack.deploy(self.templates[n][0].template, self.templates[n][0].assembly_dir)
        )

    def update(self) -> Figures:
        return self._wave(
            "Update", lambda stack, n: stack.deploy(self.templates[n][1].template, self.templates[n][1].assembly_dir)
        )

    def delete(self) -> Figures:
        return self._wave("Delete", lambda stack, _: stack.delete())

    def holds(self, domain: str | None) -> bool:
        """Whether every set holds exactly the options the last wave asked for."""
        expected = {"CustomRedirectDomain": domain} if domain else {}
        return all(self.ses.tracking(name) == expected for name in self.sets)
