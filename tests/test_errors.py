"""SES error codes mapped to reasons: with and without the Exception suffix, short, useful part first."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from cdk_ses_tracking_options.lambda_handler.errors import MAX_REASON, ProviderError
from cdk_ses_tracking_options.lambda_handler.ses import DeadlineExceededError, _mapped


def client_error(code: str, message: str = "message from SES") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "AnyOperation")


@pytest.mark.parametrize(
    ("code", "start"),
    [
        ("ConfigurationSetDoesNotExist", "Configuration set 'marketing' does not exist"),
        ("ConfigurationSetDoesNotExistException", "Configuration set 'marketing' does not exist"),
        ("NotFoundException", "Configuration set 'marketing' does not exist"),
        ("InvalidTrackingOptions", "SES rejected CustomRedirectDomain 'click.example.com'"),
        ("InvalidTrackingOptionsException", "SES rejected CustomRedirectDomain 'click.example.com'"),
        ("BadRequestException", "SES rejected CustomRedirectDomain 'click.example.com'"),
        ("AccessDenied", "SES denied CreateConfigurationSetTrackingOptions on 'marketing'"),
        ("AccessDeniedException", "SES denied CreateConfigurationSetTrackingOptions on 'marketing'"),
        ("Throttling", "SES throttled CreateConfigurationSetTrackingOptions on 'marketing' until the function had"),
        ("ThrottlingException", "SES throttled CreateConfigurationSetTrackingOptions on 'marketing'"),
        ("TooManyRequestsException", "SES throttled CreateConfigurationSetTrackingOptions on 'marketing'"),
        ("InternalFailure", "SES CreateConfigurationSetTrackingOptions failed on 'marketing': InternalFailure"),
    ],
)
def test_codes_with_and_without_suffix_map_to_one_reason(code: str, start: str) -> None:
    error = _mapped(client_error(code), "CreateConfigurationSetTrackingOptions", "marketing", "click.example.com")
    assert str(error).startswith(start)
    assert len(str(error)) <= MAX_REASON


def test_network_failures_and_deadlines_say_to_deploy_again() -> None:
    timeout = ReadTimeoutError(endpoint_url="http://127.0.0.1:1/")
    network = _mapped(timeout, "GetConfigurationSet", "marketing")
    assert (
        str(network)
        == "SES could not be reached for GetConfigurationSet on 'marketing' (ReadTimeoutError); deploy again"
    )
    deadline = _mapped(DeadlineExceededError(), "GetConfigurationSet", "marketing")
    assert str(deadline).startswith("SES did not complete GetConfigurationSet for 'marketing' before the function's")


def test_a_long_reason_keeps_its_head() -> None:
    error = _mapped(client_error("Weird", "x" * 1000), "GetConfigurationSet", "marketing")
    assert str(error).startswith("SES GetConfigurationSet failed on 'marketing': Weird: xxx")
    assert len(str(error)) == MAX_REASON
    assert str(error).endswith("...")
    assert isinstance(error, ProviderError)
