"""The bundled provider from cdk.out, run under awslambdaric against SES on loopback, driven by events
built from the synthesized template the way CloudFormation builds them."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import aws_ses as ses_lib

from cdk_ses_tracking_options.lambda_handler.environment import QUEUE_VARIABLE, TABLE_VARIABLE
from cdk_ses_tracking_options.lambda_handler.store import DynamoStore
from tests.adopt_scenarios import SCENARIOS, Harness
from tests.bad_input import BAD_INPUT, MAX_REASON
from tests.cfn import Answer, ResponseEndpoint, event, physical_id
from tests.conftest import answered
from tests.event_source import EventSourceMapping
from tests.lambda_runtime import (
    Concurrency,
    FunctionCrashedError,
    FunctionProcess,
    FunctionSpec,
    LambdaService,
    LambdaTimes,
    lambda_python,
    task_root,
)
from tests.logs_insights import Query, json_lines, readme_queries
from tests.loopback import QUEUE_VISIBILITY, create_queue, create_state_table
from tests.provider_calls import CALLS
from tests.ses_emulator import REGION, SesEmulator, TokenBucket
from tests.synthesized import Synthesized, synthesize

pytestmark = pytest.mark.slow

Run = Callable[..., Answer]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synthesized]:
    """Synthesize a stack per distinct set of construct arguments, once."""
    made: dict[str, Synthesized] = {}

    def make(**kwargs: Any) -> Synthesized:
        key = json.dumps({k: str(v) for k, v in sorted(kwargs.items())})
        if key not in made:
            made[key] = synthesize(tmp_path_factory.mktemp("cdk.out"), **kwargs)
        return made[key]

    return make


def properties(stacks: Callable[..., Synthesized], **kwargs: Any) -> dict[str, Any]:
    return stacks(**kwargs).resource_properties("Tracking0")


@pytest.fixture(scope="module")
def spec(stacks: Callable[..., Synthesized]) -> FunctionSpec:
    found = stacks().function()
    # Every stack bundles the same code.
    assert stacks(https_policy=ses_lib.HttpsPolicy.REQUIRE).function().code_dir.name == found.code_dir.name
    return found


@pytest.fixture(scope="module")
def warm(
    spec: FunctionSpec, ca: object, ses_server: SesEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FunctionProcess]:
    """One execution environment kept warm across the module's events, as Lambda keeps one."""
    process = FunctionProcess(spec, tmp_path_factory.mktemp("logs") / "warm.log")
    yield process
    process.stop()


@pytest.fixture
def run(warm: FunctionProcess, endpoint: ResponseEndpoint, ses: SesEmulator) -> Run:
    client = boto3.client("sqs", endpoint_url=ses.endpoint, region_name=REGION)
    url = os.environ[QUEUE_VARIABLE]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def batch(records: dict[str, Any]) -> Any:
        return warm.invoke(records).result

    # The event source mapping, in the test's thread: the warm environment serves one invocation at a time.
    mapping = EventSourceMapping(client, url, arn, batch, visibility_timeout=QUEUE_VISIBILITY)

    def send(request: dict[str, Any], *, timeout: float | None = None) -> Answer:
        invocation = warm.invoke(request, timeout)
        assert not warm.killed_at_deadline, f"the function hit its deadline:\n{warm.logs()[-3000:]}"
        assert invocation.error is None, invocation.error
        answer = answered(endpoint, mapping, request["RequestId"], within=60)
        assert answer is not None, f"no answer for {request['RequestType']}:\n{warm.logs()[-3000:]}"
        return answer

    return send


def test_the_bundle_needs_nothing_but_the_managed_runtime(spec: FunctionSpec) -> None:
    # crhelper comes from the bundle, not from the interpreter.
    bare = subprocess.run([str(lambda_python()), "-c", "import crhelper"], capture_output=True, check=False)
    assert bare.returncode != 0
    installed = subprocess.run(
        [str(lambda_python()), "-m", "pip", "list", "--format=json"], capture_output=True, check=True, text=True
    )
    names = {package["name"].lower() for package in json.loads(installed.stdout)}
    assert {"boto3", "awslambdaric"} <= names
    assert not names & {"crhelper", "aws-cdk-lib", "moto"}
    assert (spec.code_dir / "crhelper" / "resource_helper.py").is_file()


