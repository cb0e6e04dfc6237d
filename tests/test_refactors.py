"""Refactors keep the options: a construct renamed or moved within its stack changes its logical id, so that
CloudFormation Creates the new logical id and, in the cleanup phase, Deletes the old one; if the update fails
first, it Deletes the new one instead ("Update behaviors of stack resources": replacement, cleanup and rollback).
The provider's record of who in the stack holds a set (lambda_handler/ownership.py) makes each order end with SES
holding what the stack declares. The handler runs in-process against SES, DynamoDB and SQS on moto's server."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from cdk_ses_tracking_options.lambda_handler import environment, index
from cdk_ses_tracking_options.lambda_handler.pacing import LaneState
from cdk_ses_tracking_options.lambda_handler.store import DynamoStore
from tests.bad_input import props
from tests.cfn import ResponseEndpoint, event
from tests.conftest import Invoke, LambdaContext
from tests.loopback import STATE_TABLE
from tests.ses_emulator import REGION, SesEmulator

OLD, NEW = "Tracking", "TenantTracking"
FOREIGN = {"CustomRedirectDomain": "old.example.com", "HttpsPolicy": "REQUIRE"}


def adopting(**kwargs: Any) -> dict[str, Any]:
    return {**props(**kwargs), "AdoptExisting": "true"}


def options(domain: str = "click.example.com", policy: str | None = None) -> dict[str, str]:
    return {"CustomRedirectDomain": domain, **({"HttpsPolicy": policy} if policy else {})}


class Stack:
    """One stack's events for the resource before and after the refactor, as CloudFormation sends them."""

    def __init__(self, invoke: Invoke, endpoint: ResponseEndpoint) -> None:
        self.invoke, self.endpoint = invoke, endpoint
        self.ids: dict[str, str] = {}

    def create(self, logical_id: str, properties: dict[str, Any]) -> str:
        answer = self.invoke(event("Create", self.endpoint, properties, logical_id=logical_id))
        assert answer.status == "SUCCESS", answer.reason
        self.ids[logical_id] = answer.physical_id
        return answer.status

    def delete(self, logical_id: str, properties: dict[str, Any]) -> None:
        request = event("Delete", self.endpoint, properties, physical_id=self.ids[logical_id], logical_id=logical_id)
        for _ in range(2):
            # Delivered twice, as Lambda may: the second changes nothing.
            answer = self.invoke(request)
            assert answer.status == "SUCCESS", answer.reason


@pytest.fixture
def stack(invoke: Invoke, endpoint: ResponseEndpoint) -> Stack:
    return Stack(invoke, endpoint)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(props(), props(), id="same-options"),
        pytest.param(props(), props(domain="links.example.com", policy="REQUIRE"), id="changed-with-the-rename"),
    ],
)
def test_a_renamed_construct_deploys_and_its_options_stay(
    stack: Stack, ses: SesEmulator, before: dict[str, Any], after: dict[str, Any]
) -> None:
    # GIVEN a stack's TrackingOptions, then renamed: the new logical id's Create, the old one's cleanup Delete
    stack.create(OLD, before)
    stack.create(NEW, after)
    stack.delete(OLD, before)
    # THEN SES holds what the stack declares, and deleting the stack removes it
    expected = options(after["CustomRedirectDomain"], after.get("HttpsPolicy"))
    assert ses.tracking("marketing") == expected
    stack.delete(NEW, after)
    assert ses.tracking("marketing") == {}


def test_a_rename_rolled_back_gives_the_options_back_to_the_old_resource(stack: Stack, ses: SesEmulator) -> None:
    # GIVEN a rename whose update fails after the new logical id's Create: the rollback Deletes the new one
    stack.create(OLD, props())
    stack.create(NEW, props(domain="links.example.com", policy="REQUIRE"))
    stack.delete(NEW, props(domain="links.example.com", policy="REQUIRE"))
    # THEN the set is back to what the old resource, still in the stack, declares (no policy: SES's default,
    # set as such in the same call as the domain); and it is still its to remove
    assert ses.tracking("marketing") == options(policy="OPTIONAL")
    stack.delete(OLD, props())
    assert ses.tracking("marketing") == {}


