"""One operation's value (lambda_handler/operation.py): made from the event, encoded and decoded in mirror."""

from __future__ import annotations

import calendar
import time

import pytest

from cdk_ses_tracking_options.lambda_handler.budget import EVENT_MARGIN
from cdk_ses_tracking_options.lambda_handler.operation import Operation, Recorded, sent_at
from tests.bad_input import props
from tests.cfn import ResponseEndpoint, event

NOW = 1_796_000_000.0


def test_an_operation_reads_back_exactly_as_it_was_stored(endpoint: ResponseEndpoint) -> None:
    made = Operation.from_event(event("Create", endpoint, props()), NOW)
    done = made.recorded(Recorded("CreateConfigurationSetTrackingOptions", "marketing", True, True)).taken_over()
    assert Operation.decode(done.stored().encode()) == done.stored()
    assert Operation.decode(done.encode()).deadline == done.deadline


@pytest.mark.parametrize(
    "text", ["", "{}", "[]", '{"event": 1, "firstSeen": 0, "journal": [], "resumed": false}', "not json"]
)
def test_anything_else_is_not_an_operation(text: str) -> None:
    with pytest.raises(ValueError, match="not a stored operation"):
        Operation.decode(text)


def test_the_deadline_counts_from_when_cloudformation_signed_the_response_url(endpoint: ResponseEndpoint) -> None:
    signed = NOW - 100
    request = event("Create", endpoint, props(), service_timeout="600")
    request["ResponseURL"] = endpoint.response_url(request["RequestId"], signed=signed)
    made = Operation.from_event(request, NOW)
    assert made.first_seen == signed
    assert made.deadline == signed + 600 - EVENT_MARGIN
    assert made.abandoned_at == signed + 600


def test_an_unreadable_or_future_signature_date_counts_from_now() -> None:
    assert sent_at("https://example.com/x?X-Amz-Date=garbage", NOW) == NOW
    assert sent_at(None, NOW) == NOW
    later = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(NOW + 60))
    assert sent_at(f"https://example.com/x?X-Amz-Date={later}", NOW) == NOW
    assert sent_at("https://example.com/x?X-Amz-Date=20261101T000000Z", NOW) == calendar.timegm((2026, 11, 1, 0, 0, 0))


def test_its_text_never_shows_the_response_url(endpoint: ResponseEndpoint) -> None:
    request = event("Create", endpoint, props())
    assert "X-Amz-Signature" not in repr(Operation.from_event(request, NOW))
