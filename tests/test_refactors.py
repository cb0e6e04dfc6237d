"""Refactors keep the options: a construct renamed or moved within its stack changes its logical id, so that
CloudFormation Creates the new logical id and, in the cleanup phase, Deletes the old one; if the update fails
first, it Deletes the new one instead ("Update behaviors of stack resources": replacement, cleanup and rollback).
The provider's record of who in the stack holds a set (lambda_handler/ownership.py) makes each order end with SES
holding what the stack declares. The handler runs in-process against SES, DynamoDB and SQS on moto's server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bad_input import props
from tests.cfn import ResponseEndpoint, event
from tests.conftest import Invoke
from tests.ses_emulator import SesEmulator

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
