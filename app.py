#!/usr/bin/env python3
"""Example app: tracking options on an imported configuration set and on one this stack owns."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ses as ses
from constructs import Construct

from cdk_ses_tracking_options import TrackingOptions


class ExampleStack(cdk.Stack):
    def __init__(self, scope: Construct, id_: str, **kwargs: object) -> None:
        super().__init__(scope, id_, **kwargs)  # type: ignore[arg-type]

        # A set created elsewhere (another stack, the console, another team): imported by name.
        shared = ses.ConfigurationSet.from_configuration_set_name(self, "Shared", "marketing")
        TrackingOptions(self, "MarketingTracking", configuration_set=shared, custom_redirect_domain="click.example.com")

        # A set this stack owns, with HTTPS required for open and click tracking.
        owned = ses.ConfigurationSet(self, "Transactional", configuration_set_name="transactional")
        tracking = TrackingOptions(
            self,
            "TransactionalTracking",
            configuration_set=owned,
            custom_redirect_domain="track.example.com",
            https_policy=ses.HttpsPolicy.REQUIRE,
        )
        cdk.CfnOutput(self, "CnameTarget", value=tracking.cname_target)


app = cdk.App()
ExampleStack(app, "SesTrackingOptionsExample")
app.synth()
