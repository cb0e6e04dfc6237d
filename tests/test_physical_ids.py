"""Physical ids: what CloudFormation hands back on Delete, read strictly."""

from __future__ import annotations

import pytest

from cdk_ses_tracking_options.lambda_handler.physical_ids import Found, Issued, parse

LONGEST_SET = "s" * 64
LONGEST_DOMAIN = ".".join(["a" * 63] * 3 + ["b" * 61])


@pytest.mark.parametrize(
    "issued",
    [
        Issued("marketing"),
        Issued("marketing", Found("theirs.example.com", None)),
        Issued("marketing", Found("theirs.example.com", "REQUIRE_OPEN_ONLY")),
        Issued("transactional", previous=Issued("marketing", Found("theirs.example.com", "REQUIRE"))),
        Issued("t", Found("x.example.com", "OPTIONAL"), Issued("m", Found("theirs.example.com", None))),
    ],
)
def test_every_id_reads_back_as_issued(issued: Issued) -> None:
    assert parse(issued.encode()) == issued


def test_ids_made_before_adoption_existed_read_as_created_options() -> None:
    assert parse("ses-tracking-options/marketing") == Issued("marketing")
    assert Issued("marketing").encode() == "ses-tracking-options/marketing"


def test_the_longest_id_fits_cloudformations_1_kb() -> None:
    found = Found(LONGEST_DOMAIN, "REQUIRE_OPEN_ONLY")
    longest = Issued(LONGEST_SET, found, Issued(LONGEST_SET, found)).encode()
    assert len(LONGEST_DOMAIN) == 253
    assert len(longest) <= 1024
    assert parse(longest) is not None


@pytest.mark.parametrize(
    "foreign",
    [
        None,
        42,
        "",
        "TrackingStack_Tracking0_ABCD1234",
        "ses-tracking-options/",
        "ses-tracking-options/../marketing",
        "ses-tracking-options/marketing/",
        "ses-tracking-options/marketing/adopted/theirs.example.com/REQUIRE",
        "ses-tracking-options/marketing/sum/0123456789abcdef",
    ],
)
def test_ids_never_issued_read_as_none(foreign: object) -> None:
    assert parse(foreign) is None


def test_a_previous_without_adopted_options_is_never_issued() -> None:
    # A plain previous set is reached again without it, so an id naming one was edited.
    tokens = Issued("t", previous=Issued("m", Found("theirs.example.com", None))).encode()
    assert parse(tokens.replace("/adopted/theirs.example.com/UNSET", "")) is None
