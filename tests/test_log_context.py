"""The event's fields on each log record, and the level crhelper is given: in-process, on a handler of its own
(the function under Lambda's runtime is in test_artifact.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cdk_ses_tracking_options.lambda_handler import log_context
from cdk_ses_tracking_options.lambda_handler.helper import application_log_level

EVENT: dict[str, Any] = {
    "RequestType": "Create",
    "RequestId": "5d3a1b2c-0000-4000-8000-000000000001",
    "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/TrackingStack/5b7e1c10",
    "LogicalResourceId": "TenantA",
    "ResponseURL": "https://cfn.example.com/answer?X-Amz-Signature=0123",
    "ResourceProperties": {"ConfigurationSetName": "tenant-a", "CustomRedirectDomain": "click.example.com"},
}
FIELDS = {
    "requestType": "Create",
    "logicalResourceId": "TenantA",
    "configurationSetName": "tenant-a",
    "cloudFormationRequestId": "5d3a1b2c-0000-4000-8000-000000000001",
    "stackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/TrackingStack/5b7e1c10",
}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    log_context.add_event_fields([handler])
    logger = logging.getLogger("tests.log_context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {field: vars(record)[field] for field in FIELDS if field in vars(record)}


def test_a_line_carries_the_fields_of_the_event_bound_in_its_context(records: list[logging.LogRecord]) -> None:
    # GIVEN an operation served in a context of its own, as the worker serves each
    @log_context.in_own_context
    def serve(event: dict[str, Any]) -> None:
        log_context.bind(event)
        logging.getLogger("tests.log_context").info("inside")

    # WHEN it logs, and a line is logged after it
    serve(EVENT)
    logging.getLogger("tests.log_context").info("after")
    # THEN its line has the event's fields, and the line after it none
    inside, after = records
    assert _fields(inside) == FIELDS
    assert _fields(after) == {}


def test_a_field_given_to_the_line_itself_is_kept(records: list[logging.LogRecord]) -> None:
    @log_context.in_own_context
    def serve() -> None:
        log_context.bind(EVENT)
        logging.getLogger("tests.log_context").info("given", extra={"requestType": "Delete"})

    serve()
    assert _fields(records[0]) == {**FIELDS, "requestType": "Delete"}


@pytest.mark.parametrize(
    ("properties", "name"),
    [
        pytest.param({"ConfigurationSetName": "tenant-a"}, "tenant-a", id="a-name"),
        pytest.param({}, None, id="no-name"),
        pytest.param({"ConfigurationSetName": ["tenant-a"]}, None, id="a-list"),
        pytest.param("not a map", None, id="no-properties"),
        pytest.param(
            {"ConfigurationSetName": "https://cfn.example.com/a?X-Amz-Signature=0123"},
            "https://cfn.example.com/a?REDACTED",
            id="a-url",
        ),
    ],
)
def test_the_set_name_is_a_field_when_the_properties_have_one_as_a_string(properties: object, name: str | None) -> None:
    fields = log_context.fields_of({**EVENT, "ResourceProperties": properties})
    assert fields.get("configurationSetName") == name
    assert {key: value for key, value in fields.items() if key != "configurationSetName"} == {
        key: value for key, value in FIELDS.items() if key != "configurationSetName"
    }


def test_a_malformed_event_gives_the_fields_it_has_as_strings() -> None:
    assert log_context.fields_of({"RequestType": "Create", "RequestId": 7}) == {"requestType": "Create"}


@pytest.mark.parametrize(
    ("variables", "level"),
    [
        pytest.param({}, "INFO", id="none-given"),
        pytest.param({"AWS_LAMBDA_LOG_LEVEL": "WARN"}, "WARN", id="warn"),
        pytest.param({"AWS_LAMBDA_LOG_LEVEL": "debug"}, "DEBUG", id="lower-case"),
        pytest.param({"AWS_LAMBDA_LOG_LEVEL": "TRACE"}, "DEBUG", id="trace"),
        pytest.param({"AWS_LAMBDA_LOG_LEVEL": "FATAL"}, "FATAL", id="fatal"),
        pytest.param({"AWS_LAMBDA_LOG_LEVEL": "LOUD"}, "INFO", id="unknown"),
        pytest.param({"LOG_LEVEL": "DEBUG"}, "INFO", id="the-old-variable"),
    ],
)
def test_crhelper_is_given_the_level_lambda_gives_the_function(variables: dict[str, str], level: str) -> None:
    assert application_log_level(variables) == level
    # crhelper passes it to Logger.setLevel, which takes it.
    logging.getLogger("tests.log_context.level").setLevel(level)
