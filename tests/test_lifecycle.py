"""Every corner of CloudFormation's custom resource protocol, as it sends the events: the handler runs
in-process, SES is moto's server over HTTP, the answer goes to an HTTPS endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from cdk_ses_tracking_options.lambda_handler import budget, index
from cdk_ses_tracking_options.lambda_handler.lifecycle import Lifecycle
from tests.adopt_scenarios import SCENARIOS, Harness
from tests.bad_input import BAD_INPUT, MAX_REASON, props
from tests.cfn import ResponseEndpoint, event, physical_id
from tests.conftest import Invoke, LambdaContext
from tests.ses_emulator import SesEmulator


def tracking_calls(ses: SesEmulator) -> list[str]:
    return [call.operation for call in ses.middleware.calls if "TrackingOptions" in call.operation]


# --- Create -----------------------------------------------------------------------------------------


def test_create_sets_the_domain_and_names_the_set_in_the_physical_id(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a set without tracking options
    # WHEN CloudFormation creates the resource
    answer = invoke(event("Create", endpoint, props()))
    # THEN SES redirects through the domain and the id comes from the set name alone
    assert answer.status == "SUCCESS"
    assert answer.physical_id == physical_id("marketing")
    assert answer.data == {"ConfigurationSetName": "marketing", "CustomRedirectDomain": "click.example.com"}
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    assert tracking_calls(ses) == ["CreateConfigurationSetTrackingOptions"]


def test_create_with_https_policy_sets_it_through_sesv2(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    answer = invoke(event("Create", endpoint, props(policy="REQUIRE")))
    assert answer.status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "REQUIRE"}


def test_create_on_a_subdomain_of_a_verified_parent_domain(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    answer = invoke(event("Create", endpoint, props(domain="a.b.example.com")))
    assert answer.status == "SUCCESS"


def test_fails_create_on_set_with_foreign_options_and_rollback_delete_leaves_them(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a set whose tracking options someone else made
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "theirs.example.com"}
    # WHEN the Create fails ...
    created = invoke(event("Create", endpoint, props()))
    assert created.status == "FAILED"
    assert created.reason.startswith("Configuration set 'marketing' already has tracking options")
    assert len(created.reason) < MAX_REASON
    # ... with an id the provider never issues, so the rollback Delete that follows touches nothing
    assert created.physical_id != physical_id("marketing")
    deleted = invoke(event("Delete", endpoint, props(), physical_id=created.physical_id))
    assert deleted.status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "theirs.example.com"}
    assert tracking_calls(ses) == ["CreateConfigurationSetTrackingOptions"]


def test_fails_create_on_set_that_does_not_exist(invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator) -> None:
    answer = invoke(event("Create", endpoint, props(name="nosuchset")))
    assert answer.status == "FAILED"
    assert answer.reason.startswith("Configuration set 'nosuchset' does not exist")


def test_fails_create_with_unverified_domain(invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator) -> None:
    answer = invoke(event("Create", endpoint, props(domain="click.unverified.org")))
    assert answer.status == "FAILED"
    assert answer.reason.startswith("SES rejected CustomRedirectDomain 'click.unverified.org'")
    assert "verify it" in answer.reason
    assert ses.tracking("marketing") == {}


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A denial that stays is tried again for 10 s (lambda_handler/grants.py); these tests need only its end."""
    monkeypatch.setattr(budget, "ACCESS_DENIED_GRACE", 1.5)


def test_a_denial_that_clears_is_tried_again(invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator) -> None:
    # GIVEN SES denying the first two calls, as IAM does while a new grant propagates
    ses.middleware.inject("deny", operation="CreateConfigurationSetTrackingOptions", times=2)
    # WHEN the resource is created
    answer = invoke(event("Create", endpoint, props()))
    # THEN the call was tried again until the grant arrived
    assert answer.status == "SUCCESS"
    outcomes = [c.outcome for c in ses.middleware.calls if c.operation == "CreateConfigurationSetTrackingOptions"]
    assert outcomes == ["deny", "deny", "passed"]