# What a cold start makes, the bundled handler's modules and every client it uses, while the cycle collector
# records how many objects each of its passes could walk (`gc.get_objects()` lists the three generations, not
# what `gc.freeze` set aside).
_COLD_START_COLLECTIONS = """
import gc, json
walkable = []
gc.callbacks.append(lambda phase, info: walkable.append(len(gc.get_objects())) if phase == "start" else None)
import lambda_handler.index
from lambda_handler import queue, ses, store
ses.SesClients().get("ses"), ses.SesClients().get("sesv2")
store.DynamoStore("table")._client, queue.SqsQueue("https://sqs.us-east-1.amazonaws.com/1/q.fifo")._client
print(json.dumps({"walkable": walkable, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "from": lambda_handler.__file__}))
"""


def in_a_fresh_environment(spec: FunctionSpec, code: str) -> dict[str, Any]:
    """What Python code prints (JSON) run by the function's interpreter in its task root, as a cold start imports
    the bundle: its modules from their bytecode, nothing written."""
    task = task_root(spec.code_dir)
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(task),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    made = subprocess.run(
        [str(lambda_python()), "-c", code],
        capture_output=True,
        check=True,
        text=True,
        env=environment,
        cwd=task,  # as Lambda starts it, and so that `-c` cannot import the repository's source
    )
    report: dict[str, Any] = json.loads(made.stdout)
    return report


def test_a_cold_start_makes_its_modules_and_clients_without_the_collector_walking_them(spec: FunctionSpec) -> None:
    # A full pass over them was about 15 ms of a cold start, the collector about 30 ms in all (long_lived.py).
    report = in_a_fresh_environment(spec, _COLD_START_COLLECTIONS)
    assert Path(report["from"]).is_relative_to(task_root(spec.code_dir)), report["from"]
    assert report["enabled"], "the collector is left running for what the invocations make"
    assert report["frozen"] > 50_000, report["frozen"]
    # The few passes that ran walked what the interpreter had made before the handler's first import (some 7,000
    # objects here, 10,000 by the last), never the clients' service models: without the pauses, 139 passes walked
    # up to some 71,000.
    assert max(report["walkable"], default=0) < 20_000, report["walkable"]


# Every module of the bundle imported as the runtime imports it, recording each one compiled from its source.
_COLD_START_COMPILES = """
import importlib, importlib._bootstrap_external as external, json, pathlib
compiled = []
to_code = external.SourceLoader.source_to_code
def recording(self, data, path, *, _optimize=-1):
    compiled.append(path)
    return to_code(self, data, path, _optimize=_optimize)
external.SourceLoader.source_to_code = recording
for source in sorted(pathlib.Path().rglob("*.py")):
    importlib.import_module(".".join(source.with_suffix("").parts).removesuffix(".__init__"))
print(json.dumps({"compiled": compiled, "imported": len(list(pathlib.Path().rglob("*.py")))}))
"""


def test_a_cold_start_compiles_none_of_the_bundles_modules(spec: FunctionSpec) -> None:
    # They were about 20 ms of a cold start here (docs/PERFORMANCE.md). The harness runs the copy of the bundle
    # that task_root() compiles for its own Python wherever the bundle ships bytecode for Lambda's.
    report = in_a_fresh_environment(spec, _COLD_START_COMPILES)
    assert report["imported"] == len(list(spec.code_dir.rglob("*.py"))) > 20
    assert report["compiled"] == []


