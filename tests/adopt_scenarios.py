"""Adopting existing tracking options and giving them back: each scenario runs in both harnesses, the
handler in-process (test_lifecycle.py) and the bundled function under awslambdaric (test_artifact.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cdk_ses_tracking_options.lambda_handler.physical_ids import parse
from tests.cfn import Answer, ResponseEndpoint, event, physical_id
from tests.ses_emulator import SesEmulator

THEIRS = {"CustomRedirectDomain": "theirs.example.com"}
THEIRS_HTTPS = {"CustomRedirectDomain": "theirs.example.com", "HttpsPolicy": "REQUIRE"}
OURS = {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "OPTIONAL"}


@dataclass
class Harness:
    send: Callable[[dict[str, Any]], Answer]
    endpoint: ResponseEndpoint
    ses: SesEmulator
    # Adopting properties as CloudFormation sends them: make(name=..., domain=..., policy=...).
    make: Callable[..., dict[str, Any]]
    logs: Callable[[], str]

    def given(self, name: str, options: dict[str, str]) -> None:
        self.ses.backend.config_sets[name].tracking_options = dict(options)

    def tracking(self, name: str) -> dict[str, str] | None:
        return self.ses.tracking(name)

    def ok(self, request_type: str, props: dict[str, Any], **extra: Any) -> Answer:
        answer = self.send(event(request_type, self.endpoint, props, **extra))
        assert answer.status == "SUCCESS", answer.reason
        return answer

    def tracking_calls(self) -> list[tuple[str, str]]:
        return [(c.operation, c.outcome) for c in self.ses.middleware.calls if "TrackingOptions" in c.operation]


def adopt_and_give_back(h: Harness) -> None:
    # GIVEN a set whose options were set by hand years ago
    h.given("marketing", THEIRS)
    # WHEN an adopting resource is created
    created = h.ok("Create", h.make())
    # THEN the set switched to ours in place: no Delete, no moment without options
    assert h.tracking("marketing") == OURS
    assert [operation for operation, _ in h.tracking_calls()] == [
        "CreateConfigurationSetTrackingOptions",
        "PutConfigurationSetTrackingOptions",
    ]
    # AND deleting the resource gives the set back exactly what it had
    h.ok("Delete", h.make(), physical_id=created.physical_id)
    assert h.tracking("marketing") == THEIRS


def adopt_and_give_back_with_https_policy(h: Harness) -> None:
    h.given("marketing", THEIRS_HTTPS)
    created = h.ok("Create", h.make(policy="REQUIRE_OPEN_ONLY"))
    assert h.tracking("marketing") == {"CustomRedirectDomain": "click.example.com", "HttpsPolicy": "REQUIRE_OPEN_ONLY"}
    # an Update in place keeps what was found
    updated = h.ok(
        "Update",
        h.make(domain="links.example.com", policy="REQUIRE_OPEN_ONLY"),
        old_properties=h.make(policy="REQUIRE_OPEN_ONLY"),
        physical_id=created.physical_id,
    )
    assert updated.physical_id == created.physical_id
    h.ok("Delete", h.make(domain="links.example.com", policy="REQUIRE_OPEN_ONLY"), physical_id=created.physical_id)
    assert h.tracking("marketing") == THEIRS_HTTPS


def adopting_a_set_without_options_creates_them(h: Harness) -> None:
    created = h.ok("Create", h.make())
    assert created.physical_id == physical_id("marketing")
    assert h.tracking("marketing") == {"CustomRedirectDomain": "click.example.com"}
    h.ok("Delete", h.make(), physical_id=created.physical_id)
    assert h.tracking("marketing") == {}


def rollback_of_an_adopting_create_gives_back(h: Harness) -> None:
    # The Create succeeded; another resource failed, so CloudFormation deletes this one in the rollback.
    h.given("marketing", THEIRS_HTTPS)
    created = h.ok("Create", h.make())
    h.ok("Delete", h.make(), physical_id=created.physical_id)
    assert h.tracking("marketing") == THEIRS_HTTPS


def move_then_cleanup_gives_the_old_set_its_own_options(h: Harness) -> None:
    h.given("marketing", THEIRS)
    old = h.ok("Create", h.make())
    # WHEN the resource moves to a set without options
    moved = h.ok("Update", h.make(name="transactional"), old_properties=h.make(), physical_id=old.physical_id)
    assert h.tracking("transactional") == {"CustomRedirectDomain": "click.example.com"}
    # THEN CloudFormation's cleanup Delete of the old id gives the old set its own options back
    h.ok("Delete", h.make(), physical_id=old.physical_id)
    assert h.tracking("marketing") == THEIRS
    # and the new set's options, which this resource created, go with it
    h.ok("Delete", h.make(name="transactional"), physical_id=moved.physical_id)
    assert h.tracking("transactional") == {}


def move_onto_a_set_with_options_adopts_them(h: Harness) -> None:
    old = h.ok("Create", h.make())
    h.given("transactional", THEIRS_HTTPS)
    moved = h.ok("Update", h.make(name="transactional"), old_properties=h.make(), physical_id=old.physical_id)
    assert h.tracking("transactional") == OURS
    h.ok("Delete", h.make(), physical_id=old.physical_id)
    assert h.tracking("marketing") == {}
    h.ok("Delete", h.make(name="transactional"), physical_id=moved.physical_id)
    assert h.tracking("transactional") == THEIRS_HTTPS


def rollback_of_a_move_returns_to_the_adopted_id(h: Harness) -> None:
    # GIVEN a resource that adopted marketing's options, then moved to (and adopted) transactional's
    h.given("marketing", THEIRS)
    h.given("transactional", THEIRS_HTTPS)
    original = h.ok("Create", h.make())
    moved = h.ok("Update", h.make(name="transactional"), old_properties=h.make(), physical_id=original.physical_id)
    # WHEN another resource fails and CloudFormation rolls back: the swapped Update to the new id
    back = h.ok("Update", h.make(), old_properties=h.make(name="transactional"), physical_id=moved.physical_id)
    # THEN it returns to the very id it had, and the rollback's cleanup gives transactional back
    assert back.physical_id == original.physical_id
    h.ok("Delete", h.make(name="transactional"), physical_id=moved.physical_id)
    assert h.tracking("transactional") == THEIRS_HTTPS
    assert h.tracking("marketing") == OURS
    # AND a later deletion still gives marketing back what it had
    h.ok("Delete", h.make(), physical_id=back.physical_id)
    assert h.tracking("marketing") == THEIRS


def duplicate_adopting_create_changes_nothing(h: Harness) -> None:
    h.given("marketing", THEIRS)
    first = event("Create", h.endpoint, h.make())
    h.send(first)
    h.send(dict(first))
    # CloudFormation keeps the first answer; SES is as the first left it
    answers = h.endpoint.answers[first["RequestId"]]
    assert answers[0].status == "SUCCESS"
    assert h.tracking("marketing") == OURS
    h.ok("Delete", h.make(), physical_id=answers[0].physical_id)
    assert h.tracking("marketing") == THEIRS


def unrestorable_options_are_left_ours_and_logged(h: Harness) -> None:
    # GIVEN options on a domain whose identity is later removed from SES
    h.ses.backend.verify_domain("other.org")
    h.given("marketing", {"CustomRedirectDomain": "links.other.org"})
    created = h.ok("Create", h.make())
    del h.ses.backend.email_identities["other.org"]
    # WHEN the resource is deleted, SES rejects the old options
    h.ok("Delete", h.make(), physical_id=created.physical_id)
    # THEN the deletion still succeeds, the set keeps working with ours, and the log says what and why
    assert h.tracking("marketing") == OURS
    logs = h.logs()
    assert "could not give back the options it was adopted with (domain links.other.org" in logs
    assert "left the set with domain click.example.com" in logs


def changed_since_is_left_alone(h: Harness) -> None:
    h.given("marketing", THEIRS)
    created = h.ok("Create", h.make())
    h.given("marketing", {"CustomRedirectDomain": "newer.example.com"})
    h.ok("Delete", h.make(), physical_id=created.physical_id)
    assert h.tracking("marketing") == {"CustomRedirectDomain": "newer.example.com"}


def _edits(issued: str) -> list[str]:
    """The id as issued, edited: another set, another domain, another policy, a bad sum, cut short, longer."""
    head, _, digest = issued.rpartition("/")
    return [
        issued.replace("/marketing/", "/transactional/", 1),
        issued.replace("theirs.example.com", "other.example.com"),
        issued.replace("/UNSET/", "/REQUIRE/"),
        f"{head}/{'0' * len(digest)}",
        head,
        issued.rsplit("/sum/", 1)[0],
        f"{issued}/extra",
        issued.replace("/adopted/", "/adopted//"),
        issued + "x" * 1024,
    ]


def tampered_or_malformed_ids_are_never_acted_on(h: Harness) -> None:
    h.given("marketing", THEIRS)
    h.given("transactional", {"CustomRedirectDomain": "click.example.com"})
    issued = h.ok("Create", h.make()).physical_id
    assert parse(issued) is not None
    h.ses.middleware.calls.clear()
    for edited in _edits(issued):
        assert parse(edited) is None, edited
        for name in ("marketing", "transactional"):
            # Another resource's Delete: this resource's own, with any id it was never issued, is that of a Create
            # CloudFormation cancelled, and removes what the record says it holds (tests/test_cancelled.py).
            h.ok("Delete", h.make(name=name), physical_id=edited[:1024], logical_id="Another")
    # Nothing was sent to SES, not even a read, and both sets are as they were
    assert h.ses.ses_calls == []
    assert h.tracking("marketing") == OURS
    assert h.tracking("transactional") == {"CustomRedirectDomain": "click.example.com"}


def without_adopt_the_reason_says_how_to_adopt(h: Harness) -> None:
    h.given("marketing", THEIRS)
    props = {key: value for key, value in h.make().items() if key != "AdoptExisting"}
    answer = h.send(event("Create", h.endpoint, props))
    assert answer.status == "FAILED"
    assert "adopt_existing=True" in answer.reason
    assert h.tracking("marketing") == THEIRS


SCENARIOS = [
    pytest.param(scenario, id=scenario.__name__)
    for scenario in (
        adopt_and_give_back,
        adopt_and_give_back_with_https_policy,
        adopting_a_set_without_options_creates_them,
        rollback_of_an_adopting_create_gives_back,
        move_then_cleanup_gives_the_old_set_its_own_options,
        move_onto_a_set_with_options_adopts_them,
        rollback_of_a_move_returns_to_the_adopted_id,
        duplicate_adopting_create_changes_nothing,
        unrestorable_options_are_left_ours_and_logged,
        changed_since_is_left_alone,
        tampered_or_malformed_ids_are_never_acted_on,
        without_adopt_the_reason_says_how_to_adopt,
    )
]
