"""The bundled provider under CloudFormation's own order (tests/cloudformation.py), with IAM enforced as a real
account enforces it (tests/iam_emulator.py): every policy the template gives the role, and nothing more."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.aws_ses import HttpsPolicy

from tests import iam_emulator
from tests.cfn import ResponseEndpoint
from tests.cloudformation import Stack
from tests.iam_emulator import Account
from tests.lambda_runtime import LambdaTimes
from tests.ses_emulator import SesEmulator, TokenBucket
from tests.synthesized import RESOURCE_TYPE, Synthesized, synthesize

pytestmark = pytest.mark.slow

OURS = {"CustomRedirectDomain": "click.example.com"}
# Lambda's retries a twentieth as long as documented, and a batch that fails back in 20 s, not 6 minutes.
FAST: dict[str, Any] = {"times": LambdaTimes(0.05), "queue_visibility": 20.0}


@pytest.fixture(scope="session")
def account(ses_server: SesEmulator) -> Account:
    return Account(ses_server.endpoint)


@pytest.fixture
def stack(ses: SesEmulator, endpoint: ResponseEndpoint, account: Account, tmp_path: Path) -> Iterator[Stack]:
    made = Stack("TrackingStack", account=account, ses=ses, endpoint=endpoint, work=tmp_path, **FAST)
    with iam_emulator.enforced():
        yield made
    made.close()


@pytest.fixture
def template(tmp_path: Path) -> Callable[..., Synthesized]:
    versions = iter(range(100))

    def make(**kwargs: object) -> Synthesized:
        return synthesize(tmp_path / f"cdk.out.{next(versions)}", **kwargs)  # type: ignore[arg-type]

    return make


def custom_resources(synthesized: Synthesized) -> list[str]:
    return sorted(name for name, r in synthesized.template["Resources"].items() if r["Type"] == RESOURCE_TYPE)


def statuses(stack: Stack) -> list[str]:
    return [answer.status for answer in stack.custom_answers()]


def test_removing_a_tracking_options_removes_its_sets_options_in_the_cleanup_phase(
    stack: Stack, ses: SesEmulator, template: Callable[..., Synthesized]
) -> None:
    # GIVEN a stack of two TrackingOptions, one of them on set marketing1
    ses.backend.create_configuration_set("marketing1")
    two = template(count=2)
    assert stack.deploy(two.template, two.assembly_dir) == "CREATE_COMPLETE"
    assert ses.tracking("marketing1") == OURS
    # WHEN the second is removed from the app and the stack updated
    one = template(count=1)
    assert stack.deploy(one.template, one.assembly_dir) == "UPDATE_COMPLETE"
    # THEN the cleanup phase's Delete, under the new template's policies, removed its options
    assert statuses(stack) == ["SUCCESS"] * 3
    assert ses.tracking("marketing1") == {}
    assert ses.tracking("marketing") == OURS
    assert stack.delete() == "DELETE_COMPLETE"
    assert ses.tracking("marketing") == {}


THEIRS = {"CustomRedirectDomain": "theirs.example.com", "HttpsPolicy": "REQUIRE"}


def test_moving_an_adopted_tracking_options_gives_the_old_set_back_its_options_in_the_cleanup_phase(
    stack: Stack, ses: SesEmulator, template: Callable[..., Synthesized]
) -> None:
    # GIVEN options set by hand on marketing, adopted by the stack
    ses.backend.config_sets["marketing"].tracking_options = dict(THEIRS)
    adopted = template(adopt_existing=True)
    assert stack.deploy(adopted.template, adopted.assembly_dir) == "CREATE_COMPLETE"
    # WHEN the construct moves to another set (a new physical id, the old one deleted in the cleanup phase)
    moved = template(adopt_existing=True, set_name="transactional")
    assert stack.deploy(moved.template, moved.assembly_dir) == "UPDATE_COMPLETE"
    # THEN marketing has its own options back, and the new set ours
    assert statuses(stack) == ["SUCCESS"] * 3
    assert ses.tracking("marketing") == THEIRS
    assert ses.tracking("transactional") == OURS


def test_a_renamed_construct_deploys_and_its_set_keeps_its_options(
    stack: Stack, ses: SesEmulator, template: Callable[..., Synthesized]
) -> None:
    # GIVEN a stack's TrackingOptions
    before = template()
    assert stack.deploy(before.template, before.assembly_dir) == "CREATE_COMPLETE"
    # WHEN its construct is renamed: CloudFormation Creates the new logical id, then Deletes the old in the cleanup
    renamed = template(construct_id="Renamed")
    assert stack.deploy(renamed.template, renamed.assembly_dir) == "UPDATE_COMPLETE"
    # THEN the set keeps its options, and they go with the stack
    assert statuses(stack) == ["SUCCESS"] * 3
    assert ses.tracking("marketing") == OURS
    assert stack.delete() == "DELETE_COMPLETE"
    assert ses.tracking("marketing") == {}


def test_a_rename_rolled_back_leaves_the_set_with_the_old_resources_options(
    stack: Stack, ses: SesEmulator, template: Callable[..., Synthesized]
) -> None:
    before = template()
    assert stack.deploy(before.template, before.assembly_dir) == "CREATE_COMPLETE"
    # WHEN the rename comes with a resource of another service whose Create fails once the renamed one's has
    # succeeded (it depends on it: in parallel, which of the two came first would be a race), so that the update
    # rolls back
    renamed = template(construct_id="Renamed", domain="links.example.com")
    renamed.template["Resources"]["Doomed"] = {
        "Type": "AWS::CloudFormation::WaitConditionHandle",
        "DependsOn": custom_resources(renamed),
    }
    stack.failing["Doomed"] = 0.0
    ses.middleware.calls.clear()
    assert stack.deploy(renamed.template, renamed.assembly_dir) == "UPDATE_ROLLBACK_COMPLETE"
    # THEN the renamed resource took the options over, and its rollback gave them back: the set holds the options
    # of the resource the stack kept, which its deletion removes
    switched = [c.operation for c in ses.ses_calls if c.operation.startswith("Update")]
    assert switched == ["UpdateConfigurationSetTrackingOptions"] * 2
    assert ses.tracking("marketing") == OURS
    assert stack.delete() == "DELETE_COMPLETE"
    assert ses.tracking("marketing") == {}


def test_a_stacks_deletion_keeps_what_the_function_needs_until_the_last_delete_has_answered(
    ses: SesEmulator, endpoint: ResponseEndpoint, account: Account, tmp_path: Path, template: Callable[..., Synthesized]
) -> None:
    # GIVEN a stack of 15, SES at 2 calls a second: the Deletes wait for their turns in the queue
    stack = Stack(
        "TrackingStack",
        account=account,
        ses=ses,
        endpoint=endpoint,
        work=tmp_path,
        function_env={"SES_CALL_INTERVAL": "0.55"},
        **FAST,
    )
    for index in range(1, 15):
        ses.backend.create_configuration_set(f"marketing{index}")
    fifteen = template(count=15)
    ses.middleware.bucket = TokenBucket(rate=2.0)
    try:
        with iam_emulator.enforced():
            assert stack.deploy(fifteen.template, fifteen.assembly_dir) == "CREATE_COMPLETE"
            # WHEN the stack is deleted: CloudFormation deletes whatever nothing left depends on at once
            assert stack.delete() == "DELETE_COMPLETE"
    finally:
        ses.middleware.bucket = None
        stack.close()
    # THEN every Delete, handed on or not, answered SUCCESS, and no set keeps options
    deletes = stack.custom_answers("Delete")
    assert [answer.status for answer in deletes] == ["SUCCESS"] * 15, [a.reason for a in deletes]
    assert stack.batches > 0
    assert all(not ses.tracking(name) for name in ["marketing", *(f"marketing{n}" for n in range(1, 15))])


def test_a_stack_creation_rolled_back_while_creates_wait_for_ses_leaves_no_set_with_options(
    ses: SesEmulator, endpoint: ResponseEndpoint, account: Account, tmp_path: Path, template: Callable[..., Synthesized]
) -> None:
    # GIVEN a new stack of 10 tenants, SES at 2 calls a second, and a resource of another service that fails 1 s
    # in, while most tenants still wait their turn in the provider's queue. The other 9 and the failing resource
    # come after the first tenant (they depend on it), so that one Create has always succeeded when the
    # failure comes: in parallel, a machine slow to start the function left none by then, or else all
    # would-be-cancelled Creates raced the failure.
    stack = Stack(
        "TrackingStack",
        account=account,
        ses=ses,
        endpoint=endpoint,
        work=tmp_path,
        function_env={"SES_CALL_INTERVAL": "0.55"},
        **FAST,
    )
    names = ["marketing", *(f"marketing{n}" for n in range(1, 10))]
    for name in names[1:]:
        ses.backend.create_configuration_set(name)
    ten = template(count=10)
    first, *others = custom_resources(ten)
    for name in others:
        ten.template["Resources"][name]["DependsOn"].append(first)
    ten.template["Resources"]["Doomed"] = {"Type": "AWS::CloudFormation::WaitConditionHandle", "DependsOn": [first]}
    stack.failing["Doomed"] = 1.0
    ses.middleware.bucket = TokenBucket(rate=2.0)
    try:
        with iam_emulator.enforced():
            # WHEN the stack is created: CloudFormation cancels the Creates in flight, then sends each a Delete
            # with a physical id of its own (aws-cloudformation/cloudformation-coverage-roadmap#1814)
            assert stack.deploy(ten.template, ten.assembly_dir) == "ROLLBACK_COMPLETE"
    finally:
        ses.middleware.bucket = None
        stack.close()
    cancelled = [e.logical_id for e in stack.events if e.reason == "Resource creation cancelled"]
    assert first not in cancelled
    assert len(cancelled) >= 3, cancelled
    # THEN every Delete answered SUCCESS, and no set keeps options: a cancelled Create that ran before its
    # Delete was undone by it, one that had not run was dropped
    deletes = stack.custom_answers("Delete")
    assert [answer.status for answer in deletes] == ["SUCCESS"] * 10, [a.reason for a in deletes]
    assert {name: ses.tracking(name) for name in names} == {name: {} for name in names}


def test_a_grant_still_propagating_is_waited_for(
    ses: SesEmulator, endpoint: ResponseEndpoint, account: Account, tmp_path: Path, template: Callable[..., Synthesized]
) -> None:
    # GIVEN IAM that applies each policy change 3 s after CloudFormation counts it complete
    stack = Stack("TrackingStack", account=account, ses=ses, endpoint=endpoint, work=tmp_path, iam_delay=3.0, **FAST)
    one = template(https_policy=HttpsPolicy.REQUIRE)
    try:
        with iam_emulator.enforced():
            # WHEN the stack is created: the custom resource's Create comes right after its role's policy
            status = stack.deploy(one.template, one.assembly_dir)
    finally:
        stack.close()
    # THEN its first calls were denied, tried again, and it succeeded
    assert status == "CREATE_COMPLETE", stack.custom_answers()
    assert ses.tracking("marketing") == {**OURS, "HttpsPolicy": "REQUIRE"}
    logs = "".join(path.read_text() for path in tmp_path.glob("*.log"))
    assert "was denied; trying again" in logs


def test_fails_clearly_when_a_permission_is_really_missing(
    stack: Stack, ses: SesEmulator, template: Callable[..., Synthesized]
) -> None:
    # GIVEN a role whose policy lacks the SES v2 grant (as an edited role or an SCP would leave it)
    one = template(https_policy=HttpsPolicy.REQUIRE)
    for resource in one.template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements if "ses:PutConfigurationSetTrackingOptions" not in s["Action"]]
    # WHEN the stack is created
    assert stack.deploy(one.template, one.assembly_dir) == "ROLLBACK_COMPLETE"
    # THEN the Create failed, saying which action was denied, and the rollback left the set as it was
    created = stack.custom_answers("Create")
    assert [answer.status for answer in created] == ["FAILED"]
    assert created[0].reason.startswith("SES denied PutConfigurationSetTrackingOptions on 'marketing'")
    assert ses.tracking("marketing") == {}