@pytest.mark.parametrize("policy", [None, ses_lib.HttpsPolicy.REQUIRE], ids=["no-policy", "require-https"])
def test_whole_lifecycle(
    run: Run, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized], policy: Any
) -> None:
    expected_policy = {"HttpsPolicy": policy.value} if policy else {}
    first = properties(stacks, https_policy=policy)
    # create
    created = run(event("Create", endpoint, first))
    assert (created.status, created.physical_id) == ("SUCCESS", physical_id("marketing"))
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com", **expected_policy}
    # change the domain
    second = properties(stacks, https_policy=policy, domain="links.example.com")
    changed = run(event("Update", endpoint, second, old_properties=first, physical_id=created.physical_id))
    assert (changed.status, changed.physical_id) == ("SUCCESS", created.physical_id)
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "links.example.com", **expected_policy}
    # move to another set, then CloudFormation's cleanup of the old id
    third = properties(stacks, https_policy=policy, domain="links.example.com", set_name="transactional")
    moved = run(event("Update", endpoint, third, old_properties=second, physical_id=changed.physical_id))
    assert (moved.status, moved.physical_id) == ("SUCCESS", physical_id("transactional"))
    assert run(event("Delete", endpoint, second, physical_id=changed.physical_id)).status == "SUCCESS"
    assert ses.tracking("marketing") == {}
    assert ses.tracking("transactional") == {"CustomRedirectDomain": "links.example.com", **expected_policy}
    # delete, and delete again
    for _ in range(2):
        deleted = run(event("Delete", endpoint, third, physical_id=moved.physical_id))
        assert (deleted.status, deleted.physical_id) == ("SUCCESS", moved.physical_id)
    assert ses.tracking("transactional") == {}


def test_failed_create_then_its_rollback_delete(
    run: Run, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized]
) -> None:
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "theirs.example.com"}
    props = properties(stacks)
    created = run(event("Create", endpoint, props))
    assert created.status == "FAILED"
    assert "already has tracking options" in created.reason
    assert run(event("Delete", endpoint, props, physical_id=created.physical_id)).status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "theirs.example.com"}


def test_failed_update_then_the_swapped_rollback_update(
    run: Run, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized]
) -> None:
    old = properties(stacks)
    new = properties(stacks, domain="click.unverified.org")
    pid = run(event("Create", endpoint, old)).physical_id
    failed = run(event("Update", endpoint, new, old_properties=old, physical_id=pid))
    assert failed.status == "FAILED"
    assert failed.reason.startswith("SES rejected CustomRedirectDomain 'click.unverified.org'")
    rollback = run(event("Update", endpoint, old, old_properties=new, physical_id=pid))
    assert (rollback.status, rollback.physical_id) == ("SUCCESS", pid)
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}


def test_foreign_physical_ids_and_duplicate_deliveries(
    run: Run, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized]
) -> None:
    props = properties(stacks)
    create = event("Create", endpoint, props)
    assert run(create).status == "SUCCESS"
    run(dict(create))  # duplicate delivery
    assert endpoint.answers[create["RequestId"]][0].status == "SUCCESS"
    # Ids never issued: the Delete after a failed Create whose FAILED answer CloudFormation heard (crhelper's
    # format), and another resource's after a Create CloudFormation cancelled, change nothing. (This resource's,
    # after a cancelled Create, removes what it holds: tests/test_cancelled.py.)
    foreign = [("TrackingStack_Tracking_ABCD1234", "Tracking"), ("TrackingStack-Another-1AB2CD3EF4GH", "Another")]
    for physical, logical in foreign:
        assert run(event("Delete", endpoint, props, physical_id=physical, logical_id=logical)).status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    delete = event("Delete", endpoint, props, physical_id=physical_id("marketing"))
    assert [run(delete).status, run(dict(delete)).status] == ["SUCCESS", "SUCCESS"]
    assert ses.tracking("marketing") == {}


def test_out_of_band_changes(
    run: Run, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized]
) -> None:
    props = properties(stacks)
    pid = run(event("Create", endpoint, props)).physical_id
    # the options removed by hand: an Update puts them back
    ses.backend.config_sets["marketing"].tracking_options = {}
    assert run(event("Update", endpoint, props, old_properties=props, physical_id=pid)).status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    # the options changed by someone else: a Delete leaves them
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "theirs.example.com"}
    assert run(event("Delete", endpoint, props, physical_id=pid)).status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "theirs.example.com"}
    # the set deleted: neither an Update nor its rollback is blocked by it (the options went with it), a Delete
    # succeeds
    del ses.backend.config_sets["marketing"]
    updated = run(event("Update", endpoint, props, old_properties=props, physical_id=pid))
    assert (updated.status, updated.physical_id) == ("SUCCESS", pid)
    assert run(event("Delete", endpoint, props, physical_id=pid)).status == "SUCCESS"


