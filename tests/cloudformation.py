"""CloudFormation's stack operations on the loopback account, in CloudFormation's order, for synthesized
templates: the resources the construct declares are made for real (an IAM role and its policies in moto's IAM,
the table in moto's DynamoDB, the function as processes under awslambdaric with its role's credentials), and
the custom resources get their events from the function, as CloudFormation sends them.

The order is the documented one:
- Dependencies: a resource that references another (Ref, Fn::GetAtt, Fn::Sub) or names it in DependsOn is
  created and updated after it and deleted before it; everything else runs in parallel ("DependsOn attribute":
  "CloudFormation creates, updates, and deletes resources in parallel to the extent possible").
- An update (UPDATE_IN_PROGRESS) creates the added resources and updates the changed ones, in dependency order
  of the new template; a custom resource whose Update answers another physical id is being replaced. Only then,
  in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, it deletes the removed resources and the replaced ones' old physical
  ids, in reverse dependency order of the old template, under the policies the update left; a failed cleanup
  Delete is tried three times and then left behind, and the stack is still UPDATE_COMPLETE ("Monitor the
  progress of a stack update").
- A failure rolls the update back: each changed resource gets the reverse Update (custom resources: old and new
  properties swapped, to their current physical id), then the resources the update added, and the physical ids
  that its replacements returned, are deleted (UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS). A failed Create
  of the stack deletes everything it made.
- A failure cancels the custom resources' Creates still in flight: each is CREATE_FAILED "Resource creation
  cancelled" at once, CloudFormation stops waiting for its answer, and the rollback sends it a Delete with a
  physical id CloudFormation makes up (`<stack>-<logical id>-<12 characters>`), as reported in
  aws-cloudformation/cloudformation-coverage-roadmap#1814; the function still has the Create's event.
- A stack's deletion deletes each resource once nothing left depends on it ("Resource A is deleted before
  resource B").
- An update that changes only DependsOn sends no Update to a custom resource: only a change of its properties
  does (the Update request type's page).
- IAM changes take effect `iam_delay` seconds after CloudFormation counts them complete: IAM is eventually
  consistent ("Changes that I make are not always immediately visible").
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tests.cfn import Answer, ResponseEndpoint, event
from tests.event_source import EventSourceMapping
from tests.iam_emulator import ACCOUNT, PARTITION, Account
from tests.lambda_runtime import Concurrency, FunctionProcess, FunctionSpec, LambdaService, LambdaTimes
from tests.ses_emulator import REGION, SesEmulator

CUSTOM = "Custom::"
# Types the construct may declare that have no effect on the provider's protocol here: made and deleted in name.
_IN_NAME_ONLY = (
    "AWS::Logs::LogGroup",
    "AWS::SQS::QueuePolicy",
    "AWS::Route53::RecordSet",
    "AWS::CertificateManager::Certificate",
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::DistributionTenant",
    "AWS::CloudFront::ConnectionGroup",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::CDK::Metadata",
)
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
# What the harness's CloudFormation answers itself for a Create it cancelled.
_CANCELLED = "CANCELLED"
# Seconds between CloudFormation's attempts at a failed cleanup Delete.
CLEANUP_RETRY_PAUSE = 1.0


class StackOperationError(Exception):
    """A resource failed; the stack rolled back (or, deleting, stopped)."""


@dataclass
class Resource:
    logical_id: str
    type: str
    physical_id: str
    properties: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)
    retain: bool = False


@dataclass(frozen=True)
class StackEvent:
    logical_id: str
    status: str
    physical_id: str = ""
    reason: str = ""


def references(value: Any) -> set[str]:
    """The logical ids (and pseudo parameters) a property value refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        elif "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        elif "Fn::Sub" in value:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            found |= {name.split(".")[0] for name in _SUB_VARIABLE.findall(text) if name not in variables}
            found |= references(variables)
        else:
            for item in value.values():
                found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def dependencies(template: dict[str, Any]) -> dict[str, set[str]]:
    """Each resource's direct dependencies in the template."""
    resources = template.get("Resources", {})
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends = resource.get("DependsOn", [])
        named = {depends} if isinstance(depends, str) else set(depends)
        graph[logical_id] = (references(resource.get("Properties", {})) | named) & set(resources)
    return graph


