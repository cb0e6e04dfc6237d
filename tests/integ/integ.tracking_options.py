#!/usr/bin/env python3
"""Integration test in CDK's own form: a configuration set with TrackingOptions, asserted through SES v2.

`make integ DOMAIN=<a domain verified in SES in the target region>` deploys it, asserts and destroys it;
`make test` synthesizes it offline and compares it with the committed snapshot beside this file.
The verified domain comes from the context key `verified_domain`; the snapshot uses example.com.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ses as ses
from aws_cdk.integ_tests_alpha import ExpectedResult, IntegTest

from cdk_ses_tracking_options import TrackingOptions

app = cdk.App()
verified_domain = str(app.node.try_get_context("verified_domain") or "example.com")
tracking_domain = f"click.{verified_domain}"
# A literal name, so that the assertion stack reads it without a cross-stack export.
SET_NAME = "cdk-ses-tracking-options-integ"

stack = cdk.Stack(app, "SesTrackingOptionsInteg")
config_set = ses.ConfigurationSet(stack, "ConfigurationSet", configuration_set_name=SET_NAME)
TrackingOptions(
    stack,
    "Tracking",
    configuration_set=config_set,
    custom_redirect_domain=tracking_domain,
    https_policy=ses.HttpsPolicy.REQUIRE_OPEN_ONLY,
)

integ = IntegTest(app, "TrackingOptionsInteg", test_cases=[stack], diff_assets=True)
# SES's TrackingOptions has two fields; both must be exactly what was asked for.
integ.assertions.aws_api_call("SESV2", "getConfigurationSet", {"ConfigurationSetName": SET_NAME}).expect(
    ExpectedResult.object_like(
        {"TrackingOptions": {"CustomRedirectDomain": tracking_domain, "HttpsPolicy": "REQUIRE_OPEN_ONLY"}}
    )
)

app.synth()