@pytest.mark.parametrize(("bad", "reason"), BAD_INPUT)
def test_bad_input_fails_fast_and_changes_nothing(
    run: Run, endpoint: ResponseEndpoint, ses: SesEmulator, bad: dict[str, Any], reason: str
) -> None:
    ses.middleware.calls.clear()
    answer = run(event("Create", endpoint, bad))
    assert answer.status == "FAILED"
    assert answer.reason.startswith(reason)
    assert len(answer.reason) < MAX_REASON
    assert ses.ses_calls == []
    assert ses.tracking("marketing") == {}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_adopting(
    scenario: Callable[[Harness], None],
    run: Run,
    endpoint: ResponseEndpoint,
    ses: SesEmulator,
    stacks: Callable[..., Synthesized],
    warm: FunctionProcess,
) -> None:
    def adopting(name: str = "marketing", domain: str = "click.example.com", policy: str | None = None) -> Any:
        https = ses_lib.HttpsPolicy(policy) if policy else None
        return properties(stacks, adopt_existing=True, set_name=name, domain=domain, https_policy=https)

    scenario(Harness(run, endpoint, ses, adopting, warm.logs))


# --- Faults -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "throttle", "reset"])
def test_transient_ses_faults_are_ridden_out(
    run: Run, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized], fault: str
) -> None:
    ses.middleware.inject(fault, operation="CreateConfigurationSetTrackingOptions", times=2)
    assert run(event("Create", endpoint, properties(stacks))).status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}


def test_ses_slower_than_the_read_timeout_is_retried(
    run: Run, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized]
) -> None:
    ses.middleware.inject("slow", operation="CreateConfigurationSetTrackingOptions", delay=12)
    assert run(event("Create", endpoint, properties(stacks))).status == "SUCCESS"
    outcomes = [c.outcome for c in ses.middleware.calls if c.operation == "CreateConfigurationSetTrackingOptions"]
    assert outcomes == ["slow", "passed"]


def test_the_answer_survives_a_refused_connection_and_a_failed_put(
    warm: FunctionProcess, ses: SesEmulator, stacks: Callable[..., Synthesized], ca: Any
) -> None:
    # GIVEN an endpoint that refuses connections for a while, then fails the first PUT
    late = ResponseEndpoint(ca)
    late.fail_next(500)
    timer = threading.Timer(1.5, late.start)
    timer.start()
    try:
        request = event("Create", late, properties(stacks))
        warm.invoke(request)
        answer = late.wait(request["RequestId"], timeout=2)
    finally:
        timer.join()
        late.stop()
    # THEN the function kept trying, and CloudFormation got the answer
    assert answer is not None
    assert answer.status == "SUCCESS"
    assert late.statuses == []
    assert "ConnectionRefusedError" in warm.logs()


def test_near_its_deadline_the_function_answers_failed_with_the_events_id(
    warm: FunctionProcess, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized]
) -> None:
    props = properties(stacks)
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "click.example.com"}
    # SES hangs past the read timeout, and the function has 30 s left
    ses.middleware.inject("slow", operation="UpdateConfigurationSetTrackingOptions", times=3, delay=15)
    request = event("Update", endpoint, props, old_properties=props, physical_id=physical_id("marketing"))
    invocation = warm.invoke(request, timeout=30)
    answer = endpoint.wait(request["RequestId"], timeout=1)
    assert answer is not None
    assert not warm.killed_at_deadline
    assert answer.status == "FAILED"
    assert answer.physical_id == physical_id("marketing")
    assert answer.reason.startswith("SES did not complete UpdateConfigurationSetTrackingOptions for 'marketing'")
    # the answer went out, and the invocation returned, before Lambda would have killed it
    assert invocation.finished.is_set()


def test_an_ses_outage_is_answered_before_the_deadline(
    warm: FunctionProcess, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized]
) -> None:
    ses.middleware.inject("500", operation="CreateConfigurationSetTrackingOptions", times=1000)
    request = event("Create", endpoint, properties(stacks))
    warm.invoke(request, timeout=30)
    answer = endpoint.wait(request["RequestId"], timeout=1)
    assert answer is not None
    assert not warm.killed_at_deadline
    assert answer.status == "FAILED"
    assert answer.reason.startswith("SES CreateConfigurationSetTrackingOptions failed on 'marketing': InternalFailure")