class Stack:
    """One stack in the loopback account and region."""

    def __init__(
        self,
        name: str,
        *,
        account: Account,
        ses: SesEmulator,
        endpoint: ResponseEndpoint,
        work: Path,
        iam_delay: float = 0.0,
        function_env: dict[str, str] | None = None,
        function_timeout: float | None = None,
        queue_visibility: float | None = None,
        concurrency: Concurrency | None = None,
        times: LambdaTimes | None = None,
        timeout_scale: float = 1.0,
    ) -> None:
        self.name = name
        self.stack_id = f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/{uuid.uuid4()}"
        self.account, self.ses, self.endpoint, self.work = account, ses, endpoint, work
        self.iam_delay = iam_delay
        # The environment and timeout tests may give the function instead of the template's, to run faster.
        self.function_env = function_env or {}
        self.function_timeout = function_timeout
        self.queue_visibility = queue_visibility
        # The account's concurrency, shared with the other stacks of a test, and Lambda's delays.
        self.concurrency = concurrency or Concurrency()
        self.times = times or LambdaTimes()
        self.timeout_scale = timeout_scale
        self.mappings: dict[str, EventSourceMapping] = {}
        self.template: dict[str, Any] = {"Resources": {}}
        self.resources: dict[str, Resource] = {}
        self.events: list[StackEvent] = []
        self.answers: list[tuple[str, str, Answer]] = []
        # When each custom resource event was sent (monotonic clock).
        self.sent: list[tuple[str, float]] = []
        self.functions: dict[str, LambdaService] = {}
        self.status = ""
        self._assembly: Path | None = None
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        self._names = itertools.count()
        # Each function's execution role, by function name; every mapping ever made (for its counts).
        self._roles: dict[str, str] = {}
        self._all_mappings: list[EventSourceMapping] = []
        # Set when a stack operation fails: the custom resources' Creates in flight are cancelled.
        self._cancelling = threading.Event()
        # Resources that fail this long after their creation starts, as another service's resource would.
        self.failing: dict[str, float] = {}

    # --- stack operations ---------------------------------------------------------------------------

    def deploy(self, template: dict[str, Any], assembly: Path) -> str:
        """Create the stack, or update it to this template; returns the final status."""
        creating = not self.resources
        self._assembly = assembly
        old, new = self.template, copy.deepcopy(template)
        phase = "CREATE" if creating else "UPDATE"
        self.status = f"{phase}_IN_PROGRESS"
        before = dict(self.resources)
        changed: dict[str, Resource | None] = {}
        replaced: list[Resource] = []

        def apply(logical_id: str) -> None:
            previous = self.resources.get(logical_id)
            declared = new["Resources"][logical_id]
            properties = self._resolve(declared.get("Properties", {}))
            retain = declared.get("DeletionPolicy") == "Retain"
            if previous is None:
                changed[logical_id] = None
                self._create(logical_id, declared["Type"], properties, retain=retain)
            elif properties != previous.properties:
                changed[logical_id] = previous
                made = self._update(previous, properties, retain=retain)
                if made.physical_id != previous.physical_id:
                    replaced.append(previous)
            elif retain != previous.retain:
                previous.retain = retain

        graph = dependencies(new)
        self._cancelling.clear()
        try:
            self._in_order(list(graph), graph, apply, cancelling=True)
        except StackOperationError:
            self._roll_back(old, new, before, changed, creating)
            return self.status
        if creating:
            self.template, self.status = new, "CREATE_COMPLETE"
            return self.status
        self.status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
        self.template = new
        removed = [self.resources[logical_id] for logical_id in old["Resources"] if logical_id not in new["Resources"]]
        self._clean_up(old, removed, replaced)
        self.status = "UPDATE_COMPLETE"
        return self.status

    def delete(self) -> str:
        """Delete the stack: each resource once nothing left depends on it."""
        self.status = "DELETE_IN_PROGRESS"
        graph = dependencies(self.template)
        try:
            self._in_reverse_order(
                list(self.resources), graph, lambda logical_id: self._delete(self.resources[logical_id])
            )
        except StackOperationError:
            self.status = "DELETE_FAILED"
            return self.status
        self.status = "DELETE_COMPLETE"
        self.close()
        return self.status

    def close(self) -> None:
        for timer in self._timers:
            timer.join()
        for mapping in self.mappings.values():
            mapping.stop()
        self.mappings.clear()
        for service in self.functions.values():
            if not service.closed:
                service.close()

    @property
    def batches(self) -> int:
        """Batches the event source mappings delivered."""
        return sum(mapping.batches for mapping in self._all_mappings)

    def custom_answers(self, request_type: str | None = None) -> list[Answer]:
        return [answer for kind, _, answer in self.answers if request_type in (None, kind)]

    # --- order ------------------------------------------------------------------------------------------

    def _in_order(
        self,
        logical_ids: list[str],
        graph: dict[str, set[str]],
        action: Callable[[str], None],
        *,
        cancelling: bool = False,
    ) -> None:
        """Run action on each resource after those it depends on, in parallel where they do not; `cancelling`: a
        failure cancels the custom resources' Creates in flight."""

        def ready(done: set[str], node: str) -> bool:
            return graph.get(node, set()) & set(logical_ids) <= done

        self._run(logical_ids, ready, action, on_failure=self._cancelling.set if cancelling else None)

    def _in_reverse_order(
        self, logical_ids: list[str], graph: dict[str, set[str]], action: Callable[[str], None]
    ) -> None:
        """Run action on each resource after those that depend on it, in parallel where none do."""
        dependents = {node: {other for other in logical_ids if node in graph.get(other, set())} for node in logical_ids}
        self._run(logical_ids, lambda done, node: dependents[node] <= done, action)

    def _run(
        self,
        logical_ids: list[str],
        ready: Callable[[set[str], str], bool],
        action: Callable[[str], None],
        *,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        pending, done = list(logical_ids), set[str]()
        running: dict[Future[None], str] = {}
        failure: StackOperationError | None = None
        # CloudFormation runs independent resources in parallel, hundreds of custom resources included.
        with ThreadPoolExecutor(max_workers=600) as pool:
            while pending or running:
                if failure is None:
                    for node in [node for node in pending if ready(done, node)]:
                        pending.remove(node)
                        running[pool.submit(action, node)] = node
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    node = running.pop(future)
                    error = future.exception()
                    if isinstance(error, StackOperationError):
                        failure = failure or error
                        if on_failure is not None:
                            on_failure()
                    elif error is not None:
                        raise error
                    else:
                        done.add(node)
        if failure is not None:
            raise failure
        assert not pending, f"a dependency cycle among {pending}"

    # --- rollback and cleanup -----------------------------------------------------------------------

    def _roll_back(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        before: dict[str, Resource],
        changed: dict[str, Resource | None],
        creating: bool,
    ) -> None:
        self.status = "ROLLBACK_IN_PROGRESS" if creating else "UPDATE_ROLLBACK_IN_PROGRESS"
        reverted = [logical_id for logical_id, previous in changed.items() if previous is not None]
        # The physical ids the update's replacements answered with, which the rollback moves away from.
        left: list[Resource] = []

        def revert(logical_id: str) -> None:
            current, previous = self.resources[logical_id], before[logical_id]
            made = self._update(current, previous.properties, retain=previous.retain)
            if made.physical_id != current.physical_id:
                left.append(current)

        failed = False
        try:
            self._in_order(reverted, dependencies(old), revert)
        except StackOperationError:
            failed = True
        # A resource whose creation failed without a physical id has nothing to delete.
        added = [
            self.resources[logical_id]
            for logical_id, previous in changed.items()
            if previous is None and logical_id in self.resources
        ]
        self._clean_up(new, added, left)
        if creating:
            self.status = "ROLLBACK_COMPLETE"
            self.close()
        else:
            self.status = "UPDATE_ROLLBACK_FAILED" if failed else "UPDATE_ROLLBACK_COMPLETE"

    def _clean_up(self, template: dict[str, Any], removed: Iterable[Resource], replaced: Iterable[Resource]) -> None:
        """Delete resources no longer in the stack and old physical ids, tried three times each, never failing the
        stack; removed resources in reverse dependency order of the template they came from."""
        graph = dependencies(template)
        removed = list(removed)
        for resource in replaced:
            self._attempt_cleanup(resource)
        by_id = {resource.logical_id: resource for resource in removed}
        try:
            self._in_reverse_order(list(by_id), graph, lambda logical_id: self._attempt_cleanup(by_id[logical_id]))
        except StackOperationError:
            raise AssertionError("cleanup never fails the stack") from None
        for resource in removed:
            if self.resources.get(resource.logical_id) is resource:
                del self.resources[resource.logical_id]

    def _attempt_cleanup(self, resource: Resource) -> None:
        for attempt in range(3):
            try:
                self._delete(resource)
            except StackOperationError:
                if attempt < 2:
                    time.sleep(CLEANUP_RETRY_PAUSE)
                continue
            return
        self._record(resource.logical_id, "DELETE_FAILED", resource.physical_id, "left behind by the cleanup")

    # --- resources ------------------------------------------------------------------------------------

    def _create(self, logical_id: str, resource_type: str, properties: dict[str, Any], *, retain: bool) -> Resource:
        self._record(logical_id, "CREATE_IN_PROGRESS")
        if logical_id in self.failing:
            time.sleep(self.failing[logical_id])
            self._record(logical_id, "CREATE_FAILED", "", "Resource handler returned message: failed, as the test asks")
            raise StackOperationError(f"{logical_id}: failed")
        if resource_type.startswith(CUSTOM):
            answer = self._custom("Create", logical_id, properties)
            if answer.status == _CANCELLED:
                made = Resource(logical_id, resource_type, answer.physical_id, properties, {}, retain)
                with self._lock:
                    self.resources[logical_id] = made
                self._record(logical_id, "CREATE_FAILED", answer.physical_id, "Resource creation cancelled")
                raise StackOperationError(f"{logical_id}: Resource creation cancelled")
            physical_id = answer.physical_id
            made = Resource(logical_id, resource_type, physical_id, properties, dict(answer.data), retain)
            with self._lock:
                self.resources[logical_id] = made
            if answer.status != "SUCCESS":
                self._record(logical_id, "CREATE_FAILED", physical_id, answer.reason)
                raise StackOperationError(f"{logical_id}: {answer.reason}")
        else:
            physical_id, attributes = self._make(logical_id, resource_type, properties)
            made = Resource(logical_id, resource_type, physical_id, properties, attributes, retain)
            with self._lock:
                self.resources[logical_id] = made
        self._record(logical_id, "CREATE_COMPLETE", made.physical_id)
        return made

    def _update(self, current: Resource, properties: dict[str, Any], *, retain: bool) -> Resource:
        self._record(current.logical_id, "UPDATE_IN_PROGRESS")
        if current.type.startswith(CUSTOM):
            answer = self._custom(
                "Update", current.logical_id, properties, old=current.properties, physical_id=current.physical_id
            )
            if answer.status != "SUCCESS":
                # The rollback's Update swaps these properties back.
                failed = Resource(
                    current.logical_id, current.type, current.physical_id, properties, current.attributes, retain
                )
                with self._lock:
                    self.resources[current.logical_id] = failed
                self._record(current.logical_id, "UPDATE_FAILED", current.physical_id, answer.reason)
                raise StackOperationError(f"{current.logical_id}: {answer.reason}")
            made = Resource(current.logical_id, current.type, answer.physical_id, properties, dict(answer.data), retain)
        else:
            made = Resource(
                current.logical_id, current.type, current.physical_id, properties, current.attributes, retain
            )
            self._change(current, properties)
        with self._lock:
            self.resources[current.logical_id] = made
        self._record(current.logical_id, "UPDATE_COMPLETE", made.physical_id)
        return made

    def _delete(self, resource: Resource) -> None:
        # A retained resource leaves the stack, not the account; an old physical id of a replaced one goes anyway.
        if resource.retain and self.resources.get(resource.logical_id) is resource:
            self._record(resource.logical_id, "DELETE_SKIPPED", resource.physical_id)
            return
        self._record(resource.logical_id, "DELETE_IN_PROGRESS", resource.physical_id)
        if resource.type.startswith(CUSTOM):
            answer = self._custom("Delete", resource.logical_id, resource.properties, physical_id=resource.physical_id)
            if answer.status != "SUCCESS":
                self._record(resource.logical_id, "DELETE_FAILED", resource.physical_id, answer.reason)
                raise StackOperationError(f"{resource.logical_id}: {answer.reason}")
        else:
            self._remove(resource)
        self._record(resource.logical_id, "DELETE_COMPLETE", resource.physical_id)

    def _custom(
        self,
        request_type: str,
        logical_id: str,
        properties: dict[str, Any],
        *,
        old: dict[str, Any] | None = None,
        physical_id: str | None = None,
    ) -> Answer:
        service = next(s for s in self.functions.values() if s.function_arn == properties["ServiceToken"])
        if service.deleted:
            return Answer(
                "FAILED", physical_id or "", "the ServiceToken's function does not exist", {}, "", logical_id, "", 0
            )
        request = event(
            request_type,
            self.endpoint,
            properties,
            old_properties=old,
            physical_id=physical_id,
            logical_id=logical_id,
            stack_id=self.stack_id,
            service_timeout=properties.get("ServiceTimeout", "3600"),
        )
        with self._lock:
            self.sent.append((request_type, time.monotonic()))
        service.invoke_async(request)
        timeout = float(properties.get("ServiceTimeout", 3600)) * self.timeout_scale
        if request_type == "Create":
            answer = self._wait_unless_cancelled(request["RequestId"], timeout)
            if answer is None and self._cancelling.is_set():
                made_up = f"{self.name}-{logical_id}-{uuid.uuid4().hex[:12].upper()}"
                return Answer(_CANCELLED, made_up, "Resource creation cancelled", {}, "", logical_id, "", 0)
        else:
            answer = self.endpoint.wait(request["RequestId"], timeout=timeout)
        if answer is None:
            answer = Answer(
                "FAILED", physical_id or "", "no answer within the ServiceTimeout", {}, "", logical_id, "", 0
            )
        with self._lock:
            self.answers.append((request_type, logical_id, answer))
        return answer

    def _wait_unless_cancelled(self, request_id: str, timeout: float) -> Answer | None:
        """The Create's answer; None once the stack operation cancels it, or at its ServiceTimeout."""
        until = time.monotonic() + timeout
        while not self._cancelling.is_set() and time.monotonic() < until:
            answer = self.endpoint.wait(request_id, timeout=min(0.1, max(until - time.monotonic(), 0.0)))
            if answer is not None:
                return answer
        return None

    def _generated_name(self, logical_id: str, limit: int) -> str:
        return f"{self.name}-{logical_id}-{next(self._names):04d}{uuid.uuid4().hex[:8].upper()}"[-limit:]

    def _make(self, logical_id: str, resource_type: str, properties: dict[str, Any]) -> tuple[str, dict[str, str]]:
        if resource_type == "AWS::IAM::Role":
            name = self._generated_name(logical_id, 64)
            arn = self.account.create_role(name)
            return name, {"Arn": arn}
        if resource_type == "AWS::IAM::Policy":
            self._later(lambda: self._put_policy(properties))
            return str(properties["PolicyName"]), {}
        if resource_type == "AWS::DynamoDB::Table":
            name = str(properties.get("TableName") or self._generated_name(logical_id, 255))
            client = self.account.client("dynamodb")
            client.create_table(
                TableName=name,
                KeySchema=properties["KeySchema"],
                AttributeDefinitions=properties["AttributeDefinitions"],
                BillingMode=properties.get("BillingMode", "PROVISIONED"),
            )
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            return name, {"Arn": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"}
        if resource_type == "AWS::Lambda::Function":
            name = self._generated_name(logical_id, 64)
            arn = f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}"
            self.functions[logical_id] = LambdaService(
                self._starter(logical_id, arn, properties), arn, concurrency=self.concurrency, times=self.times
            )
            self._roles[name] = str(properties["Role"])
            return name, {"Arn": arn}
        if resource_type == "AWS::Lambda::EventInvokeConfig":
            service = self._function(str(properties["FunctionName"]))
            service.retry_attempts = int(properties.get("MaximumRetryAttempts", 2))
            service.max_event_age = float(properties.get("MaximumEventAgeInSeconds", 21600))
            return f"{properties['FunctionName']}:$LATEST", {}
        if resource_type == "AWS::SQS::Queue":
            fifo = str(properties.get("FifoQueue", "false")).lower() == "true"
            name = self._generated_name(logical_id, 80 - 5) + (".fifo" if fifo else "")
            visibility = self.queue_visibility or float(properties.get("VisibilityTimeout", 30))
            attributes = {"VisibilityTimeout": str(int(visibility))}
            if fifo:
                attributes |= {
                    "FifoQueue": "true",
                    "ContentBasedDeduplication": str(properties.get("ContentBasedDeduplication", False)).lower(),
                }
            url = self.account.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            return url, {"Arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}", "QueueName": name, "QueueUrl": url}
        if resource_type == "AWS::Lambda::EventSourceMapping":
            function = str(properties["FunctionName"])
            service = self._function(function)
            queue_arn = str(properties["EventSourceArn"])
            queue_url = f"{self.ses.endpoint}/{ACCOUNT}/{queue_arn.rsplit(':', 1)[-1]}"
            # The mapping polls with the function's role, as Lambda's does.
            credentials = self.account.credentials(self._roles[function])
            client = boto3.client(
                "sqs",
                endpoint_url=self.ses.endpoint,
                region_name=REGION,
                aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=credentials["AWS_SESSION_TOKEN"],
            )
            visibility = float(
                self.account.client("sqs").get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"]
                )["Attributes"]["VisibilityTimeout"]
            )
            mapping = EventSourceMapping(
                client,
                queue_url,
                queue_arn,
                service.invoke_sync,
                batch_size=int(properties.get("BatchSize", 10)),
                max_concurrency=int(properties.get("ScalingConfig", {}).get("MaximumConcurrency", 1000)),
                visibility_timeout=visibility,
            )
            physical_id = str(uuid.uuid4())
            self.mappings[physical_id] = mapping.start()
            self._all_mappings.append(mapping)
            return physical_id, {}
        if resource_type == "AWS::SES::ConfigurationSet":
            name = str(properties.get("Name") or self._generated_name(logical_id, 64))
            self.ses.backend.create_configuration_set(name)
            return name, {}
        assert resource_type in _IN_NAME_ONLY, f"the harness cannot make a {resource_type}"
        name = self._generated_name(logical_id, 64)
        return name, {"Arn": f"arn:{PARTITION}:made-in-name:{REGION}:{ACCOUNT}:{name}"}

    def _change(self, current: Resource, properties: dict[str, Any]) -> None:
        if current.type == "AWS::IAM::Policy":
            self._later(lambda: self._put_policy(properties))
        elif current.type == "AWS::Lambda::Function":
            self.functions[current.logical_id].replace_code(
                self._starter(current.logical_id, self.functions[current.logical_id].function_arn, properties)
            )
        elif current.type not in _IN_NAME_ONLY:
            raise AssertionError(f"the harness cannot update a {current.type} in place")

    def _remove(self, resource: Resource) -> None:
        if resource.type == "AWS::IAM::Policy":
            names = [self._role_name(role) for role in resource.properties.get("Roles", [])]
            self._later(
                lambda: [
                    self.account.client("iam").delete_role_policy(RoleName=n, PolicyName=resource.physical_id)
                    for n in names
                ]
            )
        elif resource.type == "AWS::IAM::Role":
            self._later(lambda: self.account.client("iam").delete_role(RoleName=resource.physical_id))
        elif resource.type == "AWS::DynamoDB::Table":
            self.account.client("dynamodb").delete_table(TableName=resource.physical_id)
        elif resource.type == "AWS::Lambda::Function":
            self.functions[resource.logical_id].deleted = True
        elif resource.type == "AWS::Lambda::EventSourceMapping":
            self.mappings.pop(resource.physical_id).stop()
        elif resource.type == "AWS::Lambda::EventInvokeConfig":
            service = self._function(resource.physical_id.split(":", 1)[0])
            service.retry_attempts, service.max_event_age = 2, 21600.0
        elif resource.type == "AWS::SQS::Queue":
            self.account.client("sqs").delete_queue(QueueUrl=resource.physical_id)
        elif resource.type == "AWS::SES::ConfigurationSet":
            self.ses.backend.config_sets.pop(resource.physical_id, None)

    def _function(self, name: str) -> LambdaService:
        return next(s for s in self.functions.values() if s.function_arn.rsplit(":", 1)[-1] == name)

    def _role_name(self, role: str) -> str:
        return role.rsplit("/", 1)[-1]

    def _put_policy(self, properties: dict[str, Any]) -> None:
        for role in properties.get("Roles", []):
            self.account.client("iam").put_role_policy(
                RoleName=self._role_name(role),
                PolicyName=properties["PolicyName"],
                PolicyDocument=json.dumps(properties["PolicyDocument"]),
            )

    def _later(self, change: Callable[[], object]) -> None:
        """An IAM change, visible to requests only after iam_delay."""
        if not self.iam_delay:
            change()
            return
        timer = threading.Timer(self.iam_delay, change)
        self._timers.append(timer)
        timer.start()

    def _starter(self, logical_id: str, arn: str, properties: dict[str, Any]) -> Callable[[int], FunctionProcess]:
        assert self._assembly is not None
        asset = str(properties["Code"]["S3Key"]).removesuffix(".zip")
        spec = FunctionSpec(
            code_dir=self._assembly / f"asset.{asset}",
            handler=str(properties["Handler"]),
            timeout=self.function_timeout or float(properties.get("Timeout", 3)),
            environment={
                key: str(value) for key, value in properties.get("Environment", {}).get("Variables", {}).items()
            },
            logging_config=dict(properties.get("LoggingConfig", {})),
        )
        credentials = self.account.credentials(str(properties["Role"]))

        def start(number: int) -> FunctionProcess:
            env = {**credentials, **self.function_env}
            log = self.work / f"{self.name}-{logical_id}-{number}.log"
            return FunctionProcess(spec, log, env, function_arn=arn)

        return start

    # --- resolution -----------------------------------------------------------------------------------

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self._ref(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
            return self.resources[logical_id].attributes[attribute]
        if "Fn::Join" in value:
            separator, items = value["Fn::Join"]
            return separator.join(str(self._resolve(item)) for item in items)
        if "Fn::Select" in value:
            index, items = value["Fn::Select"]
            return self._resolve(items)[int(index)]
        if "Fn::Split" in value:
            separator, text = value["Fn::Split"]
            return str(self._resolve(text)).split(separator)
        if "Fn::Sub" in value:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            resolved = {name: self._resolve(item) for name, item in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in resolved:
                    return str(resolved[name])
                if "." in name:
                    logical_id, attribute = name.split(".", 1)
                    return self.resources[logical_id].attributes[attribute]
                return str(self._ref(name))

            return _SUB_VARIABLE.sub(substitute, text)
        return {key: self._resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.name,
            "AWS::StackId": self.stack_id,
        }
        if name in pseudo:
            return pseudo[name]
        return self.resources[name].physical_id

    def _record(self, logical_id: str, status: str, physical_id: str = "", reason: str = "") -> None:
        with self._lock:
            self.events.append(StackEvent(logical_id, status, physical_id, reason))
