"""Many TrackingOptions at once, in the real harness: each stack's provider is the bundled function under
awslambdaric, its events dispatched by a Lambda service of its own (new execution environments as
needed, hand-ons through the Invoke API) with a schedule table of its own, so that no provider sees
another's; every stack shares SES, one allowance for every call. Used by tests/test_scale.py and bench."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cfn import Answer, ResponseEndpoint, event
from tests.lambda_runtime import FunctionProcess, LambdaService
from tests.loopback import create_schedule_table
from tests.ses_emulator import SesEmulator
from tests.synthesized import synthesize

FIRST, SECOND = "click.example.com", "links.example.com"
# Lambda runs each environment, SES and DynamoDB on hardware of their own. Here hundreds of function
# processes share two cores with the emulators: started at once, their cold starts would starve SES and the
# schedule table of CPU (answers slower than the clients' timeouts), which measures this machine, not the
# provider. So the emulators run ahead of the function processes, which still compete with each other.
FUNCTION_NICENESS = 10


@dataclass
class Figures:
    resources: int
    succeeded: int
    seconds: float
    calls: int
    passed: int
    handed_on: int
    rate: float

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


@dataclass
class ScaleStack:
    name: str
    service: LambdaService
    first: list[dict[str, Any]]
    second: list[dict[str, Any]]


class Scale:
    """`stacks` stacks of `per_stack` TrackingOptions on sets of their own, ready for waves of events."""

    def __init__(
        self,
        ses: SesEmulator,
        endpoint: ResponseEndpoint,
        work: Path,
        *,
        stacks: int,
        per_stack: int,
        rate: float = 1.0,
        function_timeout: float | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.ses, self.endpoint, self.rate = ses, endpoint, rate
        self.stacks: list[ScaleStack] = []
        for index in range(stacks):
            prefix = f"s{index}-tenant"
            made = synthesize(work / f"stack{index}", set_name=prefix, count=per_stack)
            spec = made.function()
            if function_timeout is not None:
                spec = dataclasses.replace(spec, timeout=function_timeout)
            first = [made.resource_properties(f"Tracking{n}") for n in range(per_stack)]
            second = [
                made.resource_properties(f"Tracking{n}") | {"CustomRedirectDomain": SECOND} for n in range(per_stack)
            ]
            for props in first:
                ses.backend.create_configuration_set(props["ConfigurationSetName"])
            table = f"schedule-{index}"
            create_schedule_table(ses, table)
            holder: dict[str, LambdaService] = {}

            def start(
                number: int, index: int = index, table: str = table, spec: Any = spec, holder: Any = holder
            ) -> FunctionProcess:
                env = {"SCHEDULE_TABLE": table, "AWS_ENDPOINT_URL_LAMBDA": holder["service"].endpoint}
                log = work / f"stack{index}-fn{number}.log"
                return FunctionProcess(spec, log, {**env, **(extra_env or {})}, niceness=FUNCTION_NICENESS)

            holder["service"] = LambdaService(start)
            self.stacks.append(ScaleStack(f"stack{index}", holder["service"], first, second))
        self.physical_ids: dict[str, str] = {}

    def close(self) -> None:
        for stack in self.stacks:
            stack.service.close()

    def prestart(self) -> None:
        """An initialized execution environment for every resource, before the first wave: on Lambda each
        environment initializes on hardware of its own in about a second; here hundreds share two cores
        for a minute, which the cold start figure measures on its own."""
        for stack in self.stacks:
            stack.service.prestart(len(stack.first))

    def _wave(
        self, requests: list[tuple[LambdaService, dict[str, Any]]], timeout: float
    ) -> tuple[Figures, list[Answer | None]]:
        self.ses.middleware.calls.clear()
        handed_before = sum(stack.service.handed_on for stack in self.stacks)
        started = time.monotonic()
        for service, request in requests:
            service.dispatch(request)
        answers = [self.endpoint.wait(request["RequestId"], timeout=timeout) for _, request in requests]
        finished = max((answer.received for answer in answers if answer is not None), default=time.monotonic())
        calls = [
            call
            for call in self.ses.middleware.calls
            if call.operation.endswith(("TrackingOptions", "ConfigurationSet"))
        ]
        figures = Figures(
            resources=len(requests),
            succeeded=sum(1 for answer in answers if answer is not None and answer.status == "SUCCESS"),
            seconds=finished - started,
            calls=len(calls),
            passed=sum(1 for call in calls if call.outcome == "passed"),
            handed_on=sum(stack.service.handed_on for stack in self.stacks) - handed_before,
            rate=self.rate,
        )
        return figures, answers

    def create(self, timeout: float = 3600) -> tuple[Figures, list[Answer | None]]:
        requests = [(s.service, event("Create", self.endpoint, props)) for s in self.stacks for props in s.first]
        figures, answers = self._wave(requests, timeout)
        for (_, request), answer in zip(requests, answers, strict=True):
            if answer is not None:
                self.physical_ids[request["ResourceProperties"]["ConfigurationSetName"]] = answer.physical_id
        return figures, answers

    def update(self, timeout: float = 3600) -> tuple[Figures, list[Answer | None]]:
        requests = [
            (
                s.service,
                event(
                    "Update",
                    self.endpoint,
                    new,
                    old_properties=old,
                    physical_id=self.physical_ids[new["ConfigurationSetName"]],
                ),
            )
            for s in self.stacks
            for old, new in zip(s.first, s.second, strict=True)
        ]
        return self._wave(requests, timeout)

    def delete(self, timeout: float = 3600) -> tuple[Figures, list[Answer | None]]:
        requests = [
            (
                s.service,
                event("Delete", self.endpoint, props, physical_id=self.physical_ids[props["ConfigurationSetName"]]),
            )
            for s in self.stacks
            for props in s.second
        ]
        return self._wave(requests, timeout)

    def holds(self, domain: str | None) -> bool:
        """Whether every set holds exactly the options the last wave asked for."""
        expected = {"CustomRedirectDomain": domain} if domain else {}
        return all(
            self.ses.tracking(props["ConfigurationSetName"]) == expected for s in self.stacks for props in s.first
        )