# --- Load -------------------------------------------------------------------------------------------


def test_twenty_creates_at_once_take_turns_at_ses_one_call_a_second(
    spec: FunctionSpec,
    endpoint: ResponseEndpoint,
    ses: SesEmulator,
    stacks: Callable[..., Synthesized],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    # GIVEN a stack of twenty TrackingOptions and SES allowing one tracking-options call a second
    synthesized = stacks(count=20)
    events = []
    for index in range(20):
        if index:
            ses.backend.create_configuration_set(f"marketing{index}")
        events.append(event("Create", endpoint, synthesized.resource_properties(f"Tracking{index}")))
    service = LambdaService(lambda n: FunctionProcess(spec, tmp_path / f"function{n}.log"))
    client = boto3.client("sqs", endpoint_url=ses.endpoint, region_name=REGION)
    url = os.environ[QUEUE_VARIABLE]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = EventSourceMapping(client, url, arn, service.invoke_sync, visibility_timeout=QUEUE_VISIBILITY).start()
    ses.middleware.bucket = TokenBucket(rate=1.0)
    try:
        # WHEN CloudFormation sends all twenty Creates at once
        started = time.monotonic()
        for request in events:
            service.invoke_async(request)
        answers = [endpoint.wait(request["RequestId"], timeout=180) for request in events]
        elapsed = time.monotonic() - started
    finally:
        mapping.stop()
        service.close()
        ses.middleware.bucket = None
    # THEN every one succeeds: one went straight to SES, the others took their turns from the queue
    assert all(answer is not None and answer.status == "SUCCESS" for answer in answers), answers
    assert all(ses.tracking(request["ResourceProperties"]["ConfigurationSetName"]) for request in events)
    throttled = sum(1 for call in ses.ses_calls if call.outcome == "throttle")
    assert mapping.batches > 0
    record_property("twenty_creates_seconds", round(elapsed, 1))
    record_property("throttled_calls", throttled)
    print(f"\n20 Creates at once at 1 call/s: {elapsed:.1f} s, {throttled} throttled calls")


# --- Secrecy ----------------------------------------------------------------------------------------

_SIGNATURE = re.compile(r"X-Amz-Signature=([0-9a-f]{64})")


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_no_response_url_signature_reaches_the_logs_at_any_level(
    spec: FunctionSpec,
    endpoint: ResponseEndpoint,
    ses: SesEmulator,
    stacks: Callable[..., Synthesized],
    tmp_path: Path,
    log_format: str,
) -> None:
    debug = {"AWS_LAMBDA_LOG_LEVEL": "DEBUG", "AWS_LAMBDA_LOG_FORMAT": log_format}
    function = FunctionProcess(spec, tmp_path / "debug.log", extra_env=debug)
    props = properties(stacks)
    # A set's name is the user's input, logged on every line of its event: here, the event's own ResponseURL.
    url_as_name = event("Create", endpoint, props)
    url_as_name["ResourceProperties"] = {
        **url_as_name["ResourceProperties"],
        "ConfigurationSetName": url_as_name["ResponseURL"],
    }
    requests = [
        event("Create", endpoint, props),
        event("Create", endpoint, {**props, "CustomRedirectDomain": "not a domain"}),
        url_as_name,
        event("Update", endpoint, props, old_properties=props, physical_id=physical_id("marketing")),
        event("Delete", endpoint, props, physical_id=physical_id("marketing")),
    ]
    endpoint.fail_next(500)  # a retried delivery logs too
    try:
        for request in requests:
            function.invoke(request)
            assert endpoint.wait(request["RequestId"], timeout=2) is not None
    finally:
        function.stop()
    logs = function.logs()
    # DEBUG logging is really on: crhelper logged the whole event, ResponseURL included.
    assert "DEBUG" in logs.upper()
    assert "ResponseURL" in logs
    for request in requests:
        signature = _SIGNATURE.search(request["ResponseURL"])
        assert signature is not None
        assert signature.group(1) not in logs
    assert "X-Amz-Credential" not in logs
    if log_format == "JSON":
        # Every line is a JSON object; the set's name is there, its query redacted.
        records = [json.loads(line) for line in json_lines(logs)]
        names = {
            r.get("configurationSetName")
            for r in records
            if r.get("cloudFormationRequestId") == url_as_name["RequestId"]
        }
        assert names == {url_as_name["ResponseURL"].split("?", 1)[0] + "?REDACTED"}


# --- The function's logs, as CloudWatch Logs Insights reads them ------------------------------------


def _fields(request: dict[str, Any]) -> dict[str, str]:
    """The fields each line of this request's handling carries."""
    return {
        "requestType": request["RequestType"],
        "logicalResourceId": request["LogicalResourceId"],
        "cloudFormationRequestId": request["RequestId"],
        "stackId": request["StackId"],
        "configurationSetName": request["ResourceProperties"]["ConfigurationSetName"],
    }


def test_the_readmes_query_finds_a_tenants_failures_each_in_one_line(
    run: Run, warm: FunctionProcess, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized]
) -> None:
    (query,) = readme_queries()
    # GIVEN tenant-a, whose set SES does not have, and another tenant, whose set it has
    props = properties(stacks)
    tenant_a = {**props, "ConfigurationSetName": "tenant-a"}
    bad_input = event("Create", endpoint, {**tenant_a, "CustomRedirectDomain": "not a domain"}, logical_id="TenantA")
    queued = event("Create", endpoint, tenant_a, logical_id="TenantA")
    other_bad = event("Create", endpoint, {**props, "CustomRedirectDomain": "not a domain"}, logical_id="Marketing")
    other = event("Create", endpoint, props, logical_id="Marketing")
    requests = {request["RequestId"]: request for request in (bad_input, queued, other_bad, other)}
    start = len(warm.logs())
    # WHEN tenant-a's Create fails on its input, then again at SES, served from the queue (another request holds
    # the SES lane), and the other tenant's fails and succeeds
    assert run(bad_input).status == "FAILED"
    now = time.time()
    DynamoStore(os.environ[TABLE_VARIABLE]).take_lane("another-request", now, now + 2.0)
    assert run(queued).status == "FAILED"
    assert run(other_bad).status == "FAILED"
    assert run(other).status == "SUCCESS"
    lines = json_lines(warm.logs()[start:])
    records = [json.loads(line) for line in lines]
    # THEN every line the function printed carries the fields of the event it belongs to
    assert records
    for record in records:
        request = requests[record["cloudFormationRequestId"]]
        assert {key: record.get(key) for key in _fields(request)} == _fields(request), record
    # AND the queued Create's lines came from two invocations: the event's and the queue's batch
    assert len({r["requestId"] for r in records if r["cloudFormationRequestId"] == queued["RequestId"]}) == 2
    # AND the README's query finds tenant-a's two failures, each one WARNING line with the reason, no traceback
    rows = Query.parse(query).run(lines)
    messages = sorted(row["message"] for row in rows)
    assert len(messages) == 2, messages
    assert messages[0].startswith("Create answered FAILED: Configuration set 'tenant-a' does not exist")
    assert messages[1].startswith("Create answered FAILED: CustomRedirectDomain 'not a domain' is not a hostname")
    for row in rows:
        assert {key: row.get(key) for key in ("level", "requestType", "logicalResourceId", "configurationSetName")} == {
            "level": "WARNING",
            "requestType": "Create",
            "logicalResourceId": "TenantA",
            "configurationSetName": "tenant-a",
        }
    assert not [record for record in records if "stackTrace" in record]
    # AND the other tenant's failure is a line of its own, which the query leaves out
    assert [r["message"] for r in records if r["level"] == "WARNING" and r["logicalResourceId"] == "Marketing"]