def test_a_renamed_adopting_construct_keeps_the_options_and_gives_back_what_was_found(
    stack: Stack, ses: SesEmulator
) -> None:
    # GIVEN options found on the set, adopted, then the construct renamed (and its domain changed)
    ses.backend.config_sets["marketing"].tracking_options = dict(FOREIGN)
    stack.create(OLD, adopting())
    stack.create(NEW, adopting(domain="links.example.com"))
    stack.delete(OLD, adopting())
    # THEN tracking goes through the declared domain, not the foreign one ...
    assert ses.tracking("marketing") == options("links.example.com", "OPTIONAL")
    # ... and what was found before the first adoption comes back when the last resource goes
    stack.delete(NEW, adopting(domain="links.example.com"))
    assert ses.tracking("marketing") == FOREIGN


def test_a_renamed_construct_that_does_not_adopt_still_takes_over_its_own_options(
    stack: Stack, ses: SesEmulator
) -> None:
    # GIVEN adopted options, and the renamed construct no longer adopting: they are the stack's, not foreign
    ses.backend.config_sets["marketing"].tracking_options = dict(FOREIGN)
    stack.create(OLD, adopting())
    stack.create(NEW, props())
    stack.delete(OLD, adopting())
    assert ses.tracking("marketing") == options(policy="OPTIONAL")
    stack.delete(NEW, props())
    assert ses.tracking("marketing") == FOREIGN


def test_the_old_id_deleted_first_then_the_new_one_created_ends_with_the_declared_options(
    stack: Stack, ses: SesEmulator
) -> None:
    # GIVEN the refactor deployed in two steps: the construct removed, then added under its new id
    stack.create(OLD, props())
    stack.delete(OLD, props())
    stack.create(NEW, props())
    assert ses.tracking("marketing") == options()