@pytest.mark.usefixtures("short_grace")
def test_fails_create_when_ses_denies_access(invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator) -> None:
    ses.middleware.inject("deny", operation="CreateConfigurationSetTrackingOptions", times=100)
    answer = invoke(event("Create", endpoint, props()))
    assert answer.status == "FAILED"
    assert answer.reason == (
        "SES denied CreateConfigurationSetTrackingOptions on 'marketing': "
        "the provider's role lacks ses:CreateConfigurationSetTrackingOptions"
    )


@pytest.mark.usefixtures("short_grace")
def test_fails_create_when_the_policy_fails_and_removes_the_options_it_made(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN SES accepts the v1 Create but denies the v2 policy call
    ses.middleware.inject("deny", operation="PutConfigurationSetTrackingOptions", times=100)
    answer = invoke(event("Create", endpoint, props(policy="REQUIRE")))
    # THEN the Create fails and leaves nothing behind
    assert answer.status == "FAILED"
    assert answer.reason.startswith("SES denied PutConfigurationSetTrackingOptions on 'marketing'")
    assert answer.physical_id != physical_id("marketing")
    assert ses.tracking("marketing") == {}


@pytest.mark.usefixtures("short_grace")
def test_fails_create_when_policy_and_cleanup_fail_names_its_options_for_the_rollback_delete(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    ses.middleware.inject("deny", operation="PutConfigurationSetTrackingOptions", times=100)
    ses.middleware.inject("deny", operation="DeleteConfigurationSetTrackingOptions", times=100)
    created = invoke(event("Create", endpoint, props(policy="REQUIRE")))
    assert created.status == "FAILED"
    # SES's refusals are expected errors: a line each, with SES's reason, and no traceback.
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING and "Could not remove" in r.getMessage()]
    assert [(r.levelname, r.exc_info) for r in logged] == [("ERROR", None)]
    assert "SES denied DeleteConfigurationSetTrackingOptions" in logged[0].getMessage()
    # The options it made are still there, so the failed Create answers with their id ...
    assert created.physical_id == physical_id("marketing")
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    # ... and the rollback Delete, once SES allows it, removes them.
    ses.middleware.clear_faults()
    deleted = invoke(event("Delete", endpoint, props(policy="REQUIRE"), physical_id=created.physical_id))
    assert deleted.status == "SUCCESS"
    assert ses.tracking("marketing") == {}


def test_duplicate_create_delivery_changes_nothing(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a Create that succeeded
    first = event("Create", endpoint, props(policy="REQUIRE_OPEN_ONLY"))
    assert invoke(first).status == "SUCCESS"
    # WHEN the same event is delivered again
    invoke(dict(first))
    # THEN CloudFormation already holds the first answer, and SES is as the first left it
    assert endpoint.answers[first["RequestId"]][0].status == "SUCCESS"
    assert ses.tracking("marketing") == {
        "CustomRedirectDomain": "click.example.com",
        "HttpsPolicy": "REQUIRE_OPEN_ONLY",
    }


# --- Update -----------------------------------------------------------------------------------------


def test_update_of_the_domain_keeps_the_physical_id(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    answer = invoke(
        event("Update", endpoint, props(domain="links.example.com"), old_properties=props(), physical_id=pid)
    )
    assert answer.status == "SUCCESS"
    assert answer.physical_id == pid
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "links.example.com"}
    assert "UpdateConfigurationSetTrackingOptions" in tracking_calls(ses)


def test_update_recreates_options_removed_out_of_band(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    ses.backend.config_sets["marketing"].tracking_options = {}
    answer = invoke(
        event("Update", endpoint, props(domain="links.example.com"), old_properties=props(), physical_id=pid)
    )
    assert answer.status == "SUCCESS"
    assert answer.physical_id == pid
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "links.example.com"}


def test_update_adds_then_drops_the_https_policy(invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    added = invoke(event("Update", endpoint, props(policy="REQUIRE"), old_properties=props(), physical_id=pid))
    assert added.status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "REQUIRE"}
    # Dropping the prop returns the set to SES's default policy.
    dropped = invoke(event("Update", endpoint, props(), old_properties=props(policy="REQUIRE"), physical_id=pid))
    assert dropped.status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "OPTIONAL"}


def test_update_to_another_set_returns_its_id_and_the_cleanup_delete_removes_the_old_options(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    old_pid = invoke(event("Create", endpoint, props())).physical_id
    # WHEN the resource moves to another set
    moved = invoke(event("Update", endpoint, props(name="transactional"), old_properties=props(), physical_id=old_pid))
    # THEN the new set gets options under a new id, the old set keeps its options for now ...
    assert moved.status == "SUCCESS"
    assert moved.physical_id == physical_id("transactional")
    assert ses.tracking("transactional") == {"CustomRedirectDomain": "click.example.com"}
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    # ... until CloudFormation's cleanup Delete of the old id, with the old properties
    cleanup = invoke(event("Delete", endpoint, props(), physical_id=old_pid))
    assert cleanup.status == "SUCCESS"
    assert ses.tracking("marketing") == {}
    assert ses.tracking("transactional") == {"CustomRedirectDomain": "click.example.com"}


def test_fails_update_to_a_set_with_foreign_options_and_the_swapped_rollback_restores_the_old(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    ses.backend.config_sets["transactional"].tracking_options = {"CustomRedirectDomain": "theirs.example.com"}
    failed = invoke(event("Update", endpoint, props(name="transactional"), old_properties=props(), physical_id=pid))
    assert failed.status == "FAILED"
    assert failed.reason.startswith("Configuration set 'transactional' already has tracking options")
    assert failed.physical_id == pid
    # CloudFormation rolls back: an Update to the same id, old and new properties swapped
    rollback = invoke(event("Update", endpoint, props(), old_properties=props(name="transactional"), physical_id=pid))
    assert rollback.status == "SUCCESS"
    assert rollback.physical_id == pid
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    assert ses.tracking("transactional") == {"CustomRedirectDomain": "theirs.example.com"}


def test_rollback_of_a_completed_move_returns_to_the_old_set_and_cleanup_removes_the_new(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    old_pid = invoke(event("Create", endpoint, props())).physical_id
    new_pid = invoke(
        event("Update", endpoint, props(name="transactional"), old_properties=props(), physical_id=old_pid)
    ).physical_id
    # Another resource fails; CloudFormation sends the swapped Update to the new id ...
    rollback = invoke(
        event("Update", endpoint, props(), old_properties=props(name="transactional"), physical_id=new_pid)
    )
    # ... which takes back the old set's options, still exactly as this resource made them
    assert rollback.status == "SUCCESS"
    assert rollback.physical_id == old_pid
    # and the rollback's cleanup deletes the new id with the properties it had
    cleanup = invoke(event("Delete", endpoint, props(name="transactional"), physical_id=new_pid))
    assert cleanup.status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    assert ses.tracking("transactional") == {}


def test_fails_move_to_set_with_different_options_even_on_rollback(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # Only options identical to the requested ones are taken over; anything else stays foreign.
    ses.backend.config_sets["transactional"].tracking_options = {
        "CustomRedirectDomain": "click.example.com",
        "HttpsPolicy": "REQUIRE",
    }
    pid = invoke(event("Create", endpoint, props())).physical_id
    moved = invoke(event("Update", endpoint, props(name="transactional"), old_properties=props(), physical_id=pid))
    assert moved.status == "FAILED"
    assert ses.tracking("transactional") == {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "REQUIRE"}


@pytest.mark.usefixtures("short_grace")
def test_fails_move_when_the_policy_fails_and_removes_what_it_made_on_the_new_set(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    ses.middleware.inject("deny", operation="PutConfigurationSetTrackingOptions", times=100)
    moved = invoke(
        event(
            "Update", endpoint, props(name="transactional", policy="REQUIRE"), old_properties=props(), physical_id=pid
        )
    )
    assert moved.status == "FAILED"
    assert moved.physical_id == pid
    assert ses.tracking("transactional") == {}
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}


def test_update_from_a_foreign_physical_id_creates_and_returns_the_set_id(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    answer = invoke(
        event("Update", endpoint, props(), old_properties=props(), physical_id="TrackingStack_Tracking_ABCDEFGH")
    )
    assert answer.status == "SUCCESS"
    assert answer.physical_id == physical_id("marketing")
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}


def test_duplicate_update_delivery_is_harmless(invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    update = event("Update", endpoint, props(name="transactional"), old_properties=props(), physical_id=pid)
    first, second = invoke(update), invoke(dict(update))
    assert (first.status, second.status) == ("SUCCESS", "SUCCESS")
    assert first.physical_id == physical_id("transactional")
    assert ses.tracking("transactional") == {"CustomRedirectDomain": "click.example.com"}


# --- Delete -----------------------------------------------------------------------------------------


def test_delete_removes_the_options_and_a_second_delete_succeeds(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    pid = invoke(event("Create", endpoint, props(policy="REQUIRE"))).physical_id
    delete = event("Delete", endpoint, props(policy="REQUIRE"), physical_id=pid)
    assert invoke(delete).status == "SUCCESS"
    assert ses.tracking("marketing") == {}
    # a duplicate delivery, then a later Delete of the same id
    assert invoke(dict(delete)).status == "SUCCESS"
    again = invoke(event("Delete", endpoint, props(policy="REQUIRE"), physical_id=pid))
    assert again.status == "SUCCESS"
    assert again.physical_id == pid


@pytest.mark.parametrize(
    "foreign_id",
    [
        "TrackingStack_Tracking_K3J9QX2B",  # crhelper's, after a failed Create
        "TrackingStack-Tracking-1WQ8JH3K2L0FZ",  # CloudFormation's, after a cancelled Create
        "marketing",
        "ses-tracking-options/",
        "ses-tracking-options/market ing",
        "",
    ],
)
def test_delete_of_a_physical_id_never_issued_touches_nothing(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, foreign_id: str
) -> None:
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "click.example.com"}
    answer = invoke(event("Delete", endpoint, props(), physical_id=foreign_id))
    assert answer.status == "SUCCESS"
    assert answer.physical_id == foreign_id
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    assert tracking_calls(ses) == []


def test_delete_succeeds_when_the_set_is_gone(invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    del ses.backend.config_sets["marketing"]
    assert invoke(event("Delete", endpoint, props(), physical_id=pid)).status == "SUCCESS"


def test_delete_succeeds_when_the_options_were_removed_out_of_band(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    ses.backend.config_sets["marketing"].tracking_options = {}
    assert invoke(event("Delete", endpoint, props(), physical_id=pid)).status == "SUCCESS"


def test_delete_leaves_options_someone_else_changed(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "theirs.example.com"}
    assert invoke(event("Delete", endpoint, props(), physical_id=pid)).status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "theirs.example.com"}


def test_delete_does_not_sleep(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # crhelper sleeps 120 s before answering a Delete unless told otherwise.
    sleeps: list[float] = []
    monkeypatch.setattr("crhelper.resource_helper.sleep", sleeps.append)
    pid = invoke(event("Create", endpoint, props())).physical_id
    assert invoke(event("Delete", endpoint, props(), physical_id=pid), timeout=600).status == "SUCCESS"
    assert sleeps == []


# --- Deadlines, answers and logs --------------------------------------------------------------------


def test_fails_update_near_the_deadline_without_calling_ses_and_keeps_the_id(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    pid = invoke(event("Create", endpoint, props())).physical_id
    ses.middleware.calls.clear()
    answer = invoke(
        event("Update", endpoint, props(domain="links.example.com"), old_properties=props(), physical_id=pid),
        timeout=20,
    )
    assert answer.status == "FAILED"
    assert answer.physical_id == pid
    assert answer.reason.startswith("SES did not complete UpdateConfigurationSetTrackingOptions for 'marketing'")
    assert ses.ses_calls == []


def test_answer_is_retried_when_the_endpoint_fails_the_first_put(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # crhelper counts any HTTP status as delivered; a 5xx from S3 must be retried.
    endpoint.fail_next(500, 503)
    answer = invoke(event("Create", endpoint, props()))
    assert answer.status == "SUCCESS"
    assert endpoint.statuses == []


def test_no_log_line_carries_the_response_url_signature_even_at_debug(
    invoke: Invoke,
    endpoint: ResponseEndpoint,
    ses: SesEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(index.helper, "_log_level", "DEBUG")
    caplog.set_level(logging.DEBUG)
    request = event("Create", endpoint, props())
    signature = request["ResponseURL"].rsplit("X-Amz-Signature=", 1)[1]
    assert invoke(request).status == "SUCCESS"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "ResponseURL" in logged, "crhelper's DEBUG event line should have been captured"
    assert signature not in logged
    assert "X-Amz-Credential" not in logged


# --- Bad input: FAILED with a reason naming the property, and nothing sent to SES -------------------


@pytest.mark.parametrize(("properties", "reason"), BAD_INPUT)
@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_fails_bad_input_with_a_reason_naming_the_property_and_changes_nothing(
    invoke: Invoke,
    endpoint: ResponseEndpoint,
    ses: SesEmulator,
    request_type: str,
    properties: dict[str, Any],
    reason: str,
) -> None:
    pid = physical_id("marketing")
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "click.example.com"}
    ses.middleware.calls.clear()
    extra: dict[str, Any] = {"old_properties": props(), "physical_id": pid} if request_type == "Update" else {}
    answer = invoke(event(request_type, endpoint, properties, **extra))
    assert answer.status == "FAILED"
    assert answer.reason.startswith(reason), answer.reason
    assert len(answer.reason) < MAX_REASON
    assert ses.ses_calls == []
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    if request_type == "Update":
        assert answer.physical_id == pid


def test_fails_bad_input_logged_as_one_warning_line_with_the_reason_and_no_traceback(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = invoke(event("Create", endpoint, props(domain="not a domain")))
    assert answer.status == "FAILED"
    warned = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [("WARNING", f"Create answered FAILED: {answer.reason}", None)]


def test_fails_an_unexpected_error_logged_with_its_traceback_then_the_reason(
    invoke: Invoke,
    endpoint: ResponseEndpoint,
    ses: SesEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bug cannot be produced through SES: a stub raises what no code path expects.
    def broken(*_args: object) -> str:
        raise KeyError("Domain")

    monkeypatch.setattr(Lifecycle, "create", broken)
    answer = invoke(event("Create", endpoint, props()))
    assert answer.reason == "Unexpected KeyError in the provider: 'Domain'"
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelname, r.getMessage()) for r in warned] == [
        ("ERROR", "Unexpected failure"),
        ("WARNING", f"Create answered FAILED: {answer.reason}"),
    ]
    assert warned[0].exc_info is not None
    assert warned[1].exc_info is None


def test_fails_an_event_whose_properties_are_not_a_map(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    request = event("Create", endpoint, props())
    request["ResourceProperties"] = "ConfigurationSetName=marketing"
    answer = invoke(request)
    assert answer.status == "FAILED"
    assert answer.reason == "ResourceProperties must be a map, got str"


# --- SES faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "reset", "throttle"])
def test_transient_ses_faults_are_retried(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, fault: str
) -> None:
    ses.middleware.inject(fault, operation="CreateConfigurationSetTrackingOptions", times=2)
    answer = invoke(event("Create", endpoint, props()))
    assert answer.status == "SUCCESS"
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    outcomes = [c.outcome for c in ses.middleware.calls if c.operation == "CreateConfigurationSetTrackingOptions"]
    assert outcomes == [fault, fault, "passed"]


def test_a_create_whose_answer_was_lost_is_recognised_as_this_stacks(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN SES that applies the Create, then drops the connection before its answer
    ses.middleware.inject("lost", operation="CreateConfigurationSetTrackingOptions")
    # WHEN the provider tries again, and SES says the set already has options
    answer = invoke(event("Create", endpoint, props()))
    # THEN it reads them, finds exactly what it asked for, and manages them as its own
    assert answer.status == "SUCCESS"
    assert answer.physical_id == physical_id("marketing")
    operations = [(c.operation, c.outcome) for c in ses.ses_calls]
    assert operations == [
        ("CreateConfigurationSetTrackingOptions", "lost"),
        ("CreateConfigurationSetTrackingOptions", "passed"),
        ("GetConfigurationSet", "passed"),
    ]
    deleted = invoke(event("Delete", endpoint, props(), physical_id=answer.physical_id))
    assert deleted.status == "SUCCESS"
    assert ses.tracking("marketing") == {}


def test_a_move_whose_create_answer_was_lost_takes_the_new_set_with_its_policy(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN options on one set, moved to another with an HTTPS policy, and SES applying the move's Create,
    # then dropping the connection before its answer
    created = invoke(event("Create", endpoint, props(policy="REQUIRE")))
    ses.middleware.inject("lost", operation="CreateConfigurationSetTrackingOptions")
    moved = props(name="transactional", policy="REQUIRE")
    # WHEN the move's retry finds the new set holding the domain it asked for
    answer = invoke(
        event("Update", endpoint, moved, old_properties=props(policy="REQUIRE"), physical_id=created.physical_id)
    )
    # THEN they are its own: the new set's id, with the policy set
    assert answer.status == "SUCCESS", answer.reason
    assert answer.physical_id == physical_id("transactional")
    assert ses.tracking("transactional") == {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "REQUIRE"}


def test_an_adopting_create_whose_answer_was_lost_adopts_what_it_finds_and_never_deletes_it(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN an adopting Create whose first attempt SES applied, its answer lost
    ses.middleware.inject("lost", operation="CreateConfigurationSetTrackingOptions")
    adopting = {**props(), "AdoptExisting": "true"}
    # WHEN the retry finds options
    answer = invoke(event("Create", endpoint, adopting))
    # THEN they are adopted as found (they may have been someone else's, identical), not taken as created
    assert answer.status == "SUCCESS"
    assert "/adopted/click.example.com/" in answer.physical_id
    # AND the Delete gives them back rather than removing them
    deleted = invoke(event("Delete", endpoint, adopting, physical_id=answer.physical_id))
    assert deleted.status == "SUCCESS"
    assert (ses.tracking("marketing") or {}).get("CustomRedirectDomain") == "click.example.com"


def test_fails_create_whose_answer_was_lost_on_a_set_with_foreign_options(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN a set with someone else's options, and an answer lost on the way back
    ses.backend.config_sets["marketing"].tracking_options = {"CustomRedirectDomain": "theirs.example.com"}
    ses.middleware.inject("lost", operation="CreateConfigurationSetTrackingOptions")
    # WHEN the Create is tried again and read back
    answer = invoke(event("Create", endpoint, props()))
    # THEN the options are not the ones asked for: left alone, and the Create fails
    assert answer.status == "FAILED"
    assert answer.reason.startswith("Configuration set 'marketing' already has tracking options")
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "theirs.example.com"}


@pytest.mark.usefixtures("fast_pacing")
def test_throttling_is_retried_past_botocores_attempts(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    ses.middleware.inject("throttle", operation="CreateConfigurationSetTrackingOptions", times=5)
    assert invoke(event("Create", endpoint, props())).status == "SUCCESS"


def test_fails_when_throttling_outlasts_the_service_timeout(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator
) -> None:
    # GIVEN SES throttling every call, and a resource CloudFormation waits for 65 s (answers are due 60 s before)
    ses.middleware.inject("throttle", operation="CreateConfigurationSetTrackingOptions", times=1000)
    # WHEN it is created
    answer = invoke(event("Create", endpoint, props(), service_timeout="65"))
    # THEN it waited in the queue for its turn, and failed before its ServiceTimeout, saying why
    assert answer.status == "FAILED"
    assert answer.reason.startswith("SES's next turn for CreateConfigurationSetTrackingOptions on 'marketing' is "), (
        answer.reason
    )
    assert "past this resource's ServiceTimeout" in answer.reason
    assert ses.tracking("marketing") == {}


@pytest.mark.parametrize("missing", ["StackId", "RequestId", "LogicalResourceId", "ResponseURL", "RequestType"])
def test_a_malformed_event_never_overwrites_the_previous_answer(
    invoke: Invoke, endpoint: ResponseEndpoint, ses: SesEmulator, missing: str
) -> None:
    # GIVEN a warm function that has answered one request
    first = event("Create", endpoint, props())
    assert invoke(first).status == "SUCCESS"
    # WHEN an event that is not CloudFormation's arrives
    broken = event("Delete", endpoint, props(), physical_id=physical_id("marketing"))
    del broken[missing]
    index.handler(broken, LambdaContext(timeout=30))
    # THEN nothing is sent anywhere, least of all to the previous request's URL, and SES is untouched
    assert [len(answers) for answers in endpoint.answers.values()] == [1]
    assert ses.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}


# --- Adopting existing options, and giving them back ------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_adopting(
    scenario: Callable[[Harness], None],
    invoke: Invoke,
    endpoint: ResponseEndpoint,
    ses: SesEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    def adopting(name: str = "marketing", domain: str = "click.example.com", policy: str | None = None) -> Any:
        return {**props(name, domain, policy), "AdoptExisting": "true"}

    scenario(Harness(invoke, endpoint, ses, adopting, lambda: caplog.text))