def test_the_function_logs_from_the_level_lambda_gives_it(
    spec: FunctionSpec, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized], tmp_path: Path
) -> None:
    # GIVEN the function with ApplicationLogLevel WARN (crhelper sets the root logger's level on every event)
    function = FunctionProcess(spec, tmp_path / "warn.log", extra_env={"AWS_LAMBDA_LOG_LEVEL": "WARN"})
    request = event("Create", endpoint, {**properties(stacks), "CustomRedirectDomain": "not a domain"})
    try:
        # WHEN a Create fails on its input
        function.invoke(request)
        answer = endpoint.wait(request["RequestId"], timeout=2)
    finally:
        function.stop()
    # THEN the log has its FAILED line, and no line below WARNING
    assert answer is not None
    assert answer.status == "FAILED"
    records = [json.loads(line) for line in function.logs().splitlines()]
    assert {record["level"] for record in records} == {"WARNING"}
    assert [record["message"] for record in records] == [f"Create answered FAILED: {answer.reason}"]


def test_a_bundle_missing_a_module_fails_at_init(spec: FunctionSpec, tmp_path: Path, ses: SesEmulator) -> None:
    # GIVEN the bundle without crhelper, as a packaging mistake would leave it
    broken = tmp_path / "bundle"
    shutil.copytree(spec.code_dir, broken)
    shutil.rmtree(broken / "crhelper")
    function = FunctionProcess(dataclasses.replace(spec, code_dir=broken), tmp_path / "broken.log")
    try:
        # THEN the runtime reports the import error instead of answering
        with pytest.raises(FunctionCrashedError) as crashed:
            function.invoke({"RequestType": "Create"}, timeout=30)
    finally:
        function.stop()
    assert "crhelper" in str(crashed.value)