def test_fails_a_move_onto_foreign_options_equal_to_ours_and_changes_nothing(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN another set whose options, set by someone else, happen to equal this resource's
    ses.backend.config_sets["transactional"].tracking_options = options()
    pid = invoke(event("Create", endpoint, props())).physical_id
    # WHEN the resource moves there
    moved = invoke(event("Update", endpoint, props(name="transactional"), old_properties=props(), physical_id=pid))
    # THEN the move fails clearly and both sets are as they were: the foreign options are never taken, nor later
    # removed by this stack
    assert moved.status == "FAILED"
    assert "already has tracking options this stack did not create" in moved.reason
    assert ses.tracking("transactional") == options()
    assert ses.tracking("marketing") == options()


def test_a_move_onto_foreign_options_equal_to_ours_adopts_them_when_asked_and_gives_them_back(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    ses.backend.config_sets["transactional"].tracking_options = options()
    pid = invoke(event("Create", endpoint, adopting())).physical_id
    moved = invoke(
        event("Update", endpoint, adopting(name="transactional"), old_properties=adopting(), physical_id=pid)
    )
    assert moved.status == "SUCCESS", moved.reason
    cleanup = invoke(event("Delete", endpoint, adopting(), physical_id=pid))
    assert cleanup.status == "SUCCESS"
    assert ses.tracking("marketing") == {}
    # Deleting the resource gives the set back what was found there (here: the same options), not nothing
    invoke(event("Delete", endpoint, adopting(name="transactional"), physical_id=moved.physical_id))
    assert ses.tracking("transactional") == options()


@pytest.mark.parametrize("rollback", [False, True], ids=["update", "its-rollback"])
def test_a_set_deleted_out_of_band_never_blocks_an_update_or_its_rollback(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, rollback: bool
) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    ses.backend.config_sets.pop("marketing")
    new, old = props(domain="links.example.com"), props()
    if rollback:
        new, old = old, new
    answer = invoke(event("Update", endpoint, new, old_properties=old, physical_id=pid))
    assert answer.status == "SUCCESS", answer.reason
    assert answer.physical_id == pid
    assert ses.tracking("marketing") is None


@pytest.mark.parametrize("found", ["old.example.com.", "OLD_DOMAIN"], ids=["trailing-dot", "not-a-hostname"])
def test_fails_to_adopt_options_it_could_not_give_back_exactly_and_changes_nothing(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, found: str
) -> None:
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": found}
    answer = invoke(event("Create", endpoint, adopting()))
    assert answer.status == "FAILED"
    assert f"CustomRedirectDomain {found!r}, which cannot be recorded" in answer.reason
    assert ses.tracking("marketing") == {"CustomRedirectDomain": found}


# --- From a review: lost answers, crashes, stale records and the table out of reach during a refactor ---------


def test_a_rename_whose_create_lost_its_answer_then_rolled_back_keeps_the_old_resources_options(
    stack: Stack, ses: SesEmulator
) -> None:
    # GIVEN the new id's Create refused as existing (the old id's options), its answer lost: botocore retries, and
    # the retry finds exactly its own domain there
    stack.create(OLD, props())
    ses.middleware.inject("lost", operation="CreateConfigurationSetTrackingOptions")
    stack.create(NEW, props())
    # WHEN the update rolls back
    stack.delete(NEW, props())
    # THEN the options are still the old resource's: they were the stack's before, not made by the lost attempt
    assert ses.tracking("marketing") == options()


def test_a_rename_whose_create_crashed_after_the_switch_then_rolled_back_keeps_the_old_resources_options(
    stack: Stack, ses: SesEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.create(OLD, props())
    changed = props(domain="links.example.com")
    request = event("Create", stack.endpoint, changed, logical_id=NEW)
    # GIVEN the invocation dies once SES holds the switch, before the answer is recorded
    record_answer = DynamoStore.answer

    def dies_once(self: DynamoStore, *args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(DynamoStore, "answer", record_answer)
        raise SystemExit("killed")

    monkeypatch.setattr(DynamoStore, "answer", dies_once)
    with pytest.raises(SystemExit):
        index.handler(request, LambdaContext())
    assert ses.tracking("marketing") == options("links.example.com")
    # WHEN Lambda's retry comes once the dead invocation's lease is over (here: ended by hand), then the rollback
    store, now = environment.from_variables().store, time.time()
    store.expire(request["RequestId"], _holder_of(ses, request["RequestId"]), now)
    store.release_lane(_lane_holder(ses), LaneState(), now)
    answer = stack.invoke(request)
    assert answer.status == "SUCCESS", answer.reason
    stack.ids[NEW] = answer.physical_id
    stack.delete(NEW, changed)
    # THEN the old resource's options are back
    assert ses.tracking("marketing") == options()


def test_a_rename_rolled_back_after_the_set_was_deleted_out_of_band_succeeds(stack: Stack, ses: SesEmulator) -> None:
    stack.create(OLD, props())
    stack.create(NEW, props(domain="links.example.com"))
    ses.backend.config_sets.pop("marketing")
    stack.delete(NEW, props(domain="links.example.com"))
    assert ses.tracking("marketing") is None


def test_fails_a_rename_onto_options_changed_by_someone_else_since(stack: Stack, ses: SesEmulator) -> None:
    # GIVEN the stack's options replaced outside it: the record no longer describes what SES holds
    stack.create(OLD, props())
    ses.backend.config_sets["marketing"].tracking_options = dict(FOREIGN)
    # WHEN the renamed construct's Create comes, without adopt_existing
    answer = stack.invoke(event("Create", stack.endpoint, props(), logical_id=NEW))
    # THEN they are foreign: FAILED, unchanged
    assert answer.status == "FAILED"
    assert "already has tracking options this stack did not create" in answer.reason
    assert ses.tracking("marketing") == FOREIGN


def test_fails_a_take_over_whose_switch_failed_and_switches_back(stack: Stack, ses: SesEmulator) -> None:
    # GIVEN the new id's switch applied by SES, then its answer lost on every attempt
    stack.create(OLD, props())
    ses.middleware.inject("lost", operation="UpdateConfigurationSetTrackingOptions", times=3)
    answer = stack.invoke(event("Create", stack.endpoint, props(domain="links.example.com"), logical_id=NEW))
    assert answer.status == "FAILED"
    # THEN the set is switched back to what the old resource declares, and the rollback's Delete keeps it
    rollback = event(
        "Delete", stack.endpoint, props(domain="links.example.com"), physical_id=answer.physical_id, logical_id=NEW
    )
    assert stack.invoke(rollback).status == "SUCCESS"
    assert ses.tracking("marketing") == options()


def test_fails_a_cleanup_delete_that_cannot_reach_the_table_and_changes_nothing(stack: Stack, ses: SesEmulator) -> None:
    # GIVEN a rename, and the table out of reach for the old id's cleanup Delete
    stack.create(OLD, props())
    stack.create(NEW, props())
    ses.middleware.inject("500", operation="PutItem", times=20)
    answer = stack.invoke(event("Delete", stack.endpoint, props(), physical_id=stack.ids[OLD], logical_id=OLD))
    # THEN without the record it cannot tell whose the options are: FAILED (a cleanup failure leaves the stack's
    # update complete), the new resource's options in place
    assert answer.status == "FAILED"
    assert ses.tracking("marketing") == options()


def test_two_resources_swapping_sets_then_rolled_back_end_as_the_stack_declares(stack: Stack, ses: SesEmulator) -> None:
    stack.create("A", props())
    stack.create("C", props(name="transactional", domain="links.example.com"))
    a0, c0 = stack.ids["A"], stack.ids["C"]
    first, second = props(), props(name="transactional", domain="links.example.com")
    a = stack.invoke(event("Update", stack.endpoint, props(name="transactional"), old_properties=first,
                           physical_id=a0, logical_id="A"))  # fmt: skip
    c = stack.invoke(event("Update", stack.endpoint, props(domain="links.example.com"), old_properties=second,
                           physical_id=c0, logical_id="C"))  # fmt: skip
    assert (a.status, c.status) == ("SUCCESS", "SUCCESS"), (a.reason, c.reason)
    assert ses.tracking("marketing") == options("links.example.com")
    assert ses.tracking("transactional") == options()
    # The rollback: the swapped Updates, then the cleanup Deletes of the ids the forward Updates returned
    ra = stack.invoke(event("Update", stack.endpoint, first, old_properties=props(name="transactional"),
                            physical_id=a.physical_id, logical_id="A"))  # fmt: skip
    rc = stack.invoke(event("Update", stack.endpoint, second, old_properties=props(domain="links.example.com"),
                            physical_id=c.physical_id, logical_id="C"))  # fmt: skip
    assert (ra.status, rc.status) == ("SUCCESS", "SUCCESS"), (ra.reason, rc.reason)
    stack.ids.update(A=a.physical_id, C=c.physical_id)
    stack.delete("A", props(name="transactional"))
    stack.delete("C", props(domain="links.example.com"))
    assert ses.tracking("marketing")["CustomRedirectDomain"] == "click.example.com"  # type: ignore[index]
    assert ses.tracking("transactional")["CustomRedirectDomain"] == "links.example.com"  # type: ignore[index]
    stack.ids.update(A=ra.physical_id, C=rc.physical_id)
    stack.delete("A", first)
    stack.delete("C", second)
    assert (ses.tracking("marketing"), ses.tracking("transactional")) == ({}, {})


def _holder_of(ses: SesEmulator, request_id: str) -> str:
    item = _table(ses).get_item(TableName=STATE_TABLE, Key={"pk": {"S": f"request/{request_id}"}})["Item"]
    return str(item["holder"]["S"])


def _lane_holder(ses: SesEmulator) -> str:
    return str(_table(ses).get_item(TableName=STATE_TABLE, Key={"pk": {"S": "lane"}})["Item"]["holder"]["S"])


def _table(ses: SesEmulator) -> Any:
    return boto3.client("dynamodb", endpoint_url=ses.endpoint, region_name=REGION)