# --- Exactly once, through crashes and the concurrency quota -----------------------------------------

# Where an invocation dies: just after the service applied this call, before its answer reaches the function.
# Each as (operation, a part of the body only that call has); the case's own table, queue or set is matched too.
STRAIGHT_STEPS = {
    name: CALLS[name]
    for name in (
        "claim of the request",
        "take of the SES lane",
        "SES's Create",
        "record of what SES did",
        "record of the answer",
        "record of the delivery",
    )
}
QUEUED_STEPS = {
    "queueing of the request": CALLS["queueing of the request"],
    "message to the queue": CALLS["message to the queue"],
    "worker's take of the request": CALLS["take of the queued request"],
    "worker's SES Create": CALLS["SES's Create"],
    "worker's record of the answer": CALLS["record of the answer"],
}
CRASHES = [*(("straight", name) for name in STRAIGHT_STEPS), *(("queued", name) for name in QUEUED_STEPS)]
# What SES did is recorded on its own only before a further call: a Create with an HTTPS policy, whose Put follows.
WITH_POLICY = {"record of what SES did": "REQUIRE"}
# Lambda's waits a tenth as long: its retry of a failed invocation then comes while the crashed invocation's
# lease (its timeout, 60 s) still runs, so the takeover goes through the queue (on AWS the retry comes after).
CRASH_TIMES = LambdaTimes(0.1)
# A crashed batch's messages come back after this (the construct's 360 s, short).
CRASH_VISIBILITY = 5.0


@dataclasses.dataclass
class _Provider:
    """One case's provider: its function, table and queue, as a stack of its own has them."""

    service: LambdaService
    mapping: EventSourceMapping
    table: str
    queue_url: str
    set_name: str
    lane_store: Any


def _provider(spec: FunctionSpec, ses: SesEmulator, work: Path, number: int) -> _Provider:
    table, set_name = f"state-{number:02d}", f"crash-{number:02d}"
    create_state_table(ses, table)
    url, arn = create_queue(ses, f"requests-{number:02d}.fifo", visibility=CRASH_VISIBILITY)
    ses.backend.create_configuration_set(set_name)
    own = dataclasses.replace(spec, environment={**spec.environment, TABLE_VARIABLE: table, QUEUE_VARIABLE: url})
    service = LambdaService(lambda n: FunctionProcess(own, work / f"crash{number}-{n}.log"), times=CRASH_TIMES)
    client = boto3.client("sqs", endpoint_url=ses.endpoint, region_name=REGION)
    mapping = EventSourceMapping(client, url, arn, service.invoke_sync, visibility_timeout=CRASH_VISIBILITY)
    return _Provider(service, mapping, table, url, set_name, DynamoStore(table))


def test_an_invocation_that_crashes_at_any_step_leaves_work_that_is_resumed_once(
    spec: FunctionSpec, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized], tmp_path: Path
) -> None:
    # GIVEN for each step a provider whose invocation dies just after that call was applied, before its answer
    # (every case at once, each its own provider, so that the test takes one lease, not one per case)
    providers = [_provider(spec, ses, tmp_path, number) for number in range(len(CRASHES))]
    requests, crashed = [], []
    for provider, (path, name) in zip(providers, CRASHES, strict=True):
        operation, matching = (STRAIGHT_STEPS | QUEUED_STEPS)[name]
        own = {"Create": provider.set_name, "SendMessage": provider.queue_url.rsplit("/", 1)[-1]}.get(
            operation.removesuffix("ConfigurationSetTrackingOptions"), provider.table
        )

        def crash(provider: _Provider = provider, name: str = name) -> None:
            crashed.append(name)
            provider.service.kill_running()

        ses.middleware.inject("crash", operation=operation, matching=(matching, own.encode()), then=crash)
        if path == "queued":
            now = time.time()
            provider.lane_store.take_lane("another-request", now, now + 10.0)
        props = {**properties(stacks), "ConfigurationSetName": provider.set_name}
        if name in WITH_POLICY:
            props["HttpsPolicy"] = WITH_POLICY[name]
        requests.append(event("Create", endpoint, props))
    try:
        # WHEN CloudFormation sends each Create (Lambda tries a failed invocation again; the queue gives a
        # crashed batch's messages back)
        for provider, request in zip(providers, requests, strict=True):
            provider.mapping.start()
            provider.service.invoke_async(request)
        answers = [endpoint.wait(request["RequestId"], timeout=150) for request in requests]
        time.sleep(CRASH_VISIBILITY)
    finally:
        for provider in providers:
            provider.mapping.stop()
            provider.service.close()
    # THEN every crash came, and the work each left was resumed: one SUCCESS each, the options in SES
    assert sorted(crashed) == sorted(name for _, name in CRASHES), "a crash never came"
    for (path, name), provider, request, answer in zip(CRASHES, providers, requests, answers, strict=True):
        case = f"{path}, crashed after the {name}"
        assert answer is not None, f"{case}: never answered"
        assert answer.status == "SUCCESS", f"{case}: {answer.reason}"
        assert [a.status for a in endpoint.answers[request["RequestId"]]] == ["SUCCESS"], case
        policy = {"HttpsPolicy": WITH_POLICY[name]} if name in WITH_POLICY else {}
        assert ses.tracking(provider.set_name) == {"CustomRedirectDomain": "click.example.com", **policy}, case
    # AND nothing was undone to be done again
    assert not [c for c in ses.ses_calls if c.operation.startswith("Delete")]


def test_throttled_by_the_accounts_concurrency_every_event_is_answered_once(
    spec: FunctionSpec, endpoint: ResponseEndpoint, ses: SesEmulator, stacks: Callable[..., Synthesized], tmp_path: Path
) -> None:
    # GIVEN an account that runs one execution at a time, and ten Creates sent at once
    synthesized = stacks(count=10)
    requests = []
    for number in range(10):
        if number:
            ses.backend.create_configuration_set(f"marketing{number}")
        requests.append(event("Create", endpoint, synthesized.resource_properties(f"Tracking{number}")))
    concurrency = Concurrency(1)
    made = LambdaService(
        lambda n: FunctionProcess(spec, tmp_path / f"function{n}.log"), concurrency=concurrency, times=LambdaTimes(0.1)
    )
    client = boto3.client("sqs", endpoint_url=ses.endpoint, region_name=REGION)
    url = os.environ[QUEUE_VARIABLE]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = EventSourceMapping(client, url, arn, made.invoke_sync, visibility_timeout=QUEUE_VISIBILITY).start()
    ses.middleware.bucket = TokenBucket(rate=2.0)
    try:
        # WHEN CloudFormation sends them, and Lambda throttles what the quota does not allow
        for request in requests:
            made.invoke_async(request)
        answers = [endpoint.wait(request["RequestId"], timeout=120) for request in requests]
        time.sleep(1.0)
    finally:
        ses.middleware.bucket = None
        mapping.stop()
        made.close()
    # THEN the throttled events and batches were tried again until served: each answered SUCCESS, once
    assert concurrency.peak == 1
    assert concurrency.throttles > 0, "the quota never throttled"
    assert all(answer is not None and answer.status == "SUCCESS" for answer in answers), answers
    assert all(len(endpoint.answers[request["RequestId"]]) == 1 for request in requests)
    assert all(ses.tracking(r["ResourceProperties"]["ConfigurationSetName"]) for r in requests)
    assert made.dropped == []
